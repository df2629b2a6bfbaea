//! Personalised content: the template registry (shipped files under `templates/` and versions
//! created through the API), selection of the best template for one account and stakeholder
//! with the reasons every other candidate lost, and rendering with a typed context.
//!
//! Layers: this module, [`render`] and [`lint`] are plain data; [`context`] (batch loading of
//! render contexts), [`library`] (the compiled template cache) and [`service`] touch the
//! database and return [`ContentError`]; [`routes`] is HTTP only.

pub mod context;
pub mod error;
pub mod library;
pub mod limits;
pub mod lint;
pub mod render;
pub mod routes;
pub mod service;

pub use error::ContentError;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::segments::rules::{Facts, Rule};

pub use crate::domain::kinds::{Channel, OfferKind, Purpose};

/// The parts a channel needs (`None` for an unknown channel name).
pub fn parts_of(channel: &str) -> Option<&'static [&'static str]> {
    Channel::parse(channel).map(Channel::parts)
}

/// `en`, `vi`, `pt-BR`, `zh-Hant-TW`: a language code (2–3 lowercase letters) and optional
/// subtags of 2–8 letters or digits (in canonical form, see [`canonical_locale`]).
pub fn valid_locale(s: &str) -> bool {
    let mut it = s.split('-');
    let lang = it.next().unwrap_or("");
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && it.all(|t| (2..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The canonical form of a language tag (`_` read as `-`): language in lower case, a script
/// in title case, a region in upper case — `vi_vn` → `vi-VN`, `zh-hant-tw` → `zh-Hant-TW`.
pub fn canonical_locale(s: &str) -> String {
    let s = s.trim().replace('_', "-");
    s.split('-')
        .enumerate()
        .map(|(i, t)| match (i, t.len()) {
            (0, _) => t.to_lowercase(),
            (_, 4) if t.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let lower = t.to_lowercase();
                let mut c = lower.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            (_, 2) if t.bytes().all(|b| b.is_ascii_alphabetic()) => t.to_uppercase(),
            _ => t.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Shipped in the templates folder (read-only through the API).
    File { dir: String },
    /// Created through the API; `version` is the one in use.
    Database { version: i32 },
}

/// One template: metadata, its `when` rule and the Handlebars source of each part.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub purpose: Purpose,
    pub channel: Channel,
    pub locale: String,
    pub priority: i32,
    pub when: Rule,
    pub description: Option<String>,
    /// Part name (`subject`, `html`, `text`, `body.json`, `task`) → source.
    pub parts: BTreeMap<String, String>,
    pub origin: Origin,
}

impl Template {
    /// The file (or API path) a part comes from, for messages.
    pub fn part_path(&self, part: &str) -> String {
        match &self.origin {
            Origin::File { dir } => format!("{dir}/{part}.hbs"),
            Origin::Database { version } => {
                format!("templates/{}@v{version}/parts/{part}", self.id)
            }
        }
    }
}

/// A problem found in a template file: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TemplateProblem)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// `template.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    id: Option<String>,
    purpose: toml::Spanned<String>,
    channel: toml::Spanned<String>,
    locale: toml::Spanned<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    when: Option<toml::Spanned<String>>,
    description: Option<String>,
}

fn line_of(src: &str, offset: usize) -> usize {
    // Bytes, not a `str` slice: an offset inside a character must not panic.
    let before = &src.as_bytes()[..offset.min(src.len())];
    before.iter().filter(|b| **b == b'\n').count() + 1
}

/// What was read from a templates folder.
#[derive(Debug, Default)]
pub struct Loaded {
    pub templates: Vec<Template>,
    /// Partial name → (file, source).
    pub partials: BTreeMap<String, (String, String)>,
    pub problems: Vec<Problem>,
    /// Templates with problems, left out of `templates` but still checked by lint.
    pub broken: Vec<Template>,
}

/// Reads every template folder and `_partials/` under `dir`. Broken templates are left out and
/// reported; a missing folder is an empty library.
pub fn load_dir(dir: &Path) -> Loaded {
    let mut out = Loaded::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "_partials" {
            load_partials(&folder, &mut out);
        } else if !name.starts_with('_') && !name.starts_with('.') {
            let before = out.problems.len();
            if let Some(t) = load_template(&folder, &name, &mut out.problems) {
                if out.problems.len() == before {
                    out.templates.push(t);
                } else {
                    out.broken.push(t);
                }
            }
        }
    }
    out
}

fn load_partials(folder: &Path, out: &mut Loaded) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let shown = file.display().to_string();
        let Some(stem) = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".hbs"))
        else {
            continue;
        };
        match std::fs::read_to_string(&file) {
            Ok(src) => {
                out.partials.insert(stem.to_string(), (shown, src));
            }
            Err(e) => out.problems.push(Problem {
                file: shown,
                line: 1,
                message: format!("cannot read: {e}"),
            }),
        }
    }
}

fn load_template(folder: &Path, name: &str, problems: &mut Vec<Problem>) -> Option<Template> {
    let meta_path = folder.join("template.toml");
    let meta_file = meta_path.display().to_string();
    let problem = |line: usize, message: String| Problem {
        file: meta_file.clone(),
        line,
        message,
    };
    let src = match std::fs::read_to_string(&meta_path) {
        Ok(s) => s,
        Err(e) => {
            problems.push(problem(
                1,
                format!("missing or unreadable template.toml: {e}"),
            ));
            return None;
        }
    };
    let meta: Meta = match toml::from_str(&src) {
        Ok(m) => m,
        Err(e) => {
            let line = e.span().map(|s| line_of(&src, s.start)).unwrap_or(1);
            problems.push(problem(line, e.message().to_string()));
            return None;
        }
    };
    let id = meta.id.clone().unwrap_or_else(|| name.to_string());
    if id != name {
        problems.push(problem(
            1,
            format!("id `{id}` must equal the folder name `{name}`"),
        ));
    }
    let at = |s: &toml::Spanned<String>| line_of(&src, s.span().start);
    let purpose = Purpose::parse(meta.purpose.get_ref());
    if purpose.is_none() {
        problems.push(problem(
            at(&meta.purpose),
            format!(
                "unknown purpose `{}`; purposes are {}",
                meta.purpose.get_ref(),
                Purpose::names()
            ),
        ));
    }
    let Some(channel) = Channel::parse(meta.channel.get_ref()) else {
        problems.push(problem(
            at(&meta.channel),
            format!(
                "unknown channel `{}`; channels are email, webhook, task",
                meta.channel.get_ref()
            ),
        ));
        return None;
    };
    let needed = channel.parts();
    if !valid_locale(&canonical_locale(meta.locale.get_ref())) {
        problems.push(problem(
            at(&meta.locale),
            format!(
                "`{}` is not a locale such as en or vi",
                meta.locale.get_ref()
            ),
        ));
    }
    let when = match &meta.when {
        None => Rule::always(),
        Some(w) if w.get_ref().trim().is_empty() => Rule::always(),
        Some(w) => match Rule::parse_text(w.get_ref()) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(at(w), format!("bad `when` rule: {e}")));
                Rule::always()
            }
        },
    };
    let dir = folder.display().to_string();
    let mut parts = BTreeMap::new();
    for part in needed {
        let path = folder.join(format!("{part}.hbs"));
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                parts.insert(part.to_string(), s);
            }
            Err(_) => problems.push(Problem {
                file: path.display().to_string(),
                line: 1,
                message: format!(
                    "missing part `{part}.hbs` (the {channel} channel needs {})",
                    needed
                        .iter()
                        .map(|p| format!("{p}.hbs"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    // A part the channel does not use is most likely a mistake (e.g. `html.hbs` on a task).
    if let Ok(entries) = std::fs::read_dir(folder) {
        let mut extra: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter_map(|n| n.strip_suffix(".hbs").map(String::from))
            .filter(|p| !needed.contains(&p.as_str()))
            .collect();
        extra.sort();
        for p in extra {
            problems.push(Problem {
                file: folder.join(format!("{p}.hbs")).display().to_string(),
                line: 1,
                message: format!("`{p}.hbs` is not a part of the {channel} channel"),
            });
        }
    }
    Some(Template {
        id,
        purpose: purpose?,
        channel,
        locale: canonical_locale(meta.locale.get_ref()),
        priority: meta.priority,
        when,
        description: meta.description,
        parts,
        origin: Origin::File { dir },
    })
}

/// Why one candidate was or was not chosen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub id: String,
    pub locale: String,
    pub priority: i32,
    /// Conditions in its `when` rule (more is more specific).
    pub conditions: usize,
    /// Its `when` rule held.
    pub matched: bool,
    /// `chosen`, or why it lost.
    pub outcome: String,
}

/// The outcome of a selection: the chosen template (or none) and every candidate's story.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Selection {
    pub purpose: String,
    pub channel: String,
    /// Locales tried, in order, with where each came from.
    pub locales: Vec<String>,
    pub chosen: Option<String>,
    /// One sentence: why this template, or why none.
    pub explanation: String,
    pub candidates: Vec<Candidate>,
}

/// Locales to try: the stakeholder's language, the account's, then the default; a tag is
/// followed by its shorter forms (`vi-VN`, then `vi`), and repeats are dropped.
pub fn locale_chain(
    stakeholder: Option<&str>,
    account: Option<&str>,
    default: &str,
) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (l, why) in [
        (stakeholder, "the stakeholder's language"),
        (account, "the account's language"),
        (Some(default), "the default locale"),
    ] {
        let Some(l) = l.map(canonical_locale).filter(|l| !l.is_empty()) else {
            continue;
        };
        // RFC 4647 lookup: drop subtags from the right (zh-Hant-TW, zh-Hant, zh).
        let tags: Vec<&str> = l.split('-').collect();
        for n in (1..=tags.len()).rev() {
            let candidate = tags[..n].join("-");
            if !out.iter().any(|(x, _)| *x == candidate) {
                out.push((candidate, why));
            }
        }
    }
    out
}

/// Picks the template for `purpose` and `channel`: the first locale of `locales` with a
/// template whose `when` holds, then the most conditions, then the highest priority, then the
/// smallest id.
pub fn select<'a>(
    templates: impl Iterator<Item = &'a Template> + Clone,
    purpose: Purpose,
    channel: Channel,
    locales: &[(String, &'static str)],
    facts: &Facts,
) -> Selection {
    let mut candidates = Vec::new();
    let mut chosen = None;
    let mut explanation = String::new();
    for (locale, why_locale) in locales {
        let mut here: Vec<(&Template, bool)> = templates
            .clone()
            .filter(|t| {
                t.purpose == purpose
                    && t.channel == channel
                    && canonical_locale(&t.locale) == *locale
            })
            .map(|t| (t, t.when.matches(facts)))
            .collect();
        if here.is_empty() {
            continue;
        }
        // Best first: matched, most conditions, highest priority, smallest id.
        here.sort_by(|(a, am), (b, bm)| {
            bm.cmp(am)
                .then(b.when.conditions().cmp(&a.when.conditions()))
                .then(b.priority.cmp(&a.priority))
                .then(a.id.cmp(&b.id))
        });
        let winner = here.first().filter(|(_, m)| *m).map(|(t, _)| *t);
        for (t, matched) in &here {
            let outcome = match winner {
                _ if !matched => format!("`when` does not hold: {}", t.when.to_text()),
                Some(w) if w.id == t.id => "chosen".to_string(),
                Some(w) if w.when.conditions() > t.when.conditions() => format!(
                    "less specific: {} condition(s) against {} of `{}`",
                    t.when.conditions(),
                    w.when.conditions(),
                    w.id
                ),
                Some(w) if w.priority > t.priority => format!(
                    "lower priority: {} against {} of `{}`",
                    t.priority, w.priority, w.id
                ),
                Some(w) => format!(
                    "same specificity and priority as `{}`, which sorts first by id",
                    w.id
                ),
                None => "`when` does not hold".to_string(),
            };
            candidates.push(Candidate {
                id: t.id.clone(),
                locale: t.locale.clone(),
                priority: t.priority,
                conditions: t.when.conditions(),
                matched: *matched,
                outcome,
            });
        }
        if let Some(w) = winner {
            explanation = format!(
                "`{}`: locale {locale} ({why_locale}), its `when` holds ({} condition(s), priority {})",
                w.id,
                w.when.conditions(),
                w.priority
            );
            chosen = Some(w.id.clone());
            break;
        }
    }
    if chosen.is_none() {
        let tried: Vec<&str> = locales.iter().map(|(l, _)| l.as_str()).collect();
        explanation = if candidates.is_empty() {
            format!(
                "no template: none for purpose {purpose}, channel {channel} in locale(s) {}",
                tried.join(", ")
            )
        } else {
            format!(
                "no template: no `when` holds among the {} candidate(s) for purpose {purpose}, \
                 channel {channel} in locale(s) {}",
                candidates.len(),
                tried.join(", ")
            )
        };
    }
    Selection {
        purpose: purpose.to_string(),
        channel: channel.to_string(),
        locales: locales
            .iter()
            .map(|(l, why)| format!("{l} ({why})"))
            .collect(),
        chosen,
        explanation,
        candidates,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod service_tests;
