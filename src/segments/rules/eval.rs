//! Evaluating rules over the facts known about one account (and, for template selection, one
//! stakeholder and offer). A rule is compiled once (field names resolved to slots, text
//! lower-cased) and then evaluated per account without allocating.
//!
//! Semantics: a comparison on a field without a value is false (so `xyz != Z` leaves out
//! accounts without an XYZ class; `not xyz = Z` keeps them). Text compares case-insensitively.

use chrono::NaiveDate;
use serde_json::Value as Json;

use super::fields::{FIELDS, index_of};
use super::{Op, Rule, Value};

/// One fact's value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FactValue {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Text(String),
    Date(NaiveDate),
    List(Vec<String>),
}

impl From<Option<String>> for FactValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(FactValue::Null, FactValue::Text)
    }
}

impl From<Option<f64>> for FactValue {
    fn from(v: Option<f64>) -> Self {
        v.map_or(FactValue::Null, FactValue::Num)
    }
}

impl From<Option<NaiveDate>> for FactValue {
    fn from(v: Option<NaiveDate>) -> Self {
        v.map_or(FactValue::Null, FactValue::Date)
    }
}

impl From<bool> for FactValue {
    fn from(v: bool) -> Self {
        FactValue::Bool(v)
    }
}

/// Everything rules can read about one account, by registered field.
#[derive(Debug, Clone)]
pub struct Facts {
    values: Vec<FactValue>,
    /// The account's `attributes` object (`attributes.<key>`).
    pub attributes: serde_json::Map<String, Json>,
    /// Roles of the stakeholders mapped at the account (`has_role`).
    pub roles: Vec<String>,
    /// The day `within_days` counts back from.
    pub today: NaiveDate,
}

impl Facts {
    pub fn new(today: NaiveDate) -> Self {
        Self {
            values: vec![FactValue::Null; FIELDS.len()],
            attributes: serde_json::Map::new(),
            roles: Vec::new(),
            today,
        }
    }

    /// Sets a registered field; unknown names are a programming error and are ignored (a
    /// debug build asserts).
    pub fn set(&mut self, field: &str, value: impl Into<FactValue>) {
        match index_of(field) {
            Some(i) => self.values[i] = value.into(),
            None => debug_assert!(false, "unknown fact {field}"),
        }
    }

    pub fn get(&self, field: &str) -> Option<&FactValue> {
        index_of(field).map(|i| &self.values[i])
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Field(usize),
    Attr(String),
}

/// A value prepared for comparison (text lower-cased once).
#[derive(Debug, Clone)]
enum Lit {
    Bool(bool),
    Num(f64),
    Text(String),
    Date(NaiveDate),
}

impl From<&Value> for Lit {
    fn from(v: &Value) -> Self {
        match v {
            Value::Bool(b) => Lit::Bool(*b),
            Value::Num(n) => Lit::Num(*n),
            Value::Text(s) => Lit::Text(s.chars().flat_map(char::to_lowercase).collect()),
            Value::Date(d) => Lit::Date(*d),
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Cmp { slot: Slot, op: Op, lit: Lit },
    In { slot: Slot, lits: Vec<Lit> },
    Between { slot: Slot, low: Lit, high: Lit },
    Exists { slot: Slot },
    WithinDays { slot: Slot, days: i64 },
    HasRole(String),
}

/// A checked rule ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct Compiled(Node);

fn slot(field: &str) -> Slot {
    match field.strip_prefix("attributes.") {
        Some(key) => Slot::Attr(key.to_string()),
        None => Slot::Field(index_of(field).unwrap_or(usize::MAX)),
    }
}

fn compile(rule: &Rule) -> Node {
    match rule {
        Rule::All(parts) => Node::All(parts.iter().map(compile).collect()),
        Rule::Any(parts) => Node::Any(parts.iter().map(compile).collect()),
        Rule::Not(inner) => Node::Not(Box::new(compile(inner))),
        Rule::Cmp { field, op, value } => Node::Cmp {
            slot: slot(field),
            op: *op,
            lit: value.into(),
        },
        Rule::In { field, values } => Node::In {
            slot: slot(field),
            lits: values.iter().map(Lit::from).collect(),
        },
        Rule::Between { field, low, high } => Node::Between {
            slot: slot(field),
            low: low.into(),
            high: high.into(),
        },
        Rule::Exists { field } => Node::Exists { slot: slot(field) },
        Rule::WithinDays { field, days } => Node::WithinDays {
            slot: slot(field),
            days: *days,
        },
        Rule::HasRole(role) => Node::HasRole(role.clone()),
    }
}

/// A fact as read for one comparison.
enum Fact<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Text(&'a str),
    Date(NaiveDate),
    List(&'a [String]),
}

fn read<'a>(facts: &'a Facts, slot: &Slot) -> Fact<'a> {
    match slot {
        Slot::Field(i) => match facts.values.get(*i) {
            Some(FactValue::Bool(b)) => Fact::Bool(*b),
            Some(FactValue::Num(n)) => Fact::Num(*n),
            Some(FactValue::Text(s)) => Fact::Text(s),
            Some(FactValue::Date(d)) => Fact::Date(*d),
            Some(FactValue::List(l)) => Fact::List(l),
            Some(FactValue::Null) | None => Fact::Null,
        },
        Slot::Attr(key) => match facts.attributes.get(key) {
            Some(Json::Bool(b)) => Fact::Bool(*b),
            Some(Json::Number(n)) => n.as_f64().map_or(Fact::Null, Fact::Num),
            Some(Json::String(s)) => Fact::Text(s),
            _ => Fact::Null,
        },
    }
}

/// Case-insensitive equality against an already lower-cased literal.
fn text_eq(fact: &str, lower: &str) -> bool {
    fact.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

fn order(fact: &Fact, lit: &Lit) -> Option<std::cmp::Ordering> {
    match (fact, lit) {
        (Fact::Num(a), Lit::Num(b)) => a.partial_cmp(b),
        (Fact::Date(a), Lit::Date(b)) => Some(a.cmp(b)),
        (Fact::Text(a), Lit::Text(b)) => {
            Some(a.chars().flat_map(char::to_lowercase).cmp(b.chars()))
        }
        (Fact::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn equals(fact: &Fact, lit: &Lit) -> Option<bool> {
    match (fact, lit) {
        (Fact::Null, _) => None,
        (Fact::Text(a), Lit::Text(b)) => Some(text_eq(a, b)),
        (Fact::List(items), Lit::Text(b)) => Some(items.iter().any(|i| text_eq(i, b))),
        _ => order(fact, lit).map(|o| o.is_eq()),
    }
}

fn eval(node: &Node, facts: &Facts) -> bool {
    match node {
        Node::All(parts) => parts.iter().all(|p| eval(p, facts)),
        Node::Any(parts) => parts.iter().any(|p| eval(p, facts)),
        Node::Not(inner) => !eval(inner, facts),
        Node::HasRole(role) => facts.roles.iter().any(|r| r == role),
        Node::Exists { slot } => match read(facts, slot) {
            Fact::Null => false,
            Fact::Text(s) => !s.trim().is_empty(),
            Fact::List(l) => !l.is_empty(),
            _ => true,
        },
        Node::Cmp { slot, op, lit } => {
            let fact = read(facts, slot);
            match op {
                Op::Eq => equals(&fact, lit) == Some(true),
                Op::Ne => equals(&fact, lit) == Some(false),
                Op::Lt => order(&fact, lit).is_some_and(|o| o.is_lt()),
                Op::Lte => order(&fact, lit).is_some_and(|o| o.is_le()),
                Op::Gt => order(&fact, lit).is_some_and(|o| o.is_gt()),
                Op::Gte => order(&fact, lit).is_some_and(|o| o.is_ge()),
                Op::Contains => match (&fact, lit) {
                    (Fact::List(items), Lit::Text(b)) => items.iter().any(|i| text_eq(i, b)),
                    (Fact::Text(a), Lit::Text(b)) => a
                        .chars()
                        .flat_map(char::to_lowercase)
                        .collect::<String>()
                        .contains(b.as_str()),
                    _ => false,
                },
            }
        }
        Node::In { slot, lits } => {
            let fact = read(facts, slot);
            lits.iter().any(|l| equals(&fact, l) == Some(true))
        }
        Node::Between { slot, low, high } => {
            let fact = read(facts, slot);
            order(&fact, low).is_some_and(|o| o.is_ge())
                && order(&fact, high).is_some_and(|o| o.is_le())
        }
        Node::WithinDays { slot, days } => match read(facts, slot) {
            Fact::Date(d) => d <= facts.today && (facts.today - d).num_days() <= *days,
            _ => false,
        },
    }
}

impl Compiled {
    pub fn new(rule: &Rule) -> Self {
        Compiled(compile(rule))
    }

    pub fn matches(&self, facts: &Facts) -> bool {
        eval(&self.0, facts)
    }
}

impl Rule {
    /// Evaluates once (compile with [`Compiled::new`] to evaluate many times).
    pub fn matches(&self, facts: &Facts) -> bool {
        Compiled::new(self).matches(facts)
    }
}
