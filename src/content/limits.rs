//! What keeps one template from taking the process down. Before Handlebars parses a source,
//! its nesting is measured here (blocks, loops and expressions, counting the partials it
//! includes): the engine's parser and renderer recurse once per level, and a few hundred
//! levels overflow a thread's stack, which aborts the whole process. And every render runs on
//! a budget of output bytes, steps and time, so that loops over large data stop with a clear
//! error instead of blocking a worker for seconds.

use std::cell::Cell;
use std::time::{Duration, Instant};

use handlebars::{
    BlockContext, BlockParams, Context as HbContext, Handlebars, Helper, HelperDef, HelperResult,
    Output, RenderContext, RenderError, RenderErrorReason, Renderable, to_json,
};
use serde_json::Value as Json;

/// Blocks (`{{#if}}`, `{{#each}}`, `{{#with}}`, partial blocks, and each `{{else if …}}` of a
/// chain) one source may nest, counting the partials it includes.
pub const MAX_BLOCK_DEPTH: usize = 32;

/// `{{#each}}` loops one part may nest, counting the partials it includes: each level
/// multiplies the work by the length of a list.
pub const MAX_LOOP_DEPTH: usize = 3;

/// Parentheses (subexpressions) one tag may nest.
pub const MAX_EXPRESSION_DEPTH: usize = 16;

/// What one part's render may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Output, in bytes.
    pub bytes: usize,
    /// Steps: pieces of output written and loop iterations.
    pub steps: u64,
    /// Time (a last resort behind the step budget).
    pub time: Duration,
}

impl Budget {
    /// 1 MiB of output, a million steps, one second.
    pub const PART: Budget = Budget {
        bytes: 1024 * 1024,
        steps: 1_000_000,
        time: Duration::from_secs(1),
    };
}

/// How deep a source nests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub blocks: usize,
    pub loops: usize,
}

/// A source that nests too deeply: the 1-based line where the limit is crossed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub message: String,
}

fn line_at(src: &[u8], offset: usize) -> usize {
    src[..offset.min(src.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| from + i)
}

/// One open block: what it adds to the depth.
struct Frame {
    blocks: usize,
    loops: usize,
}

/// What a tag is, as far as nesting goes.
#[derive(Clone, Copy)]
enum Kind<'a> {
    /// `{{#name …}}`; `partial` for `{{#> name}}`.
    Open { name: &'a str, partial: bool },
    /// `{{/name}}`.
    Close,
    /// `{{else}}` / `{{^}}`, or a link of an else chain (`{{else if …}}`: `Some("if")`).
    Inverse(Option<&'a str>),
    /// `{{> name}}`.
    Partial(&'a str),
    /// Anything else (`{{x}}`, `{{{x}}}`, `{{&x}}`, decorators).
    Other,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A name in a tag: an identifier or a partial name (letters, digits, `-_$:@/.` and any
/// non-ASCII character).
fn name_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len()
        && (b[i].is_ascii_alphanumeric() || b"-_$:@/.".contains(&b[i]) || b[i] >= 0x80)
    {
        i += 1;
    }
    i
}

/// The text of `b[from..to]` (a name: whole characters).
fn text(b: &[u8], from: usize, to: usize) -> &str {
    std::str::from_utf8(&b[from..to]).unwrap_or("")
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

/// Reads the tag starting after `{{` at `i`: what it is, and where it ends (after `}}`, or
/// the end of the source when it does not close — the engine then refuses the source).
/// Strings are skipped, parentheses counted; `[…]` may only hold a plain key (so that an
/// array literal cannot hide nesting or strings) and object literals are refused.
fn read_tag(b: &[u8], start: usize) -> Result<(Kind<'_>, usize), String> {
    let mut i = skip_space(b, start);
    if b.get(i) == Some(&b'~') {
        i = skip_space(b, i + 1);
    }
    let mut stash = false;
    let kind = match b.get(i) {
        Some(b'#') => {
            i = skip_space(b, i + 1);
            let partial = b.get(i) == Some(&b'>');
            if partial || b.get(i) == Some(&b'*') {
                i = skip_space(b, i + 1);
            }
            let end = name_end(b, i);
            let name = text(b, i, end);
            i = end;
            Kind::Open { name, partial }
        }
        Some(b'/') => Kind::Close,
        Some(b'>') => {
            i = skip_space(b, i + 1);
            let end = name_end(b, i);
            let name = text(b, i, end);
            i = end;
            Kind::Partial(name)
        }
        Some(b'^') => {
            let at = skip_space(b, i + 1);
            let end = name_end(b, at);
            i = end;
            Kind::Inverse((end > at).then(|| text(b, at, end)))
        }
        Some(b'{') => {
            stash = true;
            i += 1;
            Kind::Other
        }
        _ => {
            let end = name_end(b, i);
            if &b[i..end] == b"else" {
                let at = skip_space(b, end);
                let next = name_end(b, at);
                i = next;
                Kind::Inverse((next > at).then(|| text(b, at, next)))
            } else {
                Kind::Other
            }
        }
    };
    let mut parens = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'[' => {
                let Some(close) = find(b, i + 1, b"]") else {
                    return Ok((kind, b.len()));
                };
                if b[i + 1..close]
                    .iter()
                    .any(|c| matches!(c, b'[' | b'{' | b'"' | b'\''))
                {
                    return Err("`[…]` in an expression may only hold a key name; array \
                                literals are not supported"
                        .into());
                }
                i = close + 1;
            }
            b'(' => {
                parens += 1;
                if parens > MAX_EXPRESSION_DEPTH {
                    return Err(format!(
                        "expressions nest more than {MAX_EXPRESSION_DEPTH} levels of `(…)` here"
                    ));
                }
                i += 1;
            }
            b')' => {
                parens = parens.saturating_sub(1);
                i += 1;
            }
            b'{' => return Err("object literals are not supported in expressions".into()),
            b'}' if stash => {
                stash = false;
                i += 1;
            }
            b'}' => {
                let end = if b.get(i + 1) == Some(&b'}') {
                    i + 2
                } else {
                    i + 1
                };
                return Ok((kind, end));
            }
            _ => i += 1,
        }
    }
    Ok((kind, b.len()))
}

/// Measures how deep `src` nests: blocks and loops, counting the partials it includes
/// (`partial(name)` gives their depth; an included partial's levels add to the levels around
/// the reference, and a partial block's content counts as nested in the whole partial).
/// Refuses, at the first place where it happens, nesting beyond [`MAX_BLOCK_DEPTH`],
/// [`MAX_LOOP_DEPTH`] or [`MAX_EXPRESSION_DEPTH`], and `[…]`/`{…}` literals in expressions.
/// Linear in the length of `src`, and never recursive.
pub fn measure(src: &str, partial: &dyn Fn(&str) -> Depth) -> Result<Depth, TooDeep> {
    let b = src.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut now = Depth::default();
    let mut max = Depth::default();
    let mut i = 0;
    while let Some(off) = memchr::memchr2(b'{', b'\\', b.get(i..).unwrap_or_default()) {
        let at = i + off;
        if b[at] == b'\\' {
            // `\{{` is literal text; two or more backslashes before `{{` are text, and the
            // tag is real.
            let run = b[at..].iter().take_while(|c| **c == b'\\').count();
            i = if run == 1 && b[at + 1..].starts_with(b"{{") {
                at + if b[at + 3..].starts_with(b"{{") { 5 } else { 3 }
            } else {
                at + run
            };
            continue;
        }
        if !b[at..].starts_with(b"{{") {
            i = at + 1;
            continue;
        }
        let fail = |message: String| TooDeep {
            line: line_at(b, at),
            message,
        };
        if b[at..].starts_with(b"{{!") {
            // Comments: `{{!-- … --}}`, or `{{! … }}`.
            let long = if b[at..].starts_with(b"{{!--") {
                find(b, at + 5, b"--}}").map(|e| e + 4)
            } else {
                None
            };
            i = long
                .or_else(|| find(b, at + 3, b"}}").map(|e| e + 2))
                .unwrap_or(b.len());
            continue;
        }
        if b[at..].starts_with(b"{{{{") {
            // A raw block: its text is not parsed, up to the next `{{{{`.
            let (_, end) = read_tag(b, at + 4).map_err(fail)?;
            let closing = b[at + 4..].iter().find(|c| !is_space(**c)) == Some(&b'/');
            i = if closing {
                end + if b[end..].starts_with(b"}}") { 2 } else { 0 }
            } else {
                find(b, end, b"{{{{").unwrap_or(b.len())
            };
            continue;
        }
        let (kind, end) = read_tag(b, at + 2).map_err(fail)?;
        i = end;
        let mut reach = now;
        match kind {
            Kind::Open { name, partial: p } => {
                let frame = if p {
                    let d = partial(name);
                    Frame {
                        blocks: 1 + d.blocks,
                        loops: d.loops,
                    }
                } else {
                    Frame {
                        blocks: 1,
                        loops: usize::from(name == "each"),
                    }
                };
                now.blocks += frame.blocks;
                now.loops += frame.loops;
                stack.push(frame);
                reach = now;
            }
            Kind::Close => {
                if let Some(f) = stack.pop() {
                    now.blocks -= f.blocks;
                    now.loops -= f.loops;
                }
            }
            Kind::Inverse(chained) => {
                // Each link of an else chain nests one level deeper in the engine.
                if let (Some(helper), Some(f)) = (chained, stack.last_mut()) {
                    f.blocks += 1;
                    now.blocks += 1;
                    if helper == "each" && f.loops == 0 {
                        f.loops = 1;
                        now.loops += 1;
                    }
                    reach = now;
                }
            }
            Kind::Partial(name) => {
                let d = partial(name);
                reach = Depth {
                    blocks: now.blocks + d.blocks,
                    loops: now.loops + d.loops,
                };
            }
            Kind::Other => {}
        }
        let via = match kind {
            Kind::Partial(name)
            | Kind::Open {
                name,
                partial: true,
            } => {
                format!(" (counting partial `{name}`)")
            }
            _ => String::new(),
        };
        if reach.blocks > MAX_BLOCK_DEPTH {
            return Err(fail(format!(
                "blocks (`{{{{#if}}}}`, `{{{{#each}}}}`, `{{{{else if}}}}`, …) nest more than \
                 {MAX_BLOCK_DEPTH} levels deep here{via}"
            )));
        }
        if reach.loops > MAX_LOOP_DEPTH {
            return Err(fail(format!(
                "`{{{{#each}}}}` loops nest more than {MAX_LOOP_DEPTH} levels deep here{via}; \
                 every level multiplies the work by the length of a list"
            )));
        }
        max.blocks = max.blocks.max(reach.blocks);
        max.loops = max.loops.max(reach.loops);
    }
    Ok(max)
}

// ---------------------------------------------------------------- render budget

/// Which budget a render ran out of, and what the budget was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Output(usize),
    Steps(u64),
    Time(Duration),
}

impl Exceeded {
    /// What to tell the template's author.
    pub fn message(self) -> String {
        match self {
            Exceeded::Output(bytes) => format!(
                "the rendered part would be larger than {} KiB; loop over less data",
                bytes / 1024
            ),
            Exceeded::Steps(steps) => format!(
                "rendering took more than {steps} steps (output pieces and loop iterations); \
                 loop over less data"
            ),
            Exceeded::Time(time) => format!(
                "rendering took longer than {} ms and was stopped; loop over less data",
                time.as_millis()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Meter {
    budget: Budget,
    steps_left: u64,
    deadline: Instant,
    exceeded: Option<Exceeded>,
}

thread_local! {
    /// The budget of the render running on this thread (a render never leaves its thread).
    static METER: Cell<Option<Meter>> = const { Cell::new(None) };
}

/// Takes `steps` from the running render's budget; the budget that ran out otherwise. Outside
/// a metered render, free.
fn charge(steps: u64) -> Result<(), Exceeded> {
    let Some(mut m) = METER.get() else {
        return Ok(());
    };
    let verdict = match m.exceeded {
        Some(e) => Err(e),
        None if m.steps_left < steps => Err(Exceeded::Steps(m.budget.steps)),
        None if Instant::now() >= m.deadline => Err(Exceeded::Time(m.budget.time)),
        None => Ok(()),
    };
    match verdict {
        Ok(()) => m.steps_left -= steps,
        Err(e) => m.exceeded = Some(e),
    }
    METER.set(Some(m));
    verdict
}

/// Output that refuses to grow past the budget's bytes and charges a step per piece.
struct BoundedOutput {
    buf: String,
    cap: usize,
}

impl Output for BoundedOutput {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        if self.buf.len() + seg.len() > self.cap {
            let e = Exceeded::Output(self.cap);
            if let Some(mut m) = METER.get() {
                m.exceeded.get_or_insert(e);
                METER.set(Some(m));
            }
            return Err(std::io::Error::other(e.message()));
        }
        charge(1).map_err(|e| std::io::Error::other(e.message()))?;
        self.buf.push_str(seg);
        Ok(())
    }
}

/// Why a budgeted render failed.
#[derive(Debug)]
pub enum RenderFailure {
    /// The template (or its data) is wrong: an unknown variable, a helper error…
    Template(RenderError),
    /// A budget ran out.
    Budget(Exceeded),
}

/// Renders template `name` of `registry` with `data` within `budget`. The registry should
/// have [`MeteredEach`] as its `each`, so that loops count even when they write nothing.
pub fn render_bounded(
    registry: &Handlebars<'_>,
    name: &str,
    data: &HbContext,
    budget: Budget,
) -> Result<String, RenderFailure> {
    let template = registry.get_template(name).ok_or_else(|| {
        RenderFailure::Template(RenderErrorReason::TemplateNotFound(name.to_string()).into())
    })?;
    let previous = METER.replace(Some(Meter {
        budget,
        steps_left: budget.steps,
        deadline: Instant::now() + budget.time,
        exceeded: None,
    }));
    let mut out = BoundedOutput {
        buf: String::new(),
        cap: budget.bytes,
    };
    let mut rc = RenderContext::new(template.name.as_ref());
    let result = template.render(registry, data, &mut rc, &mut out);
    let meter = METER.replace(previous);
    match (result, meter.and_then(|m| m.exceeded)) {
        (_, Some(e)) => Err(RenderFailure::Budget(e)),
        (Err(e), None) => Err(RenderFailure::Template(e)),
        (Ok(()), None) => Ok(out.buf),
    }
}

/// `{{#each}}` as the engine has it, with one step of the render budget charged per
/// iteration: a loop whose body writes nothing still uses up the budget.
pub struct MeteredEach;

fn meter_error(e: Exceeded) -> RenderError {
    RenderErrorReason::Other(e.message()).into()
}

impl HelperDef for MeteredEach {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc HbContext,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(template) = h.template() else {
            return Ok(());
        };
        // The items as (key, value); a list's keys are its indexes.
        let items: Vec<(Json, String, &Json)> = match value.value() {
            Json::Array(list) if !list.is_empty() || h.inverse().is_none() => list
                .iter()
                .enumerate()
                .map(|(i, v)| (to_json(i), i.to_string(), v))
                .collect(),
            Json::Object(obj) if !obj.is_empty() || h.inverse().is_none() => obj
                .iter()
                .map(|(k, v)| (to_json(k), k.clone(), v))
                .collect(),
            _ => {
                return match h.inverse() {
                    Some(inverse) => inverse.render(r, ctx, rc, out),
                    None if r.strict_mode() => {
                        Err(RenderError::strict_error(value.relative_path()))
                    }
                    None => Ok(()),
                };
            }
        };
        let is_object = value.value().is_object();
        let base_path = value.context_path();
        let mut block = BlockContext::new();
        match base_path {
            Some(p) => block.base_path_mut().clone_from(p),
            None => block.set_base_value(value.value().clone()),
        }
        rc.push_block(block);
        let len = items.len();
        for (i, (key, relative, v)) in items.into_iter().enumerate() {
            charge(1).map_err(meter_error)?;
            if let Some(block) = rc.block_mut() {
                block.set_local_var("first", to_json(i == 0));
                block.set_local_var("last", to_json(i + 1 == len));
                if is_object {
                    block.set_local_var("key", key.clone());
                }
                block.set_local_var("index", to_json(i));
                match base_path {
                    Some(p) if i == 0 => {
                        let mut path = p.clone();
                        path.push(relative);
                        *block.base_path_mut() = path;
                    }
                    Some(_) => {
                        if let Some(last) = block.base_path_mut().last_mut() {
                            *last = relative;
                        }
                    }
                    None => block.set_base_value(v.clone()),
                }
                let index = if is_object { key } else { to_json(i) };
                let mut params = BlockParams::new();
                let named = match (h.block_param(), h.block_param_pair()) {
                    (Some(value_name), _) => {
                        add_block_value(&mut params, value_name, base_path.is_some(), v)?;
                        true
                    }
                    (None, Some((value_name, key_name))) => {
                        add_block_value(&mut params, value_name, base_path.is_some(), v)?;
                        params.add_value(key_name, index)?;
                        true
                    }
                    (None, None) => false,
                };
                if named {
                    block.set_block_params(params);
                }
            }
            template.render(r, ctx, rc, out)?;
        }
        rc.pop_block();
        Ok(())
    }
}

fn add_block_value<'rc>(
    params: &mut BlockParams<'rc>,
    name: &'rc str,
    by_path: bool,
    v: &Json,
) -> Result<(), RenderError> {
    if by_path {
        params.add_path(name, Vec::new())
    } else {
        params.add_value(name, v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Depth {
        Depth::default()
    }

    fn depth(src: &str) -> Result<Depth, TooDeep> {
        measure(src, &none)
    }

    #[test]
    fn blocks_and_loops_are_counted_with_else_chains_and_partials() {
        assert_eq!(depth("plain text"), Ok(Depth::default()));
        assert_eq!(
            depth("{{#if a}}{{#each b}}{{x}}{{/each}}{{else}}y{{/if}}"),
            Ok(Depth {
                blocks: 2,
                loops: 1
            })
        );
        // Each link of an else chain is a level.
        assert_eq!(
            depth("{{#if a}}1{{else if b}}2{{else each c}}3{{/if}}").map(|d| d.blocks),
            Ok(3)
        );
        // Comments, escapes and raw blocks hold no tags.
        assert_eq!(
            depth("{{!-- {{#if a}} --}}{{! {{#if b}}}}\\{{#if c}}{{{{raw}}}}{{#if d}}{{{{/raw}}}}"),
            Ok(Depth::default())
        );
        // Two backslashes: the tag is real.
        assert_eq!(depth("\\\\{{#if c}}x{{/if}}").map(|d| d.blocks), Ok(1));
        // A partial's levels add to the levels where it is included.
        let partials = |name: &str| match name {
            "rows" => Depth {
                blocks: 2,
                loops: 2,
            },
            _ => Depth::default(),
        };
        assert_eq!(
            measure("{{#each a}}{{> rows}}{{/each}}", &partials),
            Ok(Depth {
                blocks: 3,
                loops: 3
            })
        );
        let e = measure(
            "{{#each a}}{{#each b}}{{> rows}}{{/each}}{{/each}}",
            &partials,
        )
        .expect_err("4 loops");
        assert!(
            e.message.contains("counting partial `rows`"),
            "{}",
            e.message
        );
        let e = measure(
            "{{#> rows}}{{#each a}}{{#each b}}x{{/each}}{{/each}}{{/rows}}",
            &partials,
        )
        .expect_err("4 loops through a partial block");
        assert!(
            e.message.contains("loops nest more than 3"),
            "{}",
            e.message
        );
    }

    #[test]
    fn nesting_beyond_the_limits_is_refused_at_its_line_whatever_the_size() {
        let ifs = |n: usize| format!("{}x{}", "{{#if a}}\n".repeat(n), "{{/if}}".repeat(n));
        assert_eq!(depth(&ifs(MAX_BLOCK_DEPTH)).map(|d| d.blocks), Ok(32));
        let e = depth(&ifs(2_000)).expect_err("too deep");
        assert_eq!(e.line, 33);
        assert!(e.message.contains("more than 32 levels"), "{}", e.message);
        let eaches = |n: usize| format!("{}x{}", "{{#each a}}".repeat(n), "{{/each}}".repeat(n));
        assert!(depth(&eaches(MAX_LOOP_DEPTH)).is_ok());
        assert!(depth(&eaches(4)).is_err());
        assert!(depth(&eaches(1_000)).is_err());
        let chain = format!("{{{{#if a}}}}{}{{{{/if}}}}", "{{else if b}}".repeat(300));
        assert!(depth(&chain).is_err());
        let parens = |n: usize| format!("{{{{x {}y{}}}}}", "(a ".repeat(n), ")".repeat(n));
        assert!(depth(&parens(MAX_EXPRESSION_DEPTH)).is_ok());
        let e = depth(&parens(10_000)).expect_err("too deep");
        assert!(e.message.contains("`(…)`"), "{}", e.message);
    }

    #[test]
    fn literals_cannot_hide_nesting() {
        // Closing parentheses in a string do not undo the opening ones around it.
        let sneaky = format!("{{{{x {}}}}}", "(a \"))))\" ".repeat(20));
        assert!(depth(&sneaky).is_err());
        // A `}}` in a string does not end the tag.
        let sneaky = format!("{{{{x \"}}}}\" {}}}}}", "(a ".repeat(20));
        assert!(depth(&sneaky).is_err());
        assert!(depth("{{x [[[[1]]]]}}").is_err());
        assert!(depth("{{x {\"a\": 1}}}").is_err());
        assert!(depth("{{x [\"]\"] y}}").is_err());
        // Keys in brackets, strings with brackets and triple-stash are fine.
        assert_eq!(
            depth("{{attributes.[my key]}} {{default x \"(:\"}} {{{y}}}"),
            Ok(Depth::default())
        );
    }

    #[test]
    fn the_metered_each_renders_like_the_engines_own() {
        let mut ours = Handlebars::new();
        ours.register_helper("each", Box::new(MeteredEach));
        let theirs = Handlebars::new();
        let data = serde_json::json!({
            "list": [{"n": "a"}, {"n": "b"}],
            "map": {"x": 1, "y": 2},
            "empty": [],
            "top": "T",
        });
        for src in [
            "{{#each list}}{{@index}}{{n}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}{{../top}}{{/each}}",
            "{{#each map}}{{@key}}={{this}}{{@index}},{{/each}}",
            "{{#each list as |item i|}}{{i}}:{{item.n}}{{/each}}",
            "{{#each map as |v k|}}{{k}}{{v}}{{/each}}",
            "{{#each empty}}x{{else}}none{{/each}}",
            "{{#each list}}{{#each ../map}}{{@../index}}{{@key}}{{/each}}{{/each}}",
        ] {
            assert_eq!(
                ours.render_template(src, &data).expect("ours"),
                theirs.render_template(src, &data).expect("theirs"),
                "{src}"
            );
        }
    }

    #[test]
    fn a_render_stops_when_its_output_steps_or_time_run_out() {
        let mut h = Handlebars::new();
        h.register_helper("each", Box::new(MeteredEach));
        let list: Vec<usize> = (0..20).collect();
        let data = HbContext::wraps(serde_json::json!({ "l": list })).expect("data");
        let small = Budget {
            bytes: 10_000,
            steps: 5_000,
            time: Duration::from_secs(3600),
        };
        let nested = |body: &str| {
            format!(
                "{{{{#each l}}}}{{{{#each ../l}}}}{{{{#each ../../l}}}}{body}{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}"
            )
        };
        h.register_template_string("big", nested("0123456789"))
            .expect("compiles");
        h.register_template_string("busy", nested(""))
            .expect("compiles");
        h.register_template_string("ok", "{{#each l}}.{{/each}}")
            .expect("compiles");
        let exceeded = |r: Result<String, RenderFailure>| match r {
            Err(RenderFailure::Budget(e)) => Some(e),
            _ => None,
        };
        assert_eq!(
            exceeded(render_bounded(&h, "big", &data, small)),
            Some(Exceeded::Output(10_000))
        );
        // Nothing written, but 8,420 iterations.
        assert_eq!(
            exceeded(render_bounded(&h, "busy", &data, small)),
            Some(Exceeded::Steps(5_000))
        );
        let no_time = Budget {
            time: Duration::ZERO,
            ..small
        };
        assert_eq!(
            exceeded(render_bounded(&h, "busy", &data, no_time)),
            Some(Exceeded::Time(Duration::ZERO))
        );
        assert_eq!(
            render_bounded(&h, "ok", &data, small).ok().map(|s| s.len()),
            Some(20)
        );
        // The budget is per render, and a template error stays a template error.
        assert!(render_bounded(&h, "ok", &data, small).is_ok());
        assert!(matches!(
            render_bounded(&h, "missing", &data, small),
            Err(RenderFailure::Template(_))
        ));
    }
}

#[cfg(test)]
mod never_panics {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The scanner reads API templates before handlebars does: no input may panic it.
        #[test]
        fn measuring_any_template_text_never_panics(
            src in r#"[{}\\!#/~^ a-z"'()=&-]{0,60}"#
        ) {
            let _ = super::measure(&src, &|_| super::Depth::default());
        }
    }
}
