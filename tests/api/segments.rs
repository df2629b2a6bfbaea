//! Segments: the rule language over HTTP, saved segments, membership after analysis runs with
//! entered/left history and events, built-in segments, previews.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, paths, problem, run_analysis, spawn_app};

async fn orders(app: &TestApp, account: &str, list: &[&str]) {
    let orders: Vec<_> = list
        .iter()
        .map(|at| json!({"external_id": format!("{account}-{at}"), "account_id": account, "ordered_at": at, "amount": "1000"}))
        .collect();
    let resp = app
        .post("/api/v1/orders/batch", &json!({"orders": orders}))
        .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

async fn members(app: &TestApp, key: &str) -> Vec<String> {
    let page = json_of(
        app.get(&format!("/api/v1/segments/{key}/members?limit=100"))
            .await,
        200,
    )
    .await;
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["external_id"].as_str().unwrap_or("").to_string())
        .collect();
    ids.sort();
    ids
}

async fn segments_follow_each_analysis_run_with_history_and_events(b: Backend) {
    let app = spawn_app(b).await; // clock: 2026-03-01
    app.create_account("STEADY", json!({"currency": "USD", "industry": "Steel"}))
        .await;
    app.create_account("OLD", json!({"currency": "USD", "industry": "Food"}))
        .await;
    let monthly: Vec<String> = (3..=12)
        .map(|m| format!("2025-{m:02}-10"))
        .chain((1..=2).map(|m| format!("2026-{m:02}-10")))
        .collect();
    orders(
        &app,
        "STEADY",
        &monthly.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    orders(&app, "OLD", &["2025-04-01", "2025-05-01"]).await;

    // A saved segment over dossier and analytics fields, before any run: no analytics yet.
    let created = json_of(
        app.post(
            "/api/v1/segments",
            &json!({"name": "Steel or lost", "rule_text": "industry = steel or lost = true"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["key"], "steel-or-lost");
    assert_eq!(
        created["rule"]["any"][1],
        json!({"field": "lost", "op": "eq", "value": true})
    );
    assert_eq!(created["rule_text"], "industry = steel or lost = true");
    assert_eq!(created["member_count"], 1, "only STEADY by industry so far");

    run_analysis(&app).await;
    assert_eq!(members(&app, "lost").await, vec!["OLD"]);
    // Shares over the run: STEADY has 12,000 of 14,000 (no margins, so revenue counts).
    for rule in [
        "profit_share > 0.85 and profit_share < 0.86",
        "value_share > 0.85",
    ] {
        let p = json_of(
            app.post("/api/v1/segments/preview", &json!({"rule_text": rule}))
                .await,
            200,
        )
        .await;
        assert_eq!(p["count"], 1, "{rule}: {p}");
        assert_eq!(p["sample"][0]["external_id"], "STEADY");
    }
    assert_eq!(members(&app, "steel-or-lost").await, vec!["OLD", "STEADY"]);
    let lost = json_of(app.get("/api/v1/segments/lost").await, 200).await;
    assert_eq!(lost["builtin"], true);
    assert_eq!(lost["member_count"], 1);
    assert_eq!(lost["rule_text"], "lost = true");

    // OLD buys again: the next run takes it out of "lost" and writes a `left` event.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0)
            .single()
            .expect("date"),
    );
    orders(&app, "OLD", &["2026-03-20"]).await;
    run_analysis(&app).await;
    assert!(members(&app, "lost").await.is_empty());
    let events = json_of(app.get("/api/v1/segments/lost/events").await, 200).await;
    let kinds: Vec<(&str, &str)> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["external_id"].as_str().unwrap_or(""),
                e["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, vec![("OLD", "entered"), ("OLD", "left")]);
    let first_id = events["items"][0]["id"].as_i64().expect("id");
    let later = json_of(
        app.get(&format!("/api/v1/segments/lost/events?after_id={first_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(later["total"], 1);

    // History keeps the ended stay with both times.
    let history = json_of(
        app.get("/api/v1/segments/lost/members?history=true").await,
        200,
    )
    .await;
    assert_eq!(history["total"], 1);
    assert_eq!(history["items"][0]["entered_at"], "2026-03-01T09:00:00Z");
    assert_eq!(history["items"][0]["left_at"], "2026-04-01T09:00:00Z");

    // Recomputing with nothing changed writes nothing.
    let before = app.count("segment_events").await;
    let again = json_of(
        app.post("/api/v1/segments/recompute", &json!({})).await,
        200,
    )
    .await;
    assert!(
        again["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .all(|s| s["entered"] == 0 && s["left"] == 0),
        "{again}"
    );
    assert_eq!(app.count("segment_events").await, before);

    // Deleting an account erases its stays and events, and the count follows at once.
    let events_before = app.count("segment_events").await;
    assert_eq!(app.delete("/api/v1/accounts/STEADY").await.status(), 204);
    assert_eq!(members(&app, "steel-or-lost").await, Vec::<String>::new());
    let s = json_of(app.get("/api/v1/segments/steel-or-lost").await, 200).await;
    assert_eq!(s["member_count"], 0);
    let history = json_of(
        app.get("/api/v1/segments/steel-or-lost/members?history=true")
            .await,
        200,
    )
    .await;
    assert_eq!(
        history["total"], 1,
        "only OLD's ended stay is left: {history}"
    );
    assert_eq!(history["items"][0]["external_id"], "OLD");
    assert_eq!(
        app.count("segment_events WHERE account_id NOT IN (SELECT id FROM accounts)")
            .await,
        0
    );
    assert!(app.count("segment_events").await < events_before);
}

async fn segments_can_be_managed_but_builtins_are_read_only(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account(
        "A1",
        json!({"attributes": {"tier": "gold"}, "image_maker": true}),
    )
    .await;
    app.create_account("A2", json!({"attributes": {"tier": "silver"}}))
        .await;

    let s = json_of(
        app.post(
            "/api/v1/segments",
            &json!({"key": "gold", "name": "Gold tier", "description": "VIP",
                    "rule": {"field": "attributes.tier", "op": "eq", "value": "GOLD"}}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(s["member_count"], 1);
    assert_eq!(s["rule_text"], "attributes.tier = GOLD");
    assert_eq!(members(&app, "gold").await, vec!["A1"]);

    let again = app
        .post(
            "/api/v1/segments",
            &json!({"key": "gold", "name": "x", "rule_text": "true"}),
        )
        .await;
    assert_eq!(problem(again, 409).await["code"], "already_exists");

    // A new rule recomputes at once: A1 leaves, A2 enters.
    let s = json_of(
        app.patch(
            "/api/v1/segments/gold",
            &json!({"rule_text": "attributes.tier in (silver)", "name": "Silver now"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(s["name"], "Silver now");
    assert_eq!(s["description"], "VIP");
    assert_eq!(members(&app, "gold").await, vec!["A2"]);

    let list = json_of(app.get("/api/v1/segments?limit=100").await, 200).await;
    let keys: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["key"].as_str().unwrap_or(""))
        .collect();
    for k in [
        "abc-xyz-ax",
        "abc-xyz-cz",
        "type-pillar",
        "type-image-maker",
        "lost",
        "gold",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert_eq!(list["total"], 15);

    for resp in [
        app.patch("/api/v1/segments/lost", &json!({"name": "mine"}))
            .await,
        app.delete("/api/v1/segments/type-pillar").await,
    ] {
        assert_eq!(problem(resp, 409).await["code"], "builtin_segment");
    }
    let bad = app
        .patch("/api/v1/segments/gold", &json!({"key": "other"}))
        .await;
    assert_eq!(paths(&problem(bad, 422).await), vec!["/key"]);

    assert_eq!(app.delete("/api/v1/segments/gold").await.status(), 204);
    assert_eq!(app.get("/api/v1/segments/gold").await.status(), 404);
    assert_eq!(
        app.count("segment_memberships WHERE segment_id NOT IN (SELECT id FROM segments)")
            .await,
        0
    );
}

async fn previews_count_and_sample_an_unsaved_rule(b: Backend) {
    let app = spawn_app(b).await;
    for (id, region) in [("N1", "North"), ("N2", "north"), ("S1", "South")] {
        app.create_account(id, json!({"region": region})).await;
    }
    app.post(
        "/api/v1/accounts/N2/stakeholders",
        &json!({"name": "Chị Lan", "role": "decision_maker"}),
    )
    .await;
    let p = json_of(
        app.post(
            "/api/v1/segments/preview",
            &json!({"rule_text": "region = NORTH", "sample_size": 1}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["count"], 2);
    assert_eq!(p["total"], 3);
    assert_eq!(p["sample"].as_array().map(Vec::len), Some(1));
    assert_eq!(p["sample"][0]["external_id"], "N1");
    let p = json_of(
        app.post(
            "/api/v1/segments/preview",
            &json!({"rule": {"all": [{"field": "region", "op": "exists"}, {"has_role": "decision_maker"}]}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["count"], 1);
    assert_eq!(p["rule_text"], "region exists and has_role(decision_maker)");
    assert_eq!(app.count("segments").await, 0, "a preview saves nothing");

    // Bad rules: the exact place, in text and in JSON.
    let bad = app
        .post(
            "/api/v1/segments/preview",
            &json!({"rule_text": "region = x and regoin = y"}),
        )
        .await;
    let body = problem(bad, 422).await;
    assert_eq!(paths(&body), vec!["/rule_text"]);
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("column 16: unknown field `regoin`"),
        "{message}"
    );
    assert!(message.contains("did you mean `region`"), "{message}");

    let bad = app
        .post(
            "/api/v1/segments",
            &json!({"name": "x", "rule": {"any": [{"field": "revenue", "op": "gt", "value": "lots"}]}}),
        )
        .await;
    assert_eq!(paths(&problem(bad, 422).await), vec!["/rule/any/0/value"]);
    let bad = app
        .post(
            "/api/v1/segments/preview",
            &json!({"rule_text": "true", "rule": {"all": []}}),
        )
        .await;
    assert_eq!(paths(&problem(bad, 422).await), vec!["/rule_text"]);
    let bad = app.post("/api/v1/segments", &json!({"name": "x"})).await;
    assert_eq!(paths(&problem(bad, 422).await), vec!["/rule"]);
    assert_eq!(app.count("segments").await, 0, "bad input changes nothing");
}

async fn the_rule_language_is_served(b: Backend) {
    let app = spawn_app(b).await;
    let fields = json_of(app.get("/api/v1/rules/fields").await, 200).await;
    let abc = fields
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "abc")
        .expect("abc");
    assert_eq!(abc["type"], "enum");
    assert_eq!(abc["values"], json!(["A", "B", "C"]));
    let parsed = json_of(
        app.post(
            "/api/v1/rules/parse",
            &json!({"rule_text": "abc in (A, B) and xyz != Z and days_since_last_order > 90 and has_role(decision_maker)"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(parsed["conditions"], 4);
    let back = json_of(
        app.post("/api/v1/rules/parse", &json!({"rule": parsed["rule"]}))
            .await,
        200,
    )
    .await;
    assert_eq!(back["rule_text"], parsed["rule_text"]);
}

db_tests!(
    segments_follow_each_analysis_run_with_history_and_events,
    segments_can_be_managed_but_builtins_are_read_only,
    previews_count_and_sample_an_unsaved_rule,
    the_rule_language_is_served,
);
