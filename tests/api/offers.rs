//! Win-back offers: definitions of discounts, gifts and terms, checked field by field.

use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Backend, json_of, problem, spawn_app};

fn paths(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn offers_are_defined_listed_changed_and_checked(b: Backend) {
    let app = spawn_app(b).await;
    let b_offer = json_of(
        app.post(
            "/api/v1/offers",
            &json!({
                "key": "winback-b", "name": "10% back for B accounts", "kind": "discount",
                "percent": 10, "cap": "500", "valid_days": 30,
                "rules": [{"abc": "A", "percent": 15}, {"type": "pillar", "amount": "750.50"}],
                "description": "A thank-you for coming back"
            }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(b_offer["key"], "winback-b");
    assert_eq!(b_offer["kind"], "discount");
    assert_eq!(b_offer["percent"], 10.0);
    assert_eq!(b_offer["max_per_code"], 1);
    assert_eq!(b_offer["max_per_account"], 1);
    assert_eq!(b_offer["transferable"], false);
    assert_eq!(b_offer["code_prefix"], "WB");
    assert_eq!(b_offer["rules"][1]["type"], "pillar");
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "gift-c", "name": "Espresso machine", "kind": "gift",
                    "gift": "Espresso machine", "gift_cost": "120.00",
                    "valid_until": "2026-06-30", "transferable": true, "code_prefix": "GIFT"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.post(
            "/api/v1/offers",
            &json!({"key": "terms-a", "name": "Special terms", "kind": "terms",
                    "terms": "60-day payment terms\nfree delivery", "valid_days": 90,
                    "max_per_code": 3, "max_per_account": 3}),
        )
        .await,
        201,
    )
    .await;
    let dup = problem(
        app.post(
            "/api/v1/offers",
            &json!({"key": "gift-c", "name": "x", "kind": "terms", "terms": "t", "valid_days": 1}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(dup["code"], "offer_exists");

    let list = json_of(app.get("/api/v1/offers").await, 200).await;
    assert_eq!(list["total"], 3);
    let keys: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["gift-c", "terms-a", "winback-b"]);
    let page = json_of(app.get("/api/v1/offers?sort=-key&limit=1").await, 200).await;
    assert_eq!(page["items"][0]["key"], "winback-b");
    assert_eq!(
        json_of(app.get("/api/v1/offers/gift-c").await, 200).await["gift_cost"],
        "120.00"
    );
    problem(app.get("/api/v1/offers/nope").await, 404).await;

    // A change is checked whole: a fixed amount instead of a percent needs the cap gone too.
    let p = problem(
        app.patch(
            "/api/v1/offers/winback-b",
            &json!({"percent": null, "amount": "200"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&p), ["/cap"], "{p}");
    let changed = json_of(
        app.patch(
            "/api/v1/offers/winback-b",
            &json!({"percent": null, "cap": null, "amount": "200", "max_per_code": 2}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["amount"], "200");
    assert_eq!(changed["percent"], Value::Null);
    assert_eq!(changed["max_per_code"], 2);
    assert_eq!(changed["description"], "A thank-you for coming back");
    problem(
        app.patch("/api/v1/offers/winback-b", &json!({"key": "other"}))
            .await,
        422,
    )
    .await;
    problem(
        app.patch("/api/v1/offers/nope", &json!({"name": "x"}))
            .await,
        404,
    )
    .await;
    let unchanged = json_of(app.get("/api/v1/offers/winback-b").await, 200).await;
    assert_eq!(unchanged["amount"], "200");

    // Bad definitions: each problem under its field, nothing stored.
    for (body, want) in [
        (
            json!({"key": "x1", "name": "n", "kind": "discount", "valid_days": 5}),
            vec!["/percent"],
        ),
        (
            json!({"key": "x2", "name": "n", "kind": "discount", "percent": 120, "valid_days": 5, "valid_until": "2026-12-31"}),
            vec!["/percent", "/valid_days"],
        ),
        (
            json!({"key": "x3", "name": "n", "kind": "gift", "percent": 5, "valid_days": 0}),
            vec!["/gift", "/percent", "/valid_days"],
        ),
        (
            json!({"key": "x4", "name": "n", "kind": "discount", "amount": "-5", "valid_days": 3, "code_prefix": "wb-"}),
            vec!["/amount", "/code_prefix"],
        ),
        (
            json!({"key": "x5", "name": "n", "kind": "discount", "percent": 5, "valid_days": 3, "rules": [{"percent": 3}, {"abc": "Q", "amount": "1e3"}]}),
            vec!["/rules/0/abc", "/rules/1/abc", "/rules/1/amount"],
        ),
        (
            json!({"key": "x6", "name": "line\nbreak", "kind": "terms", "terms": "a\u{0}b", "valid_days": 3, "max_per_code": 0}),
            vec!["/name", "/terms", "/max_per_code"],
        ),
    ] {
        let p = problem(app.post("/api/v1/offers", &body).await, 422).await;
        let mut got = paths(&p);
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(got, want, "{body}: {p}");
    }
    for body in [
        json!({"name": "n", "kind": "terms", "terms": "t", "valid_days": 3}),
        json!({"key": "Bad Key", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3}),
        json!({"key": "x7", "name": "n", "kind": "voucher", "valid_days": 3}),
        json!({"key": "x8", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3, "colour": "red"}),
        json!({"key": "x9", "name": "n", "kind": "terms", "terms": "t", "valid_days": 3, "percent": "ten"}),
    ] {
        problem(app.post("/api/v1/offers", &body).await, 422).await;
    }
    assert_eq!(
        json_of(app.get("/api/v1/offers").await, 200).await["total"],
        3
    );
}

db_tests!(offers_are_defined_listed_changed_and_checked);
