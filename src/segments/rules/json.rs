//! The canonical JSON form:
//! `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`, `{"has_role": "decision_maker"}` and
//! comparisons `{"field": "abc", "op": "in", "value": ["A", "B"]}` (`op` one of
//! eq ne lt lte gt gte in contains exists between within_days; `exists` has no value, `between`
//! takes `[low, high]`, `within_days` a number of days).

use serde_json::{Map, Value as Json, json};

use super::fields::Scope;
use super::{Location, MAX_DEPTH, MAX_PARTS, MAX_TEXT, Op, Rule, RuleError, Value, check_leaf};

pub fn parse(v: &Json, scopes: &[Scope]) -> Result<Rule, RuleError> {
    let mut budget = Budget {
        parts: MAX_PARTS,
        text: MAX_TEXT,
    };
    super::check_depth(
        node(v, "", scopes, 0, &mut budget)?.normalize(),
        Location::Json(String::new()),
    )
}

/// What the rule being read may still hold: the caps of the text form ([`MAX_PARTS`] parts,
/// [`MAX_TEXT`] bytes of text values), counted as it is read so that a huge tree is refused at
/// the first part over the limit, with its pointer.
struct Budget {
    parts: usize,
    text: usize,
}

impl Budget {
    fn take_parts(&mut self, n: usize, path: &str) -> Result<(), RuleError> {
        match self.parts.checked_sub(n) {
            Some(left) => {
                self.parts = left;
                Ok(())
            }
            None => Err(err(path, super::too_many_parts())),
        }
    }

    fn take_text(&mut self, bytes: usize, path: &str) -> Result<(), RuleError> {
        match self.text.checked_sub(bytes) {
            Some(left) => {
                self.text = left;
                Ok(())
            }
            None => Err(err(
                path,
                format!("the rule's text values add up to more than {MAX_TEXT} bytes"),
            )),
        }
    }
}

/// A key as a JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn err(path: &str, message: impl Into<String>) -> RuleError {
    RuleError {
        location: Location::Json(path.to_string()),
        message: message.into(),
    }
}

fn node(
    v: &Json,
    path: &str,
    scopes: &[Scope],
    depth: usize,
    budget: &mut Budget,
) -> Result<Rule, RuleError> {
    if depth > 2 * MAX_DEPTH {
        return Err(err(
            path,
            format!("the rule nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    budget.take_parts(1, path)?;
    let Json::Object(obj) = v else {
        return Err(err(
            path,
            "a rule is an object: {\"all\": […]}, {\"any\": […]}, {\"not\": {…}}, \
             {\"has_role\": \"…\"} or {\"field\": …, \"op\": …, \"value\": …}",
        ));
    };
    let only = |key: &str| -> Result<(), RuleError> {
        match obj.keys().find(|k| *k != key) {
            Some(extra) => Err(err(
                &format!("{path}/{}", segment(extra)),
                format!("unexpected key `{extra}` next to `{key}`"),
            )),
            None => Ok(()),
        }
    };
    for key in ["all", "any"] {
        if let Some(parts) = obj.get(key) {
            only(key)?;
            let Json::Array(parts) = parts else {
                return Err(err(&format!("{path}/{key}"), "must be an array of rules"));
            };
            let parts = parts
                .iter()
                .enumerate()
                .map(|(i, p)| node(p, &format!("{path}/{key}/{i}"), scopes, depth + 1, budget))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if key == "all" {
                Rule::All(parts)
            } else {
                Rule::Any(parts)
            });
        }
    }
    if let Some(inner) = obj.get("not") {
        only("not")?;
        return Ok(Rule::Not(Box::new(node(
            inner,
            &format!("{path}/not"),
            scopes,
            depth + 1,
            budget,
        )?)));
    }
    if let Some(role) = obj.get("has_role") {
        only("has_role")?;
        let Json::String(role) = role else {
            return Err(err(&format!("{path}/has_role"), "must be a role name"));
        };
        let loc = |_: &str| Location::Json(format!("{path}/has_role"));
        return check_leaf(Rule::HasRole(role.clone()), &loc, scopes);
    }
    comparison(obj, path, scopes, budget)
}

fn comparison(
    obj: &Map<String, Json>,
    path: &str,
    scopes: &[Scope],
    budget: &mut Budget,
) -> Result<Rule, RuleError> {
    if let Some(extra) = obj
        .keys()
        .find(|k| !["field", "op", "value"].contains(&k.as_str()))
    {
        return Err(err(
            &format!("{path}/{}", segment(extra)),
            format!("unexpected key `{extra}`"),
        ));
    }
    let field = match obj.get("field") {
        Some(Json::String(f)) => f.clone(),
        Some(_) => return Err(err(&format!("{path}/field"), "must be a field name")),
        None => {
            return Err(err(
                path,
                "missing `field` (or `all`, `any`, `not`, `has_role`)",
            ));
        }
    };
    let op = match obj.get("op") {
        Some(Json::String(op)) => op.as_str(),
        Some(_) => return Err(err(&format!("{path}/op"), "must be an operator name")),
        None => return Err(err(path, "missing `op`")),
    };
    let value = obj.get("value");
    let value_path = format!("{path}/value");
    let need_value = || value.ok_or_else(|| err(path, format!("`{op}` needs a `value`")));
    let rule = match op {
        "exists" => {
            if value.is_some() {
                return Err(err(&value_path, "`exists` takes no value"));
            }
            Rule::Exists { field }
        }
        "in" => {
            let Json::Array(items) = need_value()? else {
                return Err(err(&value_path, "`in` needs an array of values"));
            };
            // Refused before reading any of them: a million values cost nothing here.
            budget.take_parts(items.len(), &value_path)?;
            let values = items
                .iter()
                .enumerate()
                .map(|(i, v)| scalar(v, &format!("{value_path}/{i}"), budget))
                .collect::<Result<_, _>>()?;
            Rule::In { field, values }
        }
        "between" => match need_value()? {
            Json::Array(ends) if ends.len() == 2 => Rule::Between {
                field,
                low: scalar(&ends[0], &format!("{value_path}/0"), budget)?,
                high: scalar(&ends[1], &format!("{value_path}/1"), budget)?,
            },
            _ => return Err(err(&value_path, "`between` needs [low, high]")),
        },
        "within_days" => match need_value()?.as_i64() {
            Some(days) => Rule::WithinDays { field, days },
            None => {
                return Err(err(
                    &value_path,
                    "`within_days` needs a whole number of days",
                ));
            }
        },
        other => match Op::from_name(other) {
            Some(op) => Rule::Cmp {
                field,
                op,
                value: scalar(need_value()?, &value_path, budget)?,
            },
            None => {
                return Err(err(
                    &format!("{path}/op"),
                    format!(
                        "unknown operator `{other}`; operators are eq, ne, lt, lte, gt, gte, \
                         in, contains, exists, between, within_days"
                    ),
                ));
            }
        },
    };
    let loc = |part: &str| {
        let suffix = match part {
            "field" => "/field".to_string(),
            "op" => "/op".to_string(),
            p => format!("/{p}"),
        };
        Location::Json(format!("{path}{suffix}"))
    };
    check_leaf(rule, &loc, scopes)
}

fn scalar(v: &Json, path: &str, budget: &mut Budget) -> Result<Value, RuleError> {
    match v {
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::Number(n) => n
            .as_f64()
            .map(Value::Num)
            .ok_or_else(|| err(path, "number out of range")),
        Json::String(s) => {
            budget.take_text(s.len(), path)?;
            Ok(Value::Text(s.clone()))
        }
        _ => Err(err(path, "must be text, a number or a boolean")),
    }
}

fn value(v: &Value) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(*n as i64),
        Value::Num(n) => json!(n),
        Value::Text(s) => json!(s),
        Value::Date(d) => json!(d.to_string()),
    }
}

pub fn print(rule: &Rule) -> Json {
    match rule {
        Rule::All(parts) => json!({ "all": parts.iter().map(print).collect::<Vec<_>>() }),
        Rule::Any(parts) => json!({ "any": parts.iter().map(print).collect::<Vec<_>>() }),
        Rule::Not(inner) => json!({ "not": print(inner) }),
        Rule::HasRole(role) => json!({ "has_role": role }),
        Rule::Cmp {
            field,
            op,
            value: v,
        } => {
            json!({ "field": field, "op": op.name(), "value": value(v) })
        }
        Rule::In { field, values } => json!({
            "field": field,
            "op": "in",
            "value": values.iter().map(value).collect::<Vec<_>>(),
        }),
        Rule::Between { field, low, high } => json!({
            "field": field,
            "op": "between",
            "value": [value(low), value(high)],
        }),
        Rule::Exists { field } => json!({ "field": field, "op": "exists" }),
        Rule::WithinDays { field, days } => {
            json!({ "field": field, "op": "within_days", "value": days })
        }
    }
}
