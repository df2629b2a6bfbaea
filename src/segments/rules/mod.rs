//! The rule language used everywhere a condition is written: segments, template `when`
//! conditions and campaign conditions. The canonical form is a JSON tree (`all` / `any` / `not`,
//! comparisons, `has_role`); a compact text form (`abc in (A, B) and xyz != Z`) parses to the
//! same tree and prints back from it. Every rule is checked against the field registry
//! ([`fields`]) before it is stored or evaluated.

pub mod eval;
pub mod fields;
mod json;
pub mod schema;
mod text;

use chrono::{Datelike, NaiveDate};
use fields::{FieldType, Scope};

pub use eval::{Compiled, FactValue, Facts};

/// A condition over one account (and, for template selection, one stakeholder and offer).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Every part holds (`true` when empty).
    All(Vec<Rule>),
    /// At least one part holds (`false` when empty).
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Cmp {
        field: String,
        op: Op,
        value: Value,
    },
    In {
        field: String,
        values: Vec<Value>,
    },
    /// Inclusive on both ends.
    Between {
        field: String,
        low: Value,
        high: Value,
    },
    /// The field has a value (a list or text that is not empty).
    Exists {
        field: String,
    },
    /// A date no more than `days` days before today (and not after it).
    WithinDays {
        field: String,
        days: i64,
    },
    /// A stakeholder with this role is mapped at the account.
    HasRole(String),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// A list holds the value, or a text holds it as a substring (case-insensitive).
    Contains,
}

impl Op {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Contains => "contains",
        }
    }

    /// The text form.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Contains => "contains",
        }
    }

    fn from_name(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "contains" => Op::Contains,
            _ => return None,
        })
    }
}

/// A literal in a rule. Values are typed by their field when the rule is checked: a date
/// field's `"2026-01-31"` becomes a [`Value::Date`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Num(f64),
    Text(String),
    Date(NaiveDate),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Num(_) => "a number",
            Value::Text(_) => "text",
            Value::Date(_) => "a date",
        }
    }
}

/// Where a problem is: a position in the text form, or a JSON pointer into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// 1-based column (in characters) of the text form, and the byte offset.
    Text { column: usize, offset: usize },
    /// JSON pointer, e.g. `/all/1/value`.
    Json(String),
}

/// A rule that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.at())]
pub struct RuleError {
    pub location: Location,
    pub message: String,
}

/// Maps a rule error to the input field it came from: a JSON pointer below `json_field` for the
/// JSON form, or `text_field` with the column in the message for the text form. Shared by every
/// part that takes a rule in either form (segment rules, template `when` conditions).
pub fn rule_problem(e: RuleError, json_field: &str, text_field: &str) -> (String, String) {
    match e.location {
        Location::Json(p) => (format!("{json_field}{p}"), e.message),
        Location::Text { column, .. } => (
            text_field.to_string(),
            format!("column {column}: {}", e.message),
        ),
    }
}

impl RuleError {
    fn at(&self) -> String {
        match &self.location {
            Location::Text { column, .. } => format!("column {column}"),
            Location::Json(p) if p.is_empty() => "at the top".into(),
            Location::Json(p) => format!("at {p}"),
        }
    }
}

/// The deepest a rule's tree may be ([`Rule::depth`] of the canonical form, the same for both
/// forms). Deeper rules are refused: they would exhaust a parser's stack or the JSON reader's
/// depth limit when read back. The parsers stop early at twice this, whatever the input.
pub const MAX_DEPTH: usize = 32;

/// Refuses a (normalised) rule deeper than [`MAX_DEPTH`].
fn check_depth(rule: Rule, location: Location) -> Result<Rule, RuleError> {
    if rule.depth() > MAX_DEPTH {
        return Err(RuleError {
            location,
            message: format!("the rule nests deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(rule)
}

/// The longest text form accepted, in bytes. The JSON form is held to the same: its text
/// values may add up to this many bytes.
pub const MAX_TEXT: usize = 10_000;

/// The most parts a rule may have in either form: conditions, groups (`all`, `any`, `not`) and
/// the values listed after `in`. Every rule is evaluated once per account, so a rule with a
/// million listed values would make each recomputation crawl.
pub const MAX_PARTS: usize = 1_000;

/// The message for a rule with more than [`MAX_PARTS`] parts.
fn too_many_parts() -> String {
    format!("the rule has more than {MAX_PARTS} parts (conditions, groups and listed values)")
}

/// Refuses a rule with more than [`MAX_PARTS`] parts.
fn check_parts(rule: Rule, location: Location) -> Result<Rule, RuleError> {
    if rule.parts() > MAX_PARTS {
        return Err(RuleError {
            location,
            message: too_many_parts(),
        });
    }
    Ok(rule)
}

/// Every field scope: what template selection may read.
pub const ALL_SCOPES: &[Scope] = &[
    Scope::Account,
    Scope::Dossier,
    Scope::Analytics,
    Scope::Stakeholder,
    Scope::Offer,
];

/// What a rule over accounts alone may read (segments): no stakeholder or offer.
pub const ACCOUNT_SCOPES: &[Scope] = &[Scope::Account, Scope::Dossier, Scope::Analytics];

impl Rule {
    /// Parses and checks the text form (every field allowed).
    pub fn parse_text(src: &str) -> Result<Rule, RuleError> {
        text::parse(src, ALL_SCOPES)
    }

    /// Parses and checks the text form, allowing fields of `scopes` only.
    pub fn parse_text_for(src: &str, scopes: &[Scope]) -> Result<Rule, RuleError> {
        text::parse(src, scopes)
    }

    /// Parses and checks the JSON form (every field allowed).
    pub fn from_json(v: &serde_json::Value) -> Result<Rule, RuleError> {
        json::parse(v, ALL_SCOPES)
    }

    /// Parses and checks the JSON form, allowing fields of `scopes` only.
    pub fn from_json_for(v: &serde_json::Value, scopes: &[Scope]) -> Result<Rule, RuleError> {
        json::parse(v, scopes)
    }

    /// The canonical JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        json::print(self)
    }

    /// The text form; parsing it gives this rule back.
    pub fn to_text(&self) -> String {
        text::print(self)
    }

    /// Levels of the tree: a condition is 1, a group or `not` one more than its deepest part.
    pub fn depth(&self) -> usize {
        match self {
            Rule::All(parts) | Rule::Any(parts) => {
                1 + parts.iter().map(Rule::depth).max().unwrap_or(0)
            }
            Rule::Not(inner) => 1 + inner.depth(),
            _ => 1,
        }
    }

    /// Conditions, groups and listed values: what [`MAX_PARTS`] bounds.
    pub fn parts(&self) -> usize {
        match self {
            Rule::All(parts) | Rule::Any(parts) => 1 + parts.iter().map(Rule::parts).sum::<usize>(),
            Rule::Not(inner) => 1 + inner.parts(),
            Rule::In { values, .. } => 1 + values.len(),
            _ => 1,
        }
    }

    /// The rule that always holds.
    pub fn always() -> Rule {
        Rule::All(Vec::new())
    }

    /// How many conditions the rule has: template selection prefers the most specific.
    pub fn conditions(&self) -> usize {
        match self {
            Rule::All(parts) | Rule::Any(parts) => parts.iter().map(Rule::conditions).sum(),
            Rule::Not(inner) => inner.conditions(),
            _ => 1,
        }
    }

    /// Field names the rule reads (with `has_role` as `stakeholders`).
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit_fields(&mut out);
        out
    }

    fn visit_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Rule::All(parts) | Rule::Any(parts) => parts.iter().for_each(|p| p.visit_fields(out)),
            Rule::Not(inner) => inner.visit_fields(out),
            Rule::Cmp { field, .. }
            | Rule::In { field, .. }
            | Rule::Between { field, .. }
            | Rule::Exists { field }
            | Rule::WithinDays { field, .. } => out.push(field),
            Rule::HasRole(_) => out.push("stakeholders"),
        }
    }

    /// Flattens nested `all`/`any` of the same kind and unwraps single-part groups: the
    /// canonical shape, which the text form prints and parses back to.
    pub fn normalize(self) -> Rule {
        match self {
            Rule::All(parts) => group(parts, true),
            Rule::Any(parts) => group(parts, false),
            Rule::Not(inner) => Rule::Not(Box::new(inner.normalize())),
            leaf => leaf,
        }
    }
}

fn group(parts: Vec<Rule>, all: bool) -> Rule {
    let mut flat = Vec::with_capacity(parts.len());
    for p in parts.into_iter().map(Rule::normalize) {
        match p {
            Rule::All(inner) if all => flat.extend(inner),
            Rule::Any(inner) if !all => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        return flat.pop().unwrap_or_else(Rule::always);
    }
    if all {
        Rule::All(flat)
    } else {
        Rule::Any(flat)
    }
}

/// Checks one comparison against the registry and types its values; `loc(part)` locates a
/// part of the comparison (`"field"`, `"value"`, `"value/1"`…) for error messages.
fn check_leaf(
    rule: Rule,
    loc: &dyn Fn(&str) -> Location,
    scopes: &[Scope],
) -> Result<Rule, RuleError> {
    let err = |part: &str, message: String| RuleError {
        location: loc(part),
        message,
    };
    let field_type = |field: &str| {
        let ty = fields::type_of(field).ok_or_else(|| {
            let hint = fields::closest(field)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            err(
                "field",
                format!("unknown field `{field}`{hint}; fields are listed in the README"),
            )
        })?;
        let scope = fields::index_of(field).map_or(Scope::Account, |i| fields::FIELDS[i].scope);
        if !scopes.contains(&scope) {
            let hint = if field == "stakeholder.role" {
                "; use has_role(…) for a role mapped at the account"
            } else {
                ""
            };
            return Err(err(
                "field",
                format!(
                    "`{field}` is only known when content is chosen for a stakeholder or an \
                     offer, not in a rule over accounts{hint}"
                ),
            ));
        }
        Ok(ty)
    };
    match rule {
        Rule::Cmp { field, op, value } => {
            let ty = field_type(&field)?;
            let allowed = match op {
                Op::Eq | Op::Ne => !matches!(ty, FieldType::List(_)),
                Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
                    matches!(ty, FieldType::Number | FieldType::Date | FieldType::Any)
                }
                Op::Contains => matches!(ty, FieldType::List(_) | FieldType::Text),
            };
            if !allowed {
                let hint = match (op, ty) {
                    (Op::Eq | Op::Ne, FieldType::List(_)) => "; use `contains` or `in`",
                    _ => "",
                };
                return Err(err(
                    "op",
                    format!(
                        "`{}` does not apply to `{field}` ({}){hint}",
                        op.symbol(),
                        ty.describe()
                    ),
                ));
            }
            let value = typed(&field, ty, value).map_err(|m| err("value", m))?;
            Ok(Rule::Cmp { field, op, value })
        }
        Rule::In { field, values } => {
            let ty = field_type(&field)?;
            if matches!(ty, FieldType::Bool | FieldType::Date) {
                return Err(err(
                    "op",
                    format!("`in` does not apply to `{field}` ({})", ty.describe()),
                ));
            }
            if values.is_empty() {
                return Err(err("value", "`in` needs at least one value".into()));
            }
            let values = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| typed(&field, ty, v).map_err(|m| err(&format!("value/{i}"), m)))
                .collect::<Result<_, _>>()?;
            Ok(Rule::In { field, values })
        }
        Rule::Between { field, low, high } => {
            let ty = field_type(&field)?;
            if !matches!(ty, FieldType::Number | FieldType::Date) {
                return Err(err(
                    "op",
                    format!("`between` does not apply to `{field}` ({})", ty.describe()),
                ));
            }
            let low = typed(&field, ty, low).map_err(|m| err("value/0", m))?;
            let high = typed(&field, ty, high).map_err(|m| err("value/1", m))?;
            let ordered = match (&low, &high) {
                (Value::Num(a), Value::Num(b)) => a <= b,
                (Value::Date(a), Value::Date(b)) => a <= b,
                _ => true,
            };
            if !ordered {
                return Err(err(
                    "value",
                    "`between`: the low end is above the high end".into(),
                ));
            }
            Ok(Rule::Between { field, low, high })
        }
        Rule::Exists { field } => {
            field_type(&field)?;
            Ok(Rule::Exists { field })
        }
        Rule::WithinDays { field, days } => {
            let ty = field_type(&field)?;
            if ty != FieldType::Date {
                return Err(err(
                    "op",
                    format!(
                        "`within_days` applies to dates; `{field}` is {}",
                        ty.describe()
                    ),
                ));
            }
            if !(0..=36_500).contains(&days) {
                return Err(err(
                    "value",
                    "`within_days` needs a whole number of days from 0 to 36500".into(),
                ));
            }
            Ok(Rule::WithinDays { field, days })
        }
        Rule::HasRole(role) => {
            if !fields::ROLES.contains(&role.as_str()) {
                return Err(err(
                    "value",
                    format!(
                        "`{role}` is not a role; roles are {}",
                        fields::ROLES.join(", ")
                    ),
                ));
            }
            Ok(Rule::HasRole(role))
        }
        group => Ok(group),
    }
}

/// `value` as the type `field` holds, or why it cannot be.
fn typed(field: &str, ty: FieldType, value: Value) -> Result<Value, String> {
    let mismatch = |v: &Value| format!("`{field}` is {}, not {}", ty.describe(), v.kind());
    match (ty, value) {
        (FieldType::Number, Value::Num(n)) if n.is_finite() => Ok(Value::Num(n)),
        (FieldType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (FieldType::Text | FieldType::List(&[]), Value::Text(s)) => Ok(Value::Text(s)),
        (FieldType::Enum(words) | FieldType::List(words), Value::Text(s)) => {
            if words.contains(&s.as_str()) {
                Ok(Value::Text(s))
            } else {
                Err(format!(
                    "`{s}` is not a value of `{field}` ({})",
                    words.join(", ")
                ))
            }
        }
        (FieldType::Date, Value::Date(d)) if (1..=9999).contains(&d.year()) => Ok(Value::Date(d)),
        (FieldType::Date, Value::Text(s)) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&d.year()) && s.len() == 10)
            .map(Value::Date)
            .ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD, years 1 to 9999)")),
        (FieldType::Any, v @ (Value::Num(_) | Value::Bool(_) | Value::Text(_))) => Ok(v),
        (FieldType::Any, Value::Date(d)) if (1..=9999).contains(&d.year()) => {
            Ok(Value::Text(d.to_string()))
        }
        (_, v) => Err(mismatch(&v)),
    }
}

#[cfg(test)]
mod tests;
