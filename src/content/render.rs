//! Compiled templates and the helpers they may use. Two Handlebars registries share the
//! partials: HTML parts escape every value, the others (subject, text, task, JSON bodies)
//! write values as they are. Both run in strict mode.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperDef, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value as Json;

use super::context::Context;
use super::limits::{self, Budget, Depth, MeteredEach, RenderFailure, TooDeep};
use super::{Problem, Template};
use crate::domain::Currency;

/// Rendered parts by name.
pub type Rendered = BTreeMap<String, String>;

/// One part rendered (name and text), or where it failed.
pub type PartResult = Result<(String, String), Problem>;

/// Every template compiled, ready to render many times.
pub struct Library {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    json: Handlebars<'static>,
    pub templates: Vec<Template>,
    by_id: HashMap<String, usize>,
}

/// How values are written into a part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    Html,
    None,
    /// Inside JSON strings: `"`, `\` and control characters escaped; `{{json …}}` writes a
    /// whole literal as is.
    Json,
}

fn json_string_content(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

fn registry(escape: Escape) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.set_prevent_indent(true);
    match escape {
        Escape::Html => {}
        Escape::None => h.register_escape_fn(handlebars::no_escape),
        Escape::Json => h.register_escape_fn(json_string_content),
    }
    for (name, f) in HELPERS {
        h.register_helper(name, Box::new(ValueHelper(*f)));
    }
    // The engine's loop, charging the render budget for every iteration.
    h.register_helper("each", Box::new(MeteredEach));
    if escape == Escape::Json {
        h.register_helper("json", Box::new(RawJson));
    }
    h
}

fn escape_of(part: &str) -> Escape {
    match part {
        "html" => Escape::Html,
        "body.json" => Escape::Json,
        _ => Escape::None,
    }
}

/// Where a Handlebars error points: the line in the part, and a message for people.
fn describe_render_error(e: &RenderError) -> (usize, String) {
    let line = e.line_no.unwrap_or(1);
    let message = match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => format!("unknown variable `{path}`"),
        RenderErrorReason::MissingVariable(None) => "unknown variable".to_string(),
        RenderErrorReason::HelperNotFound(name) => format!("unknown helper `{name}`"),
        RenderErrorReason::PartialNotFound(name) => format!("unknown partial `{name}`"),
        RenderErrorReason::TemplateError(t) => t.to_string(),
        other => other.to_string(),
    };
    (line, message)
}

/// Where a byte offset of `src` is, as a 1-based line.
fn line_at(src: &str, offset: usize) -> usize {
    // Bytes, not a `str` slice: an offset inside a character must not panic.
    let before = &src.as_bytes()[..offset.min(src.len())];
    before.iter().filter(|b| **b == b'\n').count() + 1
}

/// Unescaped output, inline partials/decorators, partial references (name captured).
fn patterns() -> &'static [regex::Regex; 3] {
    static PATTERNS: std::sync::OnceLock<[regex::Regex; 3]> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            r"\{\{~?\s*[{&]",
            r"\{\{~?\s*#?\s*\*",
            r"\{\{~?\s*#?\s*>\s*([^\s}~]+)",
        ]
        .map(|p| regex::Regex::new(p).expect("a valid pattern"))
    })
}

/// The partials `src` includes: (byte offset, name).
fn partial_refs(src: &str) -> impl Iterator<Item = (usize, &str)> {
    patterns()[2].captures_iter(src).filter_map(|c| {
        let all = c.get(0)?;
        Some((all.start(), c.get(1)?.as_str()))
    })
}

/// Constructs the engine refuses, with what they are: output that skips escaping (in HTML
/// parts, JSON bodies and partials), inline partials and decorators (a partial that includes
/// itself overflows the stack), and partials that do not exist.
fn unsafe_constructs(
    src: &str,
    part: &str,
    partials: &BTreeMap<String, (String, String)>,
) -> Vec<(usize, String)> {
    let [unescaped, inline, _] = patterns();
    let mut out = Vec::new();
    if matches!(escape_of(part), Escape::Html | Escape::Json) || part == "partial" {
        for m in unescaped.find_iter(src) {
            let what = if part == "body.json" {
                "writes data without JSON escaping; use `{{json …}}` or `\"{{…}}\"`"
            } else {
                "writes data without HTML escaping; use `{{…}}`"
            };
            out.push((
                line_at(src, m.start()),
                format!("`{}…` {what}", m.as_str().trim()),
            ));
        }
    }
    for m in inline.find_iter(src) {
        out.push((
            line_at(src, m.start()),
            "inline partials and decorators are not allowed; put shared parts in templates/_partials/"
                .to_string(),
        ));
    }
    for (at, name) in partial_refs(src) {
        if name != "@partial-block" && !partials.contains_key(name) {
            out.push((line_at(src, at), format!("unknown partial `{name}`")));
        }
    }
    out
}

/// How deep every partial nests, counting the partials it includes, or why it nests too deep
/// (see [`limits::measure`]). Partials never parsed: this runs before the engine sees them.
fn partial_depths(
    partials: &BTreeMap<String, (String, String)>,
) -> BTreeMap<String, Result<Depth, TooDeep>> {
    let mut depths: BTreeMap<String, Result<Depth, TooDeep>> = partials
        .keys()
        .map(|n| (n.clone(), Ok(Depth::default())))
        .collect();
    // Each round settles one more level of partials including partials; a chain is at most
    // as long as there are partials (cycles are refused separately).
    for _ in 0..=partials.len() {
        let mut next = BTreeMap::new();
        for (name, (_, src)) in partials {
            let lookup = |n: &str| match depths.get(n) {
                Some(Ok(d)) => *d,
                _ => Depth::default(),
            };
            next.insert(name.clone(), limits::measure(src, &lookup));
        }
        if next == depths {
            break;
        }
        depths = next;
    }
    depths
}

/// Partials that include themselves, directly or through others.
fn partial_cycles(partials: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let refs = |src: &str| -> Vec<String> {
        partial_refs(src)
            .filter(|(_, name)| partials.contains_key(*name))
            .map(|(_, name)| name.to_string())
            .collect()
    };
    let graph: BTreeMap<&String, Vec<String>> = partials
        .iter()
        .map(|(n, (_, src))| (n, refs(src)))
        .collect();
    let mut cyclic = Vec::new();
    for start in partials.keys() {
        // Depth-first from `start`: reaching it again is a cycle.
        let mut stack: Vec<&String> = graph
            .get(start)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == start {
                cyclic.push(start.clone());
                break;
            }
            if seen.insert(n.clone()) {
                stack.extend(graph.get(n).into_iter().flatten());
            }
        }
    }
    cyclic
}

impl Library {
    /// Compiles templates and partials; templates that do not compile, or use what the engine
    /// refuses (see [`unsafe_constructs`]), are left out and reported as problems.
    pub fn build(
        templates: Vec<Template>,
        partials: &BTreeMap<String, (String, String)>,
    ) -> (Library, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut html = registry(Escape::Html);
        let mut plain = registry(Escape::None);
        let mut json = registry(Escape::Json);
        let cyclic = partial_cycles(partials);
        let depths = partial_depths(partials);
        let depth_of = |n: &str| match depths.get(n) {
            Some(Ok(d)) => *d,
            _ => Depth::default(),
        };
        for (name, (file, src)) in partials {
            if cyclic.contains(name) {
                problems.push(Problem {
                    file: file.clone(),
                    line: 1,
                    message: format!(
                        "partial `{name}` includes itself (directly or through others)"
                    ),
                });
                continue;
            }
            if let Some(Err(e)) = depths.get(name) {
                problems.push(Problem {
                    file: file.clone(),
                    line: e.line,
                    message: e.message.clone(),
                });
                continue;
            }
            let found = unsafe_constructs(src, "partial", partials);
            if !found.is_empty() {
                for (line, message) in found {
                    problems.push(Problem {
                        file: file.clone(),
                        line,
                        message,
                    });
                }
                continue;
            }
            for reg in [&mut html, &mut plain, &mut json] {
                if let Err(e) = reg.register_partial(name, src.as_str()) {
                    problems.push(Problem {
                        file: file.clone(),
                        line: e.pos().map_or(1, |(l, _)| l),
                        message: e.reason().to_string(),
                    });
                    break;
                }
            }
        }
        let mut kept: Vec<Template> = Vec::with_capacity(templates.len());
        for t in templates {
            if kept.iter().any(|k| k.id == t.id) {
                problems.push(Problem {
                    file: t.part_path("template"),
                    line: 1,
                    message: format!("a template `{}` exists already; this one is left out", t.id),
                });
                continue;
            }
            let mut ok = true;
            for (part, src) in &t.parts {
                for (line, message) in unsafe_constructs(src, part, partials) {
                    problems.push(Problem {
                        file: t.part_path(part),
                        line,
                        message,
                    });
                    ok = false;
                }
                // Measured before the engine parses it: too deep a source would overflow
                // the parser's or the renderer's stack.
                if let Err(e) = limits::measure(src, &depth_of) {
                    problems.push(Problem {
                        file: t.part_path(part),
                        line: e.line,
                        message: e.message,
                    });
                    ok = false;
                    continue;
                }
                let reg = match escape_of(part) {
                    Escape::Html => &mut html,
                    Escape::None => &mut plain,
                    Escape::Json => &mut json,
                };
                if let Err(e) = reg.register_template_string(&format!("{}/{part}", t.id), src) {
                    problems.push(Problem {
                        file: t.part_path(part),
                        line: e.pos().map_or(1, |(l, _)| l),
                        message: e.reason().to_string(),
                    });
                    ok = false;
                }
            }
            if ok {
                kept.push(t);
            }
        }
        let by_id = kept
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        (
            Library {
                html,
                plain,
                json,
                templates: kept,
                by_id,
            },
            problems,
        )
    }

    pub fn get(&self, id: &str) -> Option<&Template> {
        self.by_id.get(id).map(|&i| &self.templates[i])
    }

    /// Renders every part of template `id`; a failure names the part's file and line.
    pub fn render(&self, id: &str, ctx: &Context) -> Result<Rendered, Problem> {
        let data = HbContext::wraps(ctx).map_err(|e| Problem {
            file: id.to_string(),
            line: 1,
            message: e.to_string(),
        })?;
        self.render_with(id, &data)
    }

    /// Like [`Library::render`] with a context already converted (to render many templates
    /// for one context).
    pub fn render_with(&self, id: &str, data: &HbContext) -> Result<Rendered, Problem> {
        self.render_parts(id, data)?.into_iter().collect()
    }

    /// Every part rendered, each with its own outcome (lint reports them all). Each part
    /// renders within [`Budget::PART`]; a rendered `subject` is made one line (control
    /// characters and line breaks become spaces), so no data can add a header to a message.
    pub fn render_parts(&self, id: &str, data: &HbContext) -> Result<Vec<PartResult>, Problem> {
        let t = self.get(id).ok_or_else(|| Problem {
            file: id.to_string(),
            line: 1,
            message: "no such template".into(),
        })?;
        Ok(t.parts
            .keys()
            .map(|part| {
                let reg = match escape_of(part) {
                    Escape::Html => &self.html,
                    Escape::None => &self.plain,
                    Escape::Json => &self.json,
                };
                match limits::render_bounded(reg, &format!("{id}/{part}"), data, Budget::PART) {
                    Ok(text) if part == "subject" => {
                        Ok((part.clone(), crate::domain::to_one_line(&text)))
                    }
                    Ok(text) => Ok((part.clone(), text)),
                    Err(RenderFailure::Template(e)) => {
                        let (line, message) = describe_render_error(&e);
                        Err(Problem {
                            file: t.part_path(part),
                            line,
                            message,
                        })
                    }
                    Err(RenderFailure::Budget(e)) => Err(Problem {
                        file: t.part_path(part),
                        line: 1,
                        message: e.message(),
                    }),
                }
            })
            .collect())
    }

    /// [`Library::render`] on the blocking thread pool: a render may take up to its time
    /// budget per part, which must not stall the async workers serving other requests.
    pub async fn render_blocking(
        self: std::sync::Arc<Self>,
        id: String,
        ctx: Context,
    ) -> Result<Rendered, Problem> {
        let file = id.clone();
        tokio::task::spawn_blocking(move || self.render(&id, &ctx))
            .await
            .unwrap_or_else(|e| {
                Err(Problem {
                    file,
                    line: 1,
                    message: format!("rendering failed: {e}"),
                })
            })
    }
}

// ---------------------------------------------------------------- helpers

type HelperFn = fn(&Helper<'_>, &Json) -> Result<Json, RenderError>;

/// A helper computing a value: its result is escaped like any other value (so `default`,
/// `join` and `money` are safe in HTML) and usable in subexpressions.
struct ValueHelper(HelperFn);

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        (self.0)(h, ctx.data()).map(ScopedJson::Derived)
    }
}

/// `{{json value}}` in a JSON body: the literal, written as is (not escaped again).
struct RawJson;

impl HelperDef for RawJson {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        out.write(&param(h, 0, "json")?.to_string())?;
        Ok(())
    }
}

const HELPERS: &[(&str, HelperFn)] = &[
    ("money", money),
    ("date", date),
    ("plural", plural),
    ("default", default),
    ("join", join),
    ("percent", percent),
    ("json", json),
    ("includes", includes),
];

fn fail(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

fn param<'a>(h: &'a Helper<'_>, i: usize, name: &'static str) -> Result<&'a Json, RenderError> {
    h.param(i)
        .map(|p| p.value())
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex(name, i).into())
}

fn locale(root: &Json) -> &str {
    root.get("locale").and_then(Json::as_str).unwrap_or("en")
}

fn vietnamese(root: &Json) -> bool {
    locale(root).starts_with("vi")
}

/// Groups the digits of `n` by thousands with `sep`.
fn group(n: u64, sep: char) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "VND" => "₫",
        _ => return None,
    })
}

/// Formats minor units of `code` for the locale: `$12,345.67`, `12.345.678 ₫`.
pub fn format_money(minor: i64, code: &str, vi: bool) -> String {
    let exp = Currency::parse(code).map(|c| c.exponent()).unwrap_or(2);
    let div = 10u64.pow(exp);
    let abs = minor.unsigned_abs();
    let (thousands, decimal) = if vi { ('.', ',') } else { (',', '.') };
    let mut number = group(abs / div, thousands);
    if exp > 0 {
        number.push(decimal);
        number.push_str(&format!("{:0width$}", abs % div, width = exp as usize));
    }
    let sign = if minor < 0 { "-" } else { "" };
    match (symbol(code), vi) {
        (Some(s), false) if code != "VND" => format!("{sign}{s}{number}"),
        (Some(s), _) => format!("{sign}{number} {s}"),
        (None, _) => format!("{sign}{number} {code}"),
    }
}

/// `{{money amount}}` (minor units) in the account's currency, or `currency="USD"`.
fn money(h: &Helper<'_>, root: &Json) -> Result<Json, RenderError> {
    let v = param(h, 0, "money")?;
    if v.is_null() {
        return Ok(Json::String(String::new()));
    }
    let minor = v
        .as_i64()
        .or_else(|| v.as_f64().map(|f| f.round() as i64))
        .ok_or_else(|| fail(format!("money needs an amount in minor units, got {v}")))?;
    let code = h
        .hash_get("currency")
        .and_then(|c| c.value().as_str().map(String::from))
        .or_else(|| {
            root.pointer("/account/currency")
                .and_then(Json::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| "USD".into());
    Ok(Json::String(format_money(minor, &code, vietnamese(root))))
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats a date for the locale, long (`27 November 2026`, `ngày 27 tháng 11 năm 2026`) or
/// short (`27 Nov 2026`, `27/11/2026`).
pub fn format_date(d: NaiveDate, vi: bool, short: bool) -> String {
    use chrono::Datelike;
    let (day, month, year) = (d.day(), d.month(), d.year());
    match (vi, short) {
        (true, false) => format!("ngày {day} tháng {month} năm {year}"),
        (true, true) => format!("{day:02}/{month:02}/{year}"),
        (false, false) => format!("{day} {} {year}", MONTHS_EN[month as usize - 1]),
        (false, true) => format!("{day} {} {year}", &MONTHS_EN[month as usize - 1][..3]),
    }
}

/// `{{date value}}`: a date or timestamp (in the account's timezone), `format="short"`.
fn date(h: &Helper<'_>, root: &Json) -> Result<Json, RenderError> {
    let v = param(h, 0, "date")?;
    let Some(raw) = v.as_str() else {
        return if v.is_null() {
            Ok(Json::String(String::new()))
        } else {
            Err(fail(format!("date needs a date or timestamp, got {v}")))
        };
    };
    let d = match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => d,
        Err(_) => {
            let ts: DateTime<Utc> = DateTime::parse_from_rfc3339(raw)
                .map_err(|_| fail(format!("date: `{raw}` is not a date or RFC 3339 timestamp")))?
                .with_timezone(&Utc);
            let tz: chrono_tz::Tz = root
                .pointer("/account/timezone")
                .and_then(Json::as_str)
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC);
            ts.with_timezone(&tz).date_naive()
        }
    };
    let short = h
        .hash_get("format")
        .and_then(|f| f.value().as_str())
        .is_some_and(|f| f == "short");
    Ok(Json::String(format_date(d, vietnamese(root), short)))
}

/// `{{plural count "order" "orders"}}` → `1 order`, `3 orders` (Vietnamese has one form).
fn plural(h: &Helper<'_>, root: &Json) -> Result<Json, RenderError> {
    let n = param(h, 0, "plural")?;
    let one = param(h, 1, "plural")?.as_str().unwrap_or("");
    let many = h.param(2).and_then(|p| p.value().as_str()).unwrap_or(one);
    let count = n.as_f64().unwrap_or(0.0);
    let word = if vietnamese(root) || count == 1.0 {
        one
    } else {
        many
    };
    let shown = if count.fract() == 0.0 {
        format!("{}", count as i64)
    } else {
        format!("{count}")
    };
    Ok(Json::String(format!("{shown} {word}")))
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `{{default value "fallback"}}`.
fn default(h: &Helper<'_>, _: &Json) -> Result<Json, RenderError> {
    let v = param(h, 0, "default")?;
    if is_empty(v) {
        Ok(param(h, 1, "default")?.clone())
    } else {
        Ok(v.clone())
    }
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{{join list ", "}}`.
fn join(h: &Helper<'_>, _: &Json) -> Result<Json, RenderError> {
    let list = param(h, 0, "join")?;
    let sep = h.param(1).and_then(|p| p.value().as_str()).unwrap_or(", ");
    Ok(Json::String(match list {
        Json::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(sep),
        other => text_of(other),
    }))
}

/// `{{percent 0.125}}` → `12.5 %` (`12,5 %` in Vietnamese).
fn percent(h: &Helper<'_>, root: &Json) -> Result<Json, RenderError> {
    let v = param(h, 0, "percent")?;
    let Some(f) = v.as_f64() else {
        return Ok(Json::String(String::new()));
    };
    let mut s = format!("{:.1}", f * 100.0);
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    if vietnamese(root) {
        s = s.replace('.', ",");
    }
    Ok(Json::String(format!("{s} %")))
}

/// `{{json value}}`: a JSON literal (for webhook bodies).
fn json(h: &Helper<'_>, _: &Json) -> Result<Json, RenderError> {
    Ok(Json::String(param(h, 0, "json")?.to_string()))
}

/// `(includes list "x")`.
fn includes(h: &Helper<'_>, _: &Json) -> Result<Json, RenderError> {
    let list = param(h, 0, "includes")?;
    let x = param(h, 1, "includes")?;
    Ok(Json::Bool(match list {
        Json::Array(items) => items.contains(x),
        Json::String(s) => x.as_str().is_some_and(|x| s.contains(x)),
        _ => false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_dates_follow_the_locale() {
        assert_eq!(format_money(1_234_567, "USD", false), "$12,345.67");
        assert_eq!(format_money(12_345_678, "VND", true), "12.345.678 ₫");
        assert_eq!(format_money(12_345_678, "VND", false), "12,345,678 ₫");
        assert_eq!(format_money(-150, "EUR", true), "-1,50 €");
        assert_eq!(format_money(99, "CHF", false), "0.99 CHF");
        let d = NaiveDate::from_ymd_opt(2026, 11, 7).expect("date");
        assert_eq!(format_date(d, false, false), "7 November 2026");
        assert_eq!(format_date(d, true, false), "ngày 7 tháng 11 năm 2026");
        assert_eq!(format_date(d, true, true), "07/11/2026");
        assert_eq!(format_date(d, false, true), "7 Nov 2026");
        assert_eq!(group(1_000_000, ','), "1,000,000");
        assert_eq!(group(999, ','), "999");
    }
}
