//! The rule language as the OpenAPI document states it, generated from the field registry: a
//! JSON Schema of the tree ([`Rule`] over every field, [`AccountRule`] over the fields of a rule
//! over accounts) and a pattern of the text form ([`text_pattern`]).
//!
//! Both describe a bounded part of the language, so that every rule they admit is accepted:
//! the parser's limits (32 levels, 1,000 parts, 10,000 bytes of text) are global and JSON
//! Schema cannot count them, and `between` needs its low end first. The schema admits a
//! condition, or a group (`all`, `any`, `not`) of up to [`GROUP`] conditions or groups of
//! conditions; lists after `in` hold up to [`LISTED`] values; text values up to [`TEXT`]
//! characters; `between` a low end that is at most 0 (or a date in the 1900s) and a high end
//! that is at least 0 (or a date in the 2000s). The text form admits up to five conditions
//! joined by `and` or `or`, without parentheses or `not`. The server accepts the whole language
//! (see `POST /rules/parse` and the README).

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOf, Array, ArrayItems, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::fields::{FIELDS, FieldType, ROLES, Scope};
use super::{ACCOUNT_SCOPES, ALL_SCOPES};
use crate::domain::schema::BUSINESS_DATE;

/// Most parts of a group the schema admits (the parser takes up to 1,000 parts in all).
pub const GROUP: usize = 5;
/// Most values after `in` the schema admits.
pub const LISTED: usize = 5;
/// Longest text value the schema admits, in characters (a group of groups of lists holds at
/// most 125 of them: 10,000 bytes).
pub const TEXT: usize = 20;

/// Largest number the schema admits as a value.
const NUMBER: f64 = 1e15;

/// Keys of `attributes.<key>` the schema admits.
const ATTRIBUTE_FIELD: &str = r"^attributes\.[A-Za-z_][A-Za-z0-9_]{0,15}$";

/// A rule over every field (template `when` conditions, `POST /rules/parse`).
pub struct Rule;

/// A rule over accounts (segments): no stakeholder or offer fields.
pub struct AccountRule;

fn doc(scopes: &[Scope]) -> String {
    let over = if scopes == ACCOUNT_SCOPES {
        "a rule over accounts (no `stakeholder.*` or `offer.*` fields)"
    } else {
        "a rule over every field"
    };
    format!(
        "The canonical JSON tree of {over}: a comparison `{{\"field\", \"op\", \"value\"}}`, \
         `{{\"has_role\": …}}`, or a group `{{\"all\": […]}}`, `{{\"any\": […]}}`, \
         `{{\"not\": …}}`. The schema admits two levels of groups of up to {GROUP} parts, \
         lists of up to {LISTED} values and text values of up to {TEXT} characters; the \
         server takes rules up to 32 levels deep, 1,000 parts and 10,000 bytes of text values."
    )
}

fn condition_name(scopes: &[Scope]) -> &'static str {
    if scopes == ACCOUNT_SCOPES {
        "AccountRuleCondition"
    } else {
        "RuleCondition"
    }
}

impl PartialSchema for Rule {
    fn schema() -> RefOr<Schema> {
        tree(ALL_SCOPES)
    }
}

impl ToSchema for Rule {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((condition_name(ALL_SCOPES).into(), condition(ALL_SCOPES)));
    }
}

impl PartialSchema for AccountRule {
    fn schema() -> RefOr<Schema> {
        tree(ACCOUNT_SCOPES)
    }
}

impl ToSchema for AccountRule {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            condition_name(ACCOUNT_SCOPES).into(),
            condition(ACCOUNT_SCOPES),
        ));
    }
}

fn any_of(items: Vec<RefOr<Schema>>) -> RefOr<Schema> {
    let mut any = AnyOf::new();
    any.items = items;
    RefOr::T(Schema::AnyOf(any))
}

/// `{key: value}` and nothing else.
fn single(key: &str, value: RefOr<Schema>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(key, value)
        .required(key)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

fn array(items: RefOr<Schema>, min: usize, max: usize) -> RefOr<Schema> {
    let mut a = Array::new(items);
    a.min_items = Some(min);
    a.max_items = Some(max);
    RefOr::T(Schema::Array(a))
}

/// A condition, or a group of `parts`.
fn level(scopes: &[Scope], parts: RefOr<Schema>) -> RefOr<Schema> {
    let leaf: RefOr<Schema> = Ref::from_schema_name(condition_name(scopes)).into();
    any_of(vec![
        leaf,
        single("all", array(parts.clone(), 0, GROUP)),
        single("any", array(parts.clone(), 0, GROUP)),
        single("not", parts),
    ])
}

fn tree(scopes: &[Scope]) -> RefOr<Schema> {
    let leaf: RefOr<Schema> = Ref::from_schema_name(condition_name(scopes)).into();
    let inner = level(scopes, leaf);
    let RefOr::T(Schema::AnyOf(mut top)) = level(scopes, inner) else {
        return RefOr::T(Schema::default());
    };
    top.description = Some(doc(scopes));
    top.examples = vec![serde_json::json!({"all": [
        {"field": "abc", "op": "in", "value": ["A", "B"]},
        {"field": "lost", "op": "eq", "value": false},
    ]})];
    RefOr::T(Schema::AnyOf(top))
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn words(words: &[&str]) -> RefOr<Schema> {
    string()
        .enum_values(Some(words.iter().map(|w| w.to_string())))
        .into()
}

fn text() -> RefOr<Schema> {
    string().max_length(Some(TEXT)).into()
}

fn number() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(-NUMBER))
        .maximum(Some(NUMBER))
}

fn date(pattern: &str) -> RefOr<Schema> {
    string().pattern(Some(pattern)).into()
}

/// Text, a number or a boolean (`attributes.*`).
fn scalar() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Number,
            Type::Boolean,
        ]))
        .max_length(Some(TEXT))
        .minimum(Some(-NUMBER))
        .maximum(Some(NUMBER))
        .into()
}

/// `[low, high]`.
fn pair(low: RefOr<Schema>, high: RefOr<Schema>) -> RefOr<Schema> {
    let as_schema = |s: RefOr<Schema>| match s {
        RefOr::T(s) => s,
        RefOr::Ref(_) => Schema::default(),
    };
    let mut a = Array::new(ObjectBuilder::new());
    a.items = ArrayItems::False;
    a.prefix_items = vec![as_schema(low), as_schema(high)];
    a.min_items = Some(2);
    RefOr::T(Schema::Array(a))
}

/// `{"field": <field>, "op": <one of ops>, "value": <value>}`.
fn comparison(field: RefOr<Schema>, ops: &[&str], value: Option<RefOr<Schema>>) -> RefOr<Schema> {
    let mut o = ObjectBuilder::new()
        .property("field", field)
        .required("field")
        .property("op", words(ops))
        .required("op")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    if let Some(v) = value {
        o = o.property("value", v).required("value");
    }
    o.into()
}

const ORDER: &[&str] = &["eq", "ne", "lt", "lte", "gt", "gte"];
const EQUALITY: &[&str] = &["eq", "ne"];

/// The comparisons of fields of `ty`, named by `field`.
fn comparisons(field: RefOr<Schema>, ty: FieldType) -> Vec<RefOr<Schema>> {
    let c = |ops: &[&str], value: Option<RefOr<Schema>>| comparison(field.clone(), ops, value);
    let listed = |item: RefOr<Schema>| Some(array(item, 1, LISTED));
    let date_value = || date(BUSINESS_DATE);
    match ty {
        FieldType::Text => vec![
            c(&["eq", "ne", "contains"], Some(text())),
            c(&["in"], listed(text())),
        ],
        FieldType::Number => vec![
            c(ORDER, Some(number().into())),
            c(&["in"], listed(number().into())),
            c(
                &["between"],
                Some(pair(
                    number().maximum(Some(0)).into(),
                    number().minimum(Some(0)).into(),
                )),
            ),
        ],
        FieldType::Bool => vec![c(
            EQUALITY,
            Some(ObjectBuilder::new().schema_type(Type::Boolean).into()),
        )],
        FieldType::Date => vec![
            c(ORDER, Some(date_value())),
            c(&["between"], Some(pair(date(DATE_1900S), date(DATE_2000S)))),
            c(
                &["within_days"],
                Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .maximum(Some(36_500))
                        .into(),
                ),
            ),
        ],
        FieldType::Enum(w) => vec![c(EQUALITY, Some(words(w))), c(&["in"], listed(words(w)))],
        FieldType::List(w) => {
            let item = if w.is_empty() { text() } else { words(w) };
            vec![
                c(&["contains"], Some(item.clone())),
                c(&["in"], listed(item)),
            ]
        }
        FieldType::Any => vec![c(ORDER, Some(scalar())), c(&["in"], listed(scalar()))],
    }
}

/// A date in the 1900s (the low end of `between`).
const DATE_1900S: &str = r"^19[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$";
/// A date in the 2000s (the high end of `between`).
const DATE_2000S: &str = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$";

/// The fixed patterns of the rule schemas (the text patterns come from [`text_pattern`]).
#[cfg(test)]
pub(crate) const PATTERNS: &[&str] = &[ATTRIBUTE_FIELD, DATE_1900S, DATE_2000S];

/// The fields of `scopes`, in registry order.
fn fields_of(scopes: &[Scope]) -> impl Iterator<Item = &'static super::fields::FieldDef> + '_ {
    FIELDS.iter().filter(move |f| scopes.contains(&f.scope))
}

/// Every comparison over the fields of `scopes` and `has_role`.
fn condition(scopes: &[Scope]) -> RefOr<Schema> {
    let names = |pick: &dyn Fn(FieldType) -> bool| -> Vec<&'static str> {
        fields_of(scopes)
            .filter(|f| pick(f.ty))
            .map(|f| f.name)
            .collect()
    };
    let mut items = vec![single("has_role", words(ROLES))];
    // Fields of the same plain type share their comparisons.
    for ty in [
        FieldType::Text,
        FieldType::Number,
        FieldType::Bool,
        FieldType::Date,
    ] {
        let same = names(&|t| t == ty);
        if !same.is_empty() {
            items.extend(comparisons(words(&same), ty));
        }
    }
    // Enums and lists each have their own words.
    for f in fields_of(scopes) {
        if matches!(f.ty, FieldType::Enum(_) | FieldType::List(_)) {
            items.extend(comparisons(words(&[f.name]), f.ty));
        }
    }
    let attribute: RefOr<Schema> = string().pattern(Some(ATTRIBUTE_FIELD)).into();
    items.extend(comparisons(attribute.clone(), FieldType::Any));
    let all: Vec<&str> = fields_of(scopes).map(|f| f.name).collect();
    items.push(comparison(words(&all), &["exists"], None));
    items.push(comparison(attribute, &["exists"], None));
    let RefOr::T(Schema::AnyOf(mut any)) = any_of(items) else {
        return RefOr::T(Schema::default());
    };
    any.description = Some(format!(
        "One comparison of {}, typed by its field (`GET /rules/fields` lists them), or \
         `{{\"has_role\": …}}`.",
        if scopes == ACCOUNT_SCOPES {
            "a rule over accounts"
        } else {
            "a rule"
        }
    ));
    RefOr::T(Schema::AnyOf(any))
}

/// `(a|b|c)`, dots escaped.
fn alternation<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.as_ref().replace('.', r"\."))
        .collect();
    format!("({})", names.join("|"))
}

/// `("a"|"b")`: quoted words.
fn quoted(words: &[&str]) -> String {
    alternation(words.iter().map(|w| format!("\"{w}\"")))
}

/// A pattern of the text form over the fields of `scopes`: up to five conditions joined by
/// `and` or `or` (see the module documentation for what it leaves out).
pub fn text_pattern(scopes: &[Scope]) -> String {
    let text = format!("\"[A-Za-z0-9 ]{{0,{TEXT}}}\"");
    let number = "-?[0-9]{1,6}";
    let day = "(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";
    let date = format!("(19|20)[0-9]{{2}}-{day}");
    let listed = |v: &str| format!(r"in \({v}(, {v}){{0,{}}}\)", LISTED - 1);
    let order = "(=|!=|<|<=|>|>=)";
    let names = |pick: &dyn Fn(FieldType) -> bool| {
        alternation(fields_of(scopes).filter(|f| pick(f.ty)).map(|f| f.name))
    };
    let mut conditions = vec![format!(r"has_role\({}\)", quoted(ROLES))];
    let texts = names(&|t| t == FieldType::Text);
    conditions.push(format!("{texts} (=|!=|contains) {text}"));
    conditions.push(format!("{texts} {}", listed(&text)));
    let numbers = names(&|t| t == FieldType::Number);
    conditions.push(format!("{numbers} {order} {number}"));
    conditions.push(format!("{numbers} {}", listed(number)));
    conditions.push(format!(
        "{numbers} between (-[0-9]{{1,6}}|0) and [0-9]{{1,6}}"
    ));
    conditions.push(format!(
        "{} (=|!=) (true|false)",
        names(&|t| t == FieldType::Bool)
    ));
    let dates = names(&|t| t == FieldType::Date);
    conditions.push(format!("{dates} {order} {date}"));
    conditions.push(format!(
        "{dates} between 19[0-9]{{2}}-{day} and 20[0-9]{{2}}-{day}"
    ));
    conditions.push(format!("{dates} within_days [0-9]{{1,4}}"));
    for f in fields_of(scopes) {
        let name = f.name.replace('.', r"\.");
        match f.ty {
            FieldType::Enum(w) => {
                let v = quoted(w);
                conditions.push(format!("{name} (=|!=) {v}"));
                conditions.push(format!("{name} {}", listed(&v)));
            }
            FieldType::List(w) => {
                let v = if w.is_empty() {
                    text.clone()
                } else {
                    quoted(w)
                };
                conditions.push(format!("{name} contains {v}"));
                conditions.push(format!("{name} {}", listed(&v)));
            }
            _ => {}
        }
    }
    let attribute = r"attributes\.[A-Za-z_][A-Za-z0-9_]{0,15}";
    let scalar = format!("({text}|{number}|true|false)");
    conditions.push(format!("{attribute} {order} {scalar}"));
    conditions.push(format!("{attribute} {}", listed(&scalar)));
    conditions.push(format!(
        "({}|{attribute}) exists",
        alternation(fields_of(scopes).map(|f| f.name))
    ));
    let one = format!("({})", conditions.join("|"));
    format!("^{one}( (and|or) {one}){{0,4}}$")
}

/// The text form of a rule over every field.
pub struct RuleText;

/// The text form of a rule over accounts.
pub struct AccountRuleText;

impl PartialSchema for RuleText {
    fn schema() -> RefOr<Schema> {
        text_schema(ALL_SCOPES)
    }
}

impl ToSchema for RuleText {}

impl PartialSchema for AccountRuleText {
    fn schema() -> RefOr<Schema> {
        text_schema(ACCOUNT_SCOPES)
    }
}

impl ToSchema for AccountRuleText {}

/// The schema of the text form over `scopes`.
fn text_schema(scopes: &[Scope]) -> RefOr<Schema> {
    string()
        .description(Some(text_doc(scopes)))
        .pattern(Some(text_pattern(scopes)))
        .into()
}

/// The description of a `rule_text` field over `scopes`.
fn text_doc(scopes: &[Scope]) -> String {
    let over = if scopes == ACCOUNT_SCOPES {
        "a rule over accounts"
    } else {
        "a rule"
    };
    format!(
        "The text form of {over}, e.g. `abc in (\"A\", \"B\") and lost = false`. The pattern \
         admits up to five conditions joined by `and`/`or`, with quoted text values; the server takes \
         the whole language (parentheses, `not`, bare words, `true`/`false`) up to 10,000 \
         bytes."
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use utoipa::openapi::schema::Object;

    use super::*;
    use crate::domain::schema::matching;

    /// Random instances of `schema` (the subset of JSON Schema the rule schemas use), with
    /// `$ref`s resolved against `components`.
    /// What [`sample`] draws from: a random source, and proptest for strings of a pattern.
    struct Gen<'a> {
        components: &'a [(String, RefOr<Schema>)],
        rng: rand_chacha::ChaCha8Rng,
        runner: TestRunner,
    }

    fn sample(schema: &RefOr<Schema>, g: &mut Gen) -> serde_json::Value {
        use rand::Rng;
        let schema = match schema {
            RefOr::Ref(r) => {
                let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                let found = g.components.iter().find(|(n, _)| n == name);
                let found = found.expect("a known component").1.clone();
                return sample(&found, g);
            }
            RefOr::T(s) => s,
        };
        match schema {
            Schema::AnyOf(any) => {
                let i = g.rng.random_range(0..any.items.len());
                sample(&any.items[i], g)
            }
            Schema::Array(a) if !a.prefix_items.is_empty() => a
                .prefix_items
                .iter()
                .map(|s| sample(&RefOr::T(s.clone()), g))
                .collect(),
            Schema::Array(a) => {
                let ArrayItems::RefOrSchema(item) = &a.items else {
                    panic!("items")
                };
                let min = a.min_items.unwrap_or(0);
                let n = g.rng.random_range(min..=a.max_items.unwrap_or(min + 3));
                (0..n).map(|_| sample(item, g)).collect()
            }
            Schema::Object(o) => object(o, g),
            _ => panic!("unexpected schema"),
        }
    }

    fn object(o: &Object, g: &mut Gen) -> serde_json::Value {
        use rand::Rng;
        if let Some(values) = &o.enum_values {
            let i = g.rng.random_range(0..values.len());
            return values[i].clone();
        }
        let types: Vec<Type> = match &o.schema_type {
            SchemaType::Type(t) => vec![t.clone()],
            SchemaType::Array(ts) => ts.clone(),
            SchemaType::AnyValue => panic!("untyped"),
        };
        let ty = types[g.rng.random_range(0..types.len())].clone();
        let num = |n: &Option<utoipa::Number>, default: f64| match n {
            Some(utoipa::Number::Int(i)) => *i as f64,
            Some(utoipa::Number::UInt(u)) => *u as f64,
            Some(utoipa::Number::Float(f)) => *f,
            None => default,
        };
        match ty {
            Type::Object => {
                let mut out = serde_json::Map::new();
                for (k, v) in &o.properties {
                    if o.required.contains(k) || g.rng.random_bool(0.5) {
                        out.insert(k.clone(), sample(v, g));
                    }
                }
                serde_json::Value::Object(out)
            }
            Type::String => {
                let pattern = o.pattern.clone().unwrap_or_else(|| "^.*$".into());
                let max = o.max_length.unwrap_or(usize::MAX);
                let strategy =
                    matching(&pattern).prop_filter("length", move |s| s.chars().count() <= max);
                let tree = strategy.new_tree(&mut g.runner).expect("a string");
                serde_json::Value::String(tree.current())
            }
            Type::Integer => {
                let (lo, hi) = (num(&o.minimum, -1e6) as i64, num(&o.maximum, 1e6) as i64);
                serde_json::json!(g.rng.random_range(lo..=hi))
            }
            Type::Number => {
                let (lo, hi) = (num(&o.minimum, -1e6), num(&o.maximum, 1e6));
                let v = if g.rng.random_bool(0.5) {
                    g.rng.random_range(lo..=hi)
                } else {
                    g.rng.random_range(lo.max(-1e6)..=hi.min(1e6)).round()
                };
                serde_json::json!(v)
            }
            Type::Boolean => serde_json::json!(g.rng.random_bool(0.5)),
            _ => panic!("unexpected type"),
        }
    }

    fn instances_parse<T: ToSchema>(scopes: &[Scope]) {
        use rand::SeedableRng;
        let mut components = Vec::new();
        T::schemas(&mut components);
        let schema = T::schema();
        let mut g = Gen {
            components: &components,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(7),
            runner: TestRunner::deterministic(),
        };
        for _ in 0..3000 {
            let v = sample(&schema, &mut g);
            assert!(
                super::super::json::parse(&v, scopes).is_ok(),
                "{v} {:?}",
                super::super::json::parse(&v, scopes)
            );
        }
    }

    #[test]
    fn trees_the_schema_admits_are_accepted() {
        instances_parse::<Rule>(ALL_SCOPES);
        instances_parse::<AccountRule>(ACCOUNT_SCOPES);
    }

    #[test]
    fn the_text_pattern_is_a_rust_regex_too() {
        for scopes in [ALL_SCOPES, ACCOUNT_SCOPES] {
            let p = text_pattern(scopes);
            assert!(regex::Regex::new(&p).is_ok());
        }
        let account = regex::Regex::new(&text_pattern(ACCOUNT_SCOPES)).expect("pattern");
        assert!(account.is_match("abc in (\"A\", \"B\") and lost = false"));
        assert!(!account.is_match("stakeholder.role = \"champion\""));
    }

    proptest! {
        #[test]
        fn texts_the_pattern_admits_are_accepted(
            all in matching(&text_pattern(ALL_SCOPES)),
            account in matching(&text_pattern(ACCOUNT_SCOPES)),
        ) {
            prop_assert!(super::super::Rule::parse_text(&all).is_ok(), "{:?}", all);
            prop_assert!(
                super::super::Rule::parse_text_for(&account, ACCOUNT_SCOPES).is_ok(),
                "{:?}",
                account
            );
        }
    }
}
