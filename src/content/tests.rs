use std::collections::BTreeMap;
use std::path::Path;

use super::context::samples;
use super::render::Library;
use super::*;

fn email(id: &str, locale: &str, priority: i32, when: &str) -> Template {
    Template {
        id: id.into(),
        purpose: Purpose::Outreach,
        channel: Channel::Email,
        locale: locale.into(),
        priority,
        when: Rule::parse_text(when).expect("rule"),
        description: None,
        parts: [
            ("subject", "Hello {{account.name}}"),
            ("html", "<p>{{account.name}}</p>"),
            ("text", "{{account.name}}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        origin: Origin::Database { version: 1 },
    }
}

fn facts(abc: &str, lost: bool) -> Facts {
    let mut f = Facts::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("date"));
    f.set("abc", Some(abc.to_string()));
    f.set("lost", lost);
    f
}

fn chain(s: Option<&str>, a: Option<&str>) -> Vec<(String, &'static str)> {
    locale_chain(s, a, "en")
}

#[test]
fn the_most_specific_then_highest_priority_then_smallest_id_wins() {
    let ts = [
        email("general", "en", 0, "true"),
        email("a-one", "en", 5, "abc = A"),
        email("a-two", "en", 9, "abc = A"),
        email("a-lost", "en", 1, "abc = A and lost = true"),
        email("b-only", "en", 99, "abc = B"),
        email("z-tie", "en", 9, "abc in (A, B)"),
    ];
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(None, None),
        &facts("A", true),
    );
    assert_eq!(s.chosen.as_deref(), Some("a-lost"));
    let outcome = |id: &str| {
        s.candidates
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.outcome.clone())
            .expect(id)
    };
    assert_eq!(outcome("a-lost"), "chosen");
    assert_eq!(
        outcome("a-two"),
        "less specific: 1 condition(s) against 2 of `a-lost`"
    );
    assert_eq!(outcome("b-only"), "`when` does not hold: abc = B");
    assert!(
        s.explanation
            .starts_with("`a-lost`: locale en (the default locale)"),
        "{}",
        s.explanation
    );

    // Without `lost`: a-two and z-tie have one condition and priority 9; the id decides.
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(None, None),
        &facts("A", false),
    );
    assert_eq!(s.chosen.as_deref(), Some("a-two"));
    let z = s.candidates.iter().find(|c| c.id == "z-tie").expect("z");
    assert_eq!(
        z.outcome,
        "same specificity and priority as `a-two`, which sorts first by id"
    );
    let one = s
        .candidates
        .iter()
        .find(|c| c.id == "a-one")
        .expect("a-one");
    assert_eq!(one.outcome, "lower priority: 5 against 9 of `a-two`");
}

#[test]
fn locales_fall_back_from_stakeholder_to_account_to_default() {
    let ts = [
        email("en-any", "en", 0, "true"),
        email("vi-a", "vi", 0, "abc = A"),
        email("fr-any", "fr", 0, "true"),
    ];
    // The stakeholder speaks vi and a vi template holds.
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(Some("vi"), Some("fr")),
        &facts("A", false),
    );
    assert_eq!(s.chosen.as_deref(), Some("vi-a"));
    assert_eq!(
        s.locales,
        vec![
            "vi (the stakeholder's language)",
            "fr (the account's language)",
            "en (the default locale)"
        ]
    );
    // No vi template holds: the account's language is next.
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(Some("vi"), Some("fr")),
        &facts("B", false),
    );
    assert_eq!(s.chosen.as_deref(), Some("fr-any"));
    assert_eq!(
        s.candidates[0].id, "vi-a",
        "the vi candidate is listed with why it lost"
    );
    // Unknown languages fall through to the default.
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(Some("de"), None),
        &facts("B", false),
    );
    assert_eq!(s.chosen.as_deref(), Some("en-any"));
    // Same language twice is tried once.
    assert_eq!(chain(Some("EN"), Some("en")).len(), 1);
    // A regional tag falls back to its language: vi-VN (any case or `_`) finds the vi template.
    let c = chain(Some("vi_vn"), None);
    assert_eq!(
        c.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        vec!["vi-VN", "vi", "en"]
    );
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &c,
        &facts("A", false),
    );
    assert_eq!(s.chosen.as_deref(), Some("vi-a"));
    let c = chain(Some("zh-hant-tw"), None);
    assert_eq!(
        c.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        vec!["zh-Hant-TW", "zh-Hant", "zh", "en"]
    );
    assert!(valid_locale(&canonical_locale("zh_hant_TW")));
    assert!(!valid_locale(&canonical_locale("english")));
}

#[test]
fn no_match_is_an_explicit_outcome() {
    let ts = [email("a-only", "en", 0, "abc = A")];
    let s = select(
        ts.iter(),
        Purpose::Outreach,
        Channel::Email,
        &chain(None, None),
        &facts("C", false),
    );
    assert_eq!(s.chosen, None);
    assert!(
        s.explanation
            .starts_with("no template: no `when` holds among the 1 candidate(s)"),
        "{}",
        s.explanation
    );
    let s = select(
        ts.iter(),
        Purpose::Winback,
        Channel::Email,
        &chain(None, None),
        &facts("A", false),
    );
    assert_eq!(s.chosen, None);
    assert!(
        s.explanation
            .starts_with("no template: none for purpose winback"),
        "{}",
        s.explanation
    );
}

#[test]
fn hostile_data_is_escaped_in_html_only() {
    let (lib, problems) = Library::build(vec![email("t", "en", 0, "true")], &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    let (_, mut ctx) = samples("en").remove(0);
    ctx.account.name = "<script>alert('x')</script> & Co".into();
    let out = lib.render("t", &ctx).expect("render");
    assert_eq!(
        out["html"],
        "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co</p>"
    );
    assert_eq!(out["subject"], "Hello <script>alert('x')</script> & Co");
}

#[test]
fn webhook_bodies_escape_values_inside_json_strings() {
    let mut t = email("hook", "en", 0, "true");
    t.channel = Channel::Webhook;
    t.parts = [(
        "body.json".to_string(),
        "{\"who\": \"{{stakeholder.name}}\", \"account\": {{json account.name}}, \"n\": {{json analytics.orders}}}"
            .to_string(),
    )]
    .into_iter()
    .collect();
    let (lib, problems) = Library::build(vec![t], &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    let (_, mut ctx) = samples("en").remove(0);
    let hostile = "x\",\"role\":\"admin\\\n";
    if let Some(s) = ctx.stakeholder.as_mut() {
        s.name = hostile.into();
    }
    let out = lib.render("hook", &ctx).expect("render");
    let body: serde_json::Value = serde_json::from_str(&out["body.json"]).expect("valid JSON");
    assert_eq!(body["who"], hostile);
    assert_eq!(body["account"], ctx.account.name.as_str());
    assert_eq!(body["n"], 42);
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(3),
        "no injected key"
    );
}

#[test]
fn helpers_escape_their_results_too() {
    let mut t = email("t", "vi", 0, "true");
    t.parts.insert(
        "html".into(),
        "{{default account.industry \"<i>none</i>\"}}|{{join analytics.types \", \"}}|{{money analytics.revenue}}|{{date today}}|{{percent analytics.value_share}}|{{plural analytics.orders \"đơn\" \"đơn\"}}".into(),
    );
    let (lib, problems) = Library::build(vec![t], &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    let (_, mut ctx) = samples("vi").remove(1);
    ctx.analytics.types = vec!["<b>".into(), "x".into()];
    ctx.locale = "vi".into();
    ctx.account.currency = "VND".into();
    ctx.analytics.revenue = 12_345_678;
    ctx.analytics.value_share = Some(0.125);
    ctx.analytics.orders = 3;
    let out = lib.render("t", &ctx).expect("render");
    assert_eq!(
        out["html"],
        "&lt;i&gt;none&lt;/i&gt;|&lt;b&gt;, x|12.345.678 ₫|ngày 27 tháng 11 năm 2026|12,5 %|3 đơn"
    );
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
}

const META: &str = "purpose = \"outreach\"\nchannel = \"email\"\nlocale = \"en\"\n";

#[test]
fn lint_reports_each_kind_of_mistake_with_file_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    write(
        d,
        &[
            ("_partials/footer.hbs", "<p>{{links.unsubscribe}}</p>"),
            ("_partials/raw.hbs", "{{~{account.name}~}}"),
            ("_partials/loop_a.hbs", "{{> loop_b}}"),
            ("_partials/loop_b.hbs", "{{#> loop_a}}x{{/loop_a}}"),
            ("spaced/template.toml", META),
            ("spaced/subject.hbs", "x"),
            ("spaced/html.hbs", "<h1>{{ &account.name }}</h1>"),
            ("spaced/text.hbs", "x"),
            ("inline/template.toml", META),
            ("inline/subject.hbs", "x"),
            ("inline/html.hbs", "x"),
            (
                "inline/text.hbs",
                "{{#*inline \"r\"}}{{> r}}{{/inline}}{{> r}}",
            ),
            ("nopartial/template.toml", META),
            ("nopartial/subject.hbs", "x"),
            ("nopartial/html.hbs", "{{> footr}}"),
            ("nopartial/text.hbs", "x"),
            (
                "rawjson/template.toml",
                "purpose = \"event_notification\"\nchannel = \"webhook\"\nlocale = \"en\"\n",
            ),
            (
                "rawjson/body.json.hbs",
                "{\"n\": \"{{{dossier.profile.description}}}\"}",
            ),
            ("amp/template.toml", META),
            ("amp/subject.hbs", "x"),
            ("amp/html.hbs", "{{&account.name}}"),
            ("amp/text.hbs", "x"),
            ("good/template.toml", META),
            ("good/subject.hbs", "Hi {{account.name}}"),
            ("good/html.hbs", "{{> footer}}"),
            (
                "good/text.hbs",
                "{{#if stakeholder}}{{stakeholder.first_name}}{{/if}}",
            ),
            ("typo/template.toml", META),
            ("typo/subject.hbs", "Hi"),
            ("typo/html.hbs", "<p>\n{{account.nmae}}</p>"),
            ("typo/text.hbs", "x"),
            ("nopart/template.toml", META),
            ("nopart/subject.hbs", "x"),
            ("nopart/html.hbs", "x"),
            (
                "badwhen/template.toml",
                &format!("{META}priority = 1\nwhen = \"abc = Q\"\n"),
            ),
            ("badwhen/subject.hbs", "x"),
            ("badwhen/html.hbs", "x"),
            ("badwhen/text.hbs", "x"),
            ("nohelper/template.toml", META),
            ("nohelper/subject.hbs", "x"),
            ("nohelper/html.hbs", "x"),
            ("nohelper/text.hbs", "a\nb\n{{shout account.name}}"),
            ("syntax/template.toml", META),
            ("syntax/subject.hbs", "x"),
            ("syntax/html.hbs", "{{#if account.name}}open"),
            ("syntax/text.hbs", "x"),
            ("raw/template.toml", META),
            ("raw/subject.hbs", "x"),
            ("raw/html.hbs", "ok\n{{{account.name}}}"),
            ("raw/text.hbs", "x"),
            (
                "json/template.toml",
                "purpose = \"event_notification\"\nchannel = \"webhook\"\nlocale = \"vi\"\n",
            ),
            ("json/body.json.hbs", "{\"name\": {{account.name}}}"),
            ("wrongid/template.toml", &format!("id = \"other\"\n{META}")),
            ("wrongid/subject.hbs", "x"),
            ("wrongid/html.hbs", "x"),
            ("wrongid/text.hbs", "x"),
            ("extra/template.toml", META),
            ("extra/subject.hbs", "x"),
            ("extra/html.hbs", "x"),
            ("extra/text.hbs", "x"),
            ("extra/task.hbs", "x"),
            ("nullguard/template.toml", META),
            ("nullguard/subject.hbs", "x"),
            ("nullguard/html.hbs", "x"),
            ("nullguard/text.hbs", "{{stakeholder.first_name}}"),
        ],
    );
    let problems = lint::lint_dir(d);
    let shown: Vec<String> = problems
        .iter()
        .map(|p| {
            let file = p
                .file
                .strip_prefix(&format!("{}/", d.display()))
                .unwrap_or(&p.file);
            format!("{file}:{}: {}", p.line, p.message)
        })
        .collect();
    let has = |prefix: &str, needle: &str| {
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with(prefix) && s.contains(needle)),
            "expected `{prefix}` … `{needle}` in:\n{}",
            shown.join("\n")
        );
    };
    has("typo/html.hbs:2:", "unknown variable `account.nmae`");
    has("nopart/text.hbs:1:", "missing part `text.hbs`");
    has(
        "badwhen/template.toml:5:",
        "bad `when` rule: column 7: `Q` is not a value of `abc`",
    );
    has("nohelper/text.hbs:3:", "unknown helper `shout`");
    has("syntax/html.hbs:1:", "invalid handlebars syntax");
    has(
        "raw/html.hbs:2:",
        "`{{{…` writes data without HTML escaping",
    );
    has(
        "amp/html.hbs:1:",
        "`{{&…` writes data without HTML escaping",
    );
    has(
        "_partials/raw.hbs:1:",
        "`{{~{…` writes data without HTML escaping",
    );
    has("json/body.json.hbs:1:", "not valid JSON");
    has("wrongid/template.toml:1:", "must equal the folder name");
    has("extra/task.hbs:1:", "not a part of the email channel");
    has("nullguard/text.hbs:1:", "guard them with `{{#if …}}`");
    assert!(
        !shown.iter().any(|s| s.starts_with("good/")),
        "the good template is clean:\n{}",
        shown.join("\n")
    );
    assert_eq!(shown.len(), 19, "{}", shown.join("\n"));
}

#[test]
fn the_shipped_library_lints_clean_and_covers_both_languages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let problems = lint::lint_dir(&dir);
    assert!(problems.is_empty(), "{problems:#?}");
    let loaded = load_dir(&dir);
    for purpose in Purpose::ALL {
        for locale in ["en", "vi"] {
            assert!(
                loaded
                    .templates
                    .iter()
                    .any(|t| t.purpose == *purpose && t.locale == locale),
                "{purpose} in {locale}"
            );
        }
    }
}

#[test]
fn subjects_stay_one_line_whatever_the_data() {
    let (lib, problems) = Library::build(vec![email("t", "en", 0, "true")], &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    let (_, mut ctx) = samples("en").remove(0);
    ctx.account.name = "Acme Corp\r\nBcc: victim@example.com\u{1b}[0m".into();
    let out = lib.render("t", &ctx).expect("render");
    assert_eq!(
        out["subject"],
        "Hello Acme Corp Bcc: victim@example.com [0m"
    );
    // The body keeps the text as it is (escaped in HTML, line breaks and all).
    assert_eq!(out["text"], ctx.account.name);
}

#[test]
fn sources_nesting_too_deep_are_refused_before_the_engine_parses_them() {
    let deep_ifs = format!(
        "{}x{}",
        "{{#if account.name}}\n".repeat(2_000),
        "{{/if}}".repeat(2_000)
    );
    let deep_loops = format!(
        "{}x{}",
        "{{#each dossier.competitors}}".repeat(1_000),
        "{{/each}}".repeat(1_000)
    );
    let mut ifs = email("ifs", "en", 0, "true");
    ifs.parts.insert("html".into(), deep_ifs.clone());
    let mut loops = email("loops", "en", 0, "true");
    loops.parts.insert("text".into(), deep_loops);
    // Two loops here and two in the partial: four levels.
    let mut via = email("via", "en", 0, "true");
    via.parts.insert(
        "text".into(),
        "{{#each dossier.competitors}}{{#each dossier.decision_map}}{{> rows}}{{/each}}{{/each}}"
            .into(),
    );
    let partials: BTreeMap<String, (String, String)> = [
        (
            "rows".to_string(),
            (
                "_partials/rows.hbs".to_string(),
                "{{#each dossier.competitors}}{{#each dossier.relationships}}.{{/each}}{{/each}}"
                    .to_string(),
            ),
        ),
        (
            "deep".to_string(),
            ("_partials/deep.hbs".to_string(), deep_ifs),
        ),
    ]
    .into_iter()
    .collect();
    let (lib, problems) = Library::build(
        vec![ifs, loops, via, email("fine", "en", 0, "true")],
        &partials,
    );
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let has = |prefix: &str, needle: &str| {
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with(prefix) && s.contains(needle)),
            "expected `{prefix}` … `{needle}` in:\n{}",
            shown.join("\n")
        );
    };
    has(
        "templates/ifs@v1/parts/html:33:",
        "nest more than 32 levels",
    );
    has(
        "templates/loops@v1/parts/text:1:",
        "loops nest more than 3 levels",
    );
    has(
        "templates/via@v1/parts/text:1:",
        "loops nest more than 3 levels deep here (counting partial `rows`)",
    );
    has("_partials/deep.hbs:33:", "nest more than 32 levels");
    assert_eq!(shown.len(), 4, "{}", shown.join("\n"));
    let kept: Vec<&str> = lib.templates.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(kept, ["fine"]);
}

#[test]
fn lint_reports_too_deep_nesting_in_files() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let eaches = format!(
        "{}x{}",
        "{{#each dossier.competitors}}\n".repeat(4),
        "{{/each}}".repeat(4)
    );
    write(
        d,
        &[
            ("deep/template.toml", META),
            ("deep/subject.hbs", "x"),
            ("deep/html.hbs", "x"),
            ("deep/text.hbs", &eaches),
        ],
    );
    let problems = lint::lint_dir(d);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].file.ends_with("deep/text.hbs"), "{problems:?}");
    assert_eq!(problems[0].line, 4);
    assert!(
        problems[0].message.contains("loops nest more than 3"),
        "{problems:?}"
    );
}

#[test]
fn a_render_over_large_data_stops_with_a_clear_problem() {
    let mut t = email("wide", "en", 0, "true");
    t.parts.insert(
        "text".into(),
        "{{#each account.attributes}}{{#each ../account.attributes}}{{#each ../../account.attributes}}\
         {{@key}} {{this}} and some more text to make it long\n{{/each}}{{/each}}{{/each}}"
            .into(),
    );
    let (lib, problems) = Library::build(vec![t], &BTreeMap::new());
    assert!(problems.is_empty(), "{problems:?}");
    let (_, mut ctx) = samples("en").remove(0);
    ctx.account.attributes = (0..40)
        .map(|i| (format!("attribute_{i}"), serde_json::json!(i)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let p = lib.render("wide", &ctx).expect_err("too large");
    assert_eq!(p.file, "templates/wide@v1/parts/text");
    assert!(p.message.contains("larger than 1024 KiB"), "{p}");
}
