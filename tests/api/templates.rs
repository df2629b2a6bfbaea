//! Templates over HTTP: preview (selection with its explanation, rendering with hostile data),
//! the shipped library, and versioned API templates.

use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, paths, problem, spawn_app};

async fn stakeholder(app: &TestApp, account: &str, body: serde_json::Value) -> i64 {
    let s = json_of(
        app.post(&format!("/api/v1/accounts/{account}/stakeholders"), &body)
            .await,
        201,
    )
    .await;
    s["id"].as_i64().expect("id")
}

async fn preview_picks_by_language_explains_and_escapes_hostile_data(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account(
        "EVIL",
        json!({"name": "<script>alert(1)</script> Đại Việt", "country": "VN", "currency": "VND"}),
    )
    .await;
    let lan = stakeholder(
        &app,
        "EVIL",
        json!({"name": "Nguyễn Thị Lan", "role": "decision_maker", "language": "vi", "email": "lan@example.vn"}),
    )
    .await;
    let bob = stakeholder(
        &app,
        "EVIL",
        json!({"name": "Bob Smith", "role": "influencer", "language": "en"}),
    )
    .await;

    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "stakeholder": lan, "purpose": "outreach"}),
        )
        .await,
        200,
    )
    .await;
    // No analysis yet: no account type, so the general outreach in Vietnamese.
    assert_eq!(p["selection"]["chosen"], "outreach-general-vi", "{p}");
    assert_eq!(
        p["selection"]["locales"][0],
        "vi (the stakeholder's language)"
    );
    let candidates = p["selection"]["candidates"].as_array().expect("candidates");
    let pillar = candidates
        .iter()
        .find(|c| c["id"] == "outreach-pillar-checkin-vi")
        .expect("pillar candidate");
    assert_eq!(
        pillar["outcome"],
        "`when` does not hold: types contains pillar"
    );
    assert!(candidates.iter().all(|c| c["locale"] == "vi"));
    let html = p["rendered"]["html"].as_str().expect("html");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Đại Việt"),
        "{html}"
    );
    assert!(
        p["rendered"]["subject"]
            .as_str()
            .expect("subject")
            .contains("Đại Việt")
    );
    assert!(
        p["rendered"]["text"]
            .as_str()
            .expect("text")
            .contains("Nguyễn Thị Lan")
    );

    // The English-speaking stakeholder gets the English template.
    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "stakeholder": bob, "purpose": "outreach"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["selection"]["chosen"], "outreach-general-en");

    // A win-back for an account that is not lost matches nothing: said so, nothing rendered.
    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "purpose": "winback",
                    "offer": {"kind": "discount", "discount_percent": 15, "code": "BACK15"}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["selection"]["chosen"], json!(null));
    assert!(
        p["selection"]["explanation"]
            .as_str()
            .expect("explanation")
            .starts_with("no template")
    );
    assert_eq!(p["rendered"], json!(null));

    // The webhook for the sales system is valid JSON with the hostile name inside a string.
    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "purpose": "event_notification", "channel": "webhook",
                    "event": {"kind": "reply", "occurred_at": "2026-03-01T08:00:00Z", "summary": "Replied \"yes\""}}),
        )
        .await,
        200,
    )
    .await;
    let body: serde_json::Value =
        serde_json::from_str(p["rendered"]["body.json"].as_str().expect("body"))
            .expect("valid JSON");
    assert_eq!(
        body["account"]["name"],
        "<script>alert(1)</script> Đại Việt"
    );

    // Bad input is named precisely and nothing is chosen.
    let bad = app
        .post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "purpose": "spam", "channel": "fax"}),
        )
        .await;
    assert_eq!(
        paths(&problem(bad, 422).await),
        vec!["/purpose", "/channel"]
    );
    let bad = app
        .post(
            "/api/v1/templates/preview",
            &json!({"account": "NOPE", "purpose": "outreach"}),
        )
        .await;
    assert_eq!(bad.status(), 404);
    let bad = app
        .post(
            "/api/v1/templates/preview",
            &json!({"account": "EVIL", "stakeholder": 999_999, "purpose": "outreach"}),
        )
        .await;
    assert_eq!(paths(&problem(bad, 422).await), vec!["/stakeholder"]);
}

fn email_parts(subject: &str) -> serde_json::Value {
    json!({"subject": subject, "html": "<p>{{account.name}}</p>", "text": "{{account.name}}"})
}

async fn api_templates_are_versioned_and_take_part_in_selection(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account(
        "GOLD",
        json!({"attributes": {"tier": "gold"}, "country": "US"}),
    )
    .await;
    let created = json_of(
        app.post(
            "/api/v1/templates",
            &json!({"id": "gold-outreach", "purpose": "outreach", "channel": "email", "locale": "en",
                    "priority": 5, "when_text": "attributes.tier = gold",
                    "parts": email_parts("Gold: {{account.name}}")}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["origin"], json!({"kind": "database", "version": 1}));
    assert_eq!(
        created["when"],
        json!({"field": "attributes.tier", "op": "eq", "value": "gold"})
    );

    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "GOLD", "purpose": "outreach"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        p["selection"]["chosen"], "gold-outreach",
        "the more specific rule wins"
    );
    assert_eq!(p["rendered"]["subject"], "Gold: GOLD Ltd");
    let general = p["selection"]["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["id"] == "outreach-general-en")
        .expect("general");
    assert_eq!(
        general["outcome"],
        "less specific: 0 condition(s) against 1 of `gold-outreach`"
    );

    let v2 = json_of(
        app.put(
            "/api/v1/templates/gold-outreach",
            &json!({"purpose": "outreach", "channel": "email", "locale": "en", "priority": 5,
                    "when_text": "attributes.tier = gold", "parts": email_parts("v2 {{account.name}}")}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v2["origin"]["version"], 2);
    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "GOLD", "purpose": "outreach"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        p["rendered"]["subject"], "v2 GOLD Ltd",
        "the newest version renders"
    );
    let versions = json_of(
        app.get("/api/v1/templates/gold-outreach/versions").await,
        200,
    )
    .await;
    let numbers: Vec<i64> = versions
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(numbers, vec![2, 1]);
    assert_eq!(
        versions[1]["template"]["parts"]["subject"],
        "Gold: {{account.name}}"
    );

    // Broken templates are refused with the part and line, and nothing is stored.
    let bad = app
        .post(
            "/api/v1/templates",
            &json!({"id": "broken", "purpose": "outreach", "channel": "email", "locale": "en",
                    "parts": {"subject": "x", "html": "<p>\n{{account.nmae}}</p>", "text": "{{shout 1}}"}}),
        )
        .await;
    let body = problem(bad, 422).await;
    assert_eq!(paths(&body), vec!["/parts/html", "/parts/text"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .starts_with("line 2: unknown variable `account.nmae`")
    );
    let bad = app
        .post(
            "/api/v1/templates",
            &json!({"id": "Bad Id", "purpose": "x", "channel": "email", "locale": "english",
                    "when": {"field": "nope", "op": "exists"}, "parts": {"subject": "x"}}),
        )
        .await;
    assert_eq!(
        paths(&problem(bad, 422).await),
        vec![
            "/id",
            "/purpose",
            "/locale",
            "/when/field",
            "/parts/html",
            "/parts/text"
        ]
    );
    // A partial that includes itself would overflow the stack: refused before anything renders.
    let bad = app
        .post(
            "/api/v1/templates",
            &json!({"id": "loop", "purpose": "manager_task", "channel": "task", "locale": "en",
                    "parts": {"task": "{{#*inline \"r\"}}{{> r}}{{/inline}}{{> r}}"}}),
        )
        .await;
    let body = problem(bad, 422).await;
    assert!(paths(&body).iter().all(|p| p == "/parts/task"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("inline partials and decorators are not allowed")
    );
    assert_eq!(app.count("templates").await, 1);

    // Shipped templates are read-only here.
    for resp in [
        app.put("/api/v1/templates/outreach-general-en", &json!({}))
            .await,
        app.delete("/api/v1/templates/outreach-general-en").await,
        app.post(
            "/api/v1/templates",
            &json!({"id": "outreach-general-en", "purpose": "outreach", "channel": "email",
                    "locale": "en", "parts": email_parts("x")}),
        )
        .await,
    ] {
        assert_eq!(problem(resp, 409).await["code"], "read_only_template");
    }
    let list = json_of(app.get("/api/v1/templates").await, 200).await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or(""))
        .collect();
    assert!(ids.contains(&"gold-outreach") && ids.contains(&"negotiation-brief-vi"));
    let shipped = json_of(app.get("/api/v1/templates/winback-discount-vi").await, 200).await;
    assert_eq!(shipped["origin"]["kind"], "file");
    assert_eq!(
        shipped["when_text"],
        "lost = true and offer.kind = discount"
    );

    assert_eq!(
        app.delete("/api/v1/templates/gold-outreach").await.status(),
        204
    );
    assert_eq!(
        app.get("/api/v1/templates/gold-outreach").await.status(),
        404
    );
    assert_eq!(app.count("template_versions").await, 0);
}

db_tests!(
    preview_picks_by_language_explains_and_escapes_hostile_data,
    api_templates_are_versioned_and_take_part_in_selection,
);
