//! The text form marketers type:
//! `abc in (A, B) and xyz != Z and days_since_last_order > 90 and has_role(decision_maker)`.
//!
//! ```text
//! rule      := or
//! or        := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" unary | "(" rule ")" | "true" | "false" | "has_role" "(" value ")" | predicate
//! predicate := field ( op value | "in" "(" value ("," value)* ")" | "contains" value | "exists"
//!                    | "between" value "and" value | "within_days" number )
//! op        := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "eq" | "ne" | "lt" | "lte" | "gt" | "gte"
//! value     := number | date (YYYY-MM-DD) | "true" | "false" | word | "quoted text"
//! ```
//! Keywords are case-insensitive; `not` binds tighter than `and`, `and` tighter than `or`.

use chrono::NaiveDate;

use super::fields::Scope;
use super::{Location, MAX_DEPTH, MAX_TEXT, Op, Rule, RuleError, Value, check_leaf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Date(NaiveDate),
    Sym(&'static str),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offset in the source.
    at: usize,
}

/// Function-like shorthands of the text form and the date field each tests with `within_days`.
const SHORTHANDS: &[(&str, &str)] = &[
    ("opened_within_days", "last_opened_at"),
    ("clicked_within_days", "last_clicked_at"),
    ("replied_within_days", "last_replied_at"),
];

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "contains",
    "exists",
    "between",
    "within_days",
    "true",
    "false",
    "has_role",
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
];

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    scopes: &'a [Scope],
    /// Groups and `not`s open around the current position.
    depth: usize,
}

fn err_at(src: &str, at: usize, message: impl Into<String>) -> RuleError {
    let column = src[..at.min(src.len())].chars().count() + 1;
    RuleError {
        location: Location::Text { column, offset: at },
        message: message.into(),
    }
}

fn lex(src: &str) -> Result<Vec<Token>, RuleError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let tok = if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some((_, q)) if q == c => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, e)) => s.push(e),
                        None => return Err(err_at(src, at, "unterminated text value")),
                    },
                    Some((_, ch)) => s.push(ch),
                    None => return Err(err_at(src, at, "unterminated text value")),
                }
            }
            Tok::Str(s)
        } else if c.is_ascii_digit()
            || (c == '-'
                && src[at + 1..]
                    .chars()
                    .next()
                    .is_some_and(|d| d.is_ascii_digit()))
        {
            let mut end = at + c.len_utf8();
            chars.next();
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' || d == '-' || d == 'e' || d == 'E' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let raw = &src[at..end];
            if raw.len() == 10 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[7] == b'-' {
                match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                    Ok(d) => Tok::Date(d),
                    Err(_) => return Err(err_at(src, at, format!("`{raw}` is not a date"))),
                }
            } else {
                match raw.parse::<f64>() {
                    Ok(n) if n.is_finite() => Tok::Num(n),
                    _ => return Err(err_at(src, at, format!("`{raw}` is not a number"))),
                }
            }
        } else if is_word_start(c) {
            let mut end = at;
            while let Some(&(i, d)) = chars.peek() {
                if is_word_char(d) {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            Tok::Word(src[at..end].to_string())
        } else {
            let rest = &src[at..];
            let sym = ["<=", ">=", "!=", "==", "=", "<", ">", "(", ")", ","]
                .into_iter()
                .find(|s| rest.starts_with(s));
            match sym {
                Some(s) => {
                    for _ in 0..s.len() {
                        chars.next();
                    }
                    Tok::Sym(s)
                }
                None => return Err(err_at(src, at, format!("unexpected `{c}`"))),
            }
        };
        out.push(Token { tok, at });
    }
    out.push(Token {
        tok: Tok::End,
        at: src.len(),
    });
    Ok(out)
}

pub fn parse(src: &str, scopes: &[Scope]) -> Result<Rule, RuleError> {
    if src.len() > MAX_TEXT {
        return Err(err_at(
            src,
            0,
            format!("the rule is longer than {MAX_TEXT} characters"),
        ));
    }
    let mut p = Parser {
        src,
        tokens: lex(src)?,
        pos: 0,
        scopes,
        depth: 0,
    };
    if p.peek().tok == Tok::End {
        return Err(err_at(
            src,
            0,
            "the rule is empty (write `true` for always)",
        ));
    }
    let rule = p.or()?;
    let next = p.peek();
    if next.tok != Tok::End {
        return Err(err_at(
            src,
            next.at,
            format!(
                "expected `and`, `or` or the end, found {}",
                describe(&next.tok)
            ),
        ));
    }
    let at_start = Location::Text {
        column: 1,
        offset: 0,
    };
    super::check_parts(
        super::check_depth(rule.normalize(), at_start.clone())?,
        at_start,
    )
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Date(d) => format!("`{d}`"),
        Tok::Sym(s) => format!("`{s}`"),
        Tok::End => "the end".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn expect_sym(&mut self, sym: &str, what: &str) -> Result<(), RuleError> {
        let t = self.next();
        if matches!(t.tok, Tok::Sym(s) if s == sym) {
            Ok(())
        } else {
            Err(err_at(
                self.src,
                t.at,
                format!("expected `{sym}` {what}, found {}", describe(&t.tok)),
            ))
        }
    }

    fn or(&mut self) -> Result<Rule, RuleError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.next();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Rule::Any(parts)
        })
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.next();
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Rule::All(parts)
        })
    }

    /// Enters a group or `not` at `at`; refuses nesting deeper than [`MAX_DEPTH`].
    fn deeper(&mut self, at: usize) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > 2 * MAX_DEPTH {
            return Err(err_at(
                self.src,
                at,
                format!("the rule nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Rule, RuleError> {
        if self.keyword("not") {
            let at = self.next().at;
            self.deeper(at)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Rule::Not(Box::new(inner)));
        }
        let t = self.next();
        match &t.tok {
            Tok::Sym("(") => {
                self.deeper(t.at)?;
                let inner = self.or()?;
                self.expect_sym(")", "to close the group")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Rule::All(Vec::new())),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Rule::Any(Vec::new())),
            Tok::Word(w) if w.eq_ignore_ascii_case("has_role") => {
                self.expect_sym("(", "after has_role")?;
                let at = self.peek().at;
                let role = match self.value()? {
                    Value::Text(r) => r,
                    _ => return Err(err_at(self.src, at, "has_role needs a role name")),
                };
                self.expect_sym(")", "after the role")?;
                let src = self.src;
                check_leaf(
                    Rule::HasRole(role),
                    &|_| Location::Text {
                        column: src[..at].chars().count() + 1,
                        offset: at,
                    },
                    self.scopes,
                )
            }
            Tok::Word(w)
                if SHORTHANDS
                    .iter()
                    .any(|(name, _)| w.eq_ignore_ascii_case(name))
                    && matches!(self.peek().tok, Tok::Sym("(")) =>
            {
                // `opened_within_days(7)` is `last_opened_at within_days 7`.
                let field = SHORTHANDS
                    .iter()
                    .find(|(name, _)| w.eq_ignore_ascii_case(name))
                    .map(|(_, field)| *field)
                    .unwrap_or_default();
                let name = w.to_ascii_lowercase();
                self.expect_sym("(", &format!("after {name}"))?;
                let n = self.next();
                let days = match n.tok {
                    Tok::Num(d) if d.fract() == 0.0 => d as i64,
                    other => {
                        return Err(err_at(
                            self.src,
                            n.at,
                            format!(
                                "`{name}` needs a whole number of days, found {}",
                                describe(&other)
                            ),
                        ));
                    }
                };
                self.expect_sym(")", "after the number of days")?;
                let src = self.src;
                let at = t.at;
                check_leaf(
                    Rule::WithinDays {
                        field: field.to_string(),
                        days,
                    },
                    &|_| Location::Text {
                        column: src[..at].chars().count() + 1,
                        offset: at,
                    },
                    self.scopes,
                )
            }
            Tok::Word(w) if !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => {
                self.predicate(w.clone(), t.at)
            }
            other => Err(err_at(
                self.src,
                t.at,
                format!("expected a condition, found {}", describe(other)),
            )),
        }
    }

    fn predicate(&mut self, field: String, field_at: usize) -> Result<Rule, RuleError> {
        let op_tok = self.next();
        let op_at = op_tok.at;
        let mut value_ats = vec![self.peek().at];
        let rule = match &op_tok.tok {
            Tok::Word(w) => match w.to_ascii_lowercase().as_str() {
                "in" => {
                    self.expect_sym("(", "after `in`")?;
                    value_ats.clear();
                    let mut values = Vec::new();
                    loop {
                        value_ats.push(self.peek().at);
                        values.push(self.value()?);
                        let t = self.next();
                        match t.tok {
                            Tok::Sym(",") => continue,
                            Tok::Sym(")") => break,
                            other => {
                                return Err(err_at(
                                    self.src,
                                    t.at,
                                    format!(
                                        "expected `,` or `)` in the list, found {}",
                                        describe(&other)
                                    ),
                                ));
                            }
                        }
                    }
                    Rule::In { field, values }
                }
                "contains" => Rule::Cmp {
                    field,
                    op: Op::Contains,
                    value: self.value()?,
                },
                "exists" => Rule::Exists { field },
                "between" => {
                    let low = self.value()?;
                    if !self.keyword("and") {
                        let t = self.peek();
                        return Err(err_at(
                            self.src,
                            t.at,
                            format!(
                                "expected `and` in `between … and …`, found {}",
                                describe(&t.tok)
                            ),
                        ));
                    }
                    self.next();
                    value_ats.push(self.peek().at);
                    let high = self.value()?;
                    Rule::Between { field, low, high }
                }
                "within_days" => {
                    let t = self.next();
                    match t.tok {
                        Tok::Num(n) if n.fract() == 0.0 => Rule::WithinDays {
                            field,
                            days: n as i64,
                        },
                        other => {
                            return Err(err_at(
                                self.src,
                                t.at,
                                format!(
                                    "`within_days` needs a whole number of days, found {}",
                                    describe(&other)
                                ),
                            ));
                        }
                    }
                }
                word => match Op::from_name(word).filter(|o| *o != Op::Contains) {
                    Some(op) => Rule::Cmp {
                        field,
                        op,
                        value: self.value()?,
                    },
                    None => return Err(self.bad_operator(&op_tok)),
                },
            },
            Tok::Sym(s) => {
                let op = match *s {
                    "=" | "==" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Lte,
                    ">" => Op::Gt,
                    ">=" => Op::Gte,
                    _ => return Err(self.bad_operator(&op_tok)),
                };
                Rule::Cmp {
                    field,
                    op,
                    value: self.value()?,
                }
            }
            _ => return Err(self.bad_operator(&op_tok)),
        };
        let src = self.src;
        let at = |offset: usize| Location::Text {
            column: src[..offset.min(src.len())].chars().count() + 1,
            offset,
        };
        check_leaf(
            rule,
            &|part| match part {
                "field" => at(field_at),
                "op" => at(op_at),
                "value" => at(value_ats.first().copied().unwrap_or(op_at)),
                p => {
                    let i: usize = p
                        .strip_prefix("value/")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    at(value_ats.get(i).copied().unwrap_or(op_at))
                }
            },
            self.scopes,
        )
    }

    fn bad_operator(&self, t: &Token) -> RuleError {
        err_at(
            self.src,
            t.at,
            format!(
                "expected an operator (= != < <= > >= in contains exists between within_days), found {}",
                describe(&t.tok)
            ),
        )
    }

    fn value(&mut self) -> Result<Value, RuleError> {
        let t = self.next();
        Ok(match t.tok {
            Tok::Num(n) => Value::Num(n),
            Tok::Date(d) => Value::Date(d),
            Tok::Str(s) => Value::Text(s),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) if !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => Value::Text(w),
            other => {
                return Err(err_at(
                    self.src,
                    t.at,
                    format!("expected a value, found {}", describe(&other)),
                ));
            }
        })
    }
}

/// Prints a value so that the lexer reads it back as the same value.
fn value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Num(n) => format!("{n}"),
        Value::Date(d) => d.to_string(),
        Value::Text(s) => {
            let bare = s.chars().next().is_some_and(is_word_start)
                && s.chars().all(is_word_char)
                && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str());
            if bare {
                s.clone()
            } else {
                let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\"")
            }
        }
    }
}

pub fn print(rule: &Rule) -> String {
    print_prec(rule, 0)
}

/// `prec`: 0 inside `or`, 1 inside `and`, 2 after `not`.
fn print_prec(rule: &Rule, prec: u8) -> String {
    match rule {
        Rule::All(parts) if parts.is_empty() => "true".into(),
        Rule::Any(parts) if parts.is_empty() => "false".into(),
        Rule::All(parts) => {
            let s = parts
                .iter()
                .map(|p| print_prec(p, 1))
                .collect::<Vec<_>>()
                .join(" and ");
            if prec > 1 { format!("({s})") } else { s }
        }
        Rule::Any(parts) => {
            let s = parts
                .iter()
                .map(|p| print_prec(p, 0))
                .collect::<Vec<_>>()
                .join(" or ");
            if prec > 0 { format!("({s})") } else { s }
        }
        Rule::Not(inner) => format!("not {}", print_prec(inner, 2)),
        Rule::HasRole(role) => format!("has_role({})", value(&Value::Text(role.clone()))),
        Rule::Cmp {
            field,
            op,
            value: v,
        } => format!("{field} {} {}", op.symbol(), value(v)),
        Rule::In { field, values } => format!(
            "{field} in ({})",
            values.iter().map(value).collect::<Vec<_>>().join(", ")
        ),
        Rule::Between { field, low, high } => {
            format!("{field} between {} and {}", value(low), value(high))
        }
        Rule::Exists { field } => format!("{field} exists"),
        Rule::WithinDays { field, days } => format!("{field} within_days {days}"),
    }
}
