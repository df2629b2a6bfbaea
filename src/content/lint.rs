//! `abm templates lint`: loads every template, compiles it and renders it against generated
//! contexts (a full one and a bare one, in the template's locale), reporting each problem as
//! `file:line: message` — unknown variables, missing parts, bad `when` rules, unknown helpers,
//! syntax errors, unescaped HTML and webhook bodies that are not JSON.

use std::collections::BTreeMap;
use std::path::Path;

use super::context::samples;
use super::render::Library;
use super::{Problem, Template, load_dir};

/// Every problem of the templates folder, sorted and without repeats.
pub fn lint_dir(dir: &Path) -> Vec<Problem> {
    let loaded = load_dir(dir);
    let mut problems = loaded.problems;
    if !dir.is_dir() {
        problems.push(Problem {
            file: dir.display().to_string(),
            line: 1,
            message: "not a folder".into(),
        });
    }
    let mut all = loaded.templates;
    all.extend(loaded.broken);
    problems.extend(check(all, &loaded.partials));
    problems.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    problems.dedup();
    problems
}

/// Compiles `templates` with `partials` and renders each against the sample contexts.
pub fn check(
    templates: Vec<Template>,
    partials: &BTreeMap<String, (String, String)>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let (library, compile) = Library::build(templates, partials);
    problems.extend(compile);
    for t in &library.templates {
        for (name, mut ctx) in samples(&t.locale) {
            ctx.locale = t.locale.clone();
            let data = match handlebars::Context::wraps(&ctx) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(Problem {
                        file: t.id.clone(),
                        line: 1,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let results = library.render_parts(&t.id, &data).unwrap_or_default();
            for result in results {
                match result {
                    // The same mistake seen with both contexts is reported once.
                    Err(p)
                        if problems
                            .iter()
                            .any(|q| q.file == p.file && q.line == p.line) => {}
                    Err(p) => {
                        let hint = if name == "bare" {
                            "; `stakeholder`, `manager`, `offer` and `event` may be null and \
                             lists empty: guard them with `{{#if …}}`"
                        } else {
                            ""
                        };
                        problems.push(Problem {
                            message: format!(
                                "{} (rendering with the {name} sample context{hint})",
                                p.message
                            ),
                            ..p
                        })
                    }
                    Ok((part, body)) if part == "body.json" => {
                        let file = t.part_path("body.json");
                        if let Err(e) = serde_json::from_str::<serde_json::Value>(&body)
                            && !problems.iter().any(|q| q.file == file)
                        {
                            problems.push(Problem {
                                file,
                                line: 1,
                                message: format!(
                                    "the rendered body is not valid JSON with the {name} sample \
                                     context (output line {}: {e}); wrap every value in \
                                     `{{{{json …}}}}`",
                                    e.line()
                                ),
                            });
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    problems
}
