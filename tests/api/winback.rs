//! Win-back: the list of lost key accounts ranked by value at risk, with why, since when,
//! history and what was tried; accounts added to and taken out of win-back by hand.

use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, problem, run_analysis, spawn_app};

/// Posts `account`'s orders `(ordered_at, amount)` as one batch.
pub(crate) async fn orders(app: &TestApp, account: &str, list: &[(&str, &str)]) {
    let orders: Vec<_> = list
        .iter()
        .map(|(at, amount)| json!({"external_id": format!("{account}-{at}"), "account_id": account, "ordered_at": at, "amount": amount}))
        .collect();
    let resp = app
        .post("/api/v1/orders/batch", &json!({"orders": orders}))
        .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["account_id"].as_str().expect("id"))
        .collect()
}

async fn the_winback_list_ranks_lost_accounts_and_managers_steer_it_by_hand(b: Backend) {
    let app = spawn_app(b).await;
    problem(app.get("/api/v1/winback").await, 404).await;

    let kim = json_of(
        app.post(
            "/api/v1/managers",
            &json!({"email": "kim@example.com", "name": "Kim Tran"}),
        )
        .await,
        201,
    )
    .await;
    let kim_id = kim["id"].as_i64().expect("id");
    app.create_account("BIG", json!({"currency": "USD", "name": "Big Steel"}))
        .await;
    app.create_account(
        "SMALL",
        json!({"currency": "USD", "name": "Small Foods", "manager_id": kim_id}),
    )
    .await;
    app.create_account("ACTIVE", json!({"currency": "USD"}))
        .await;
    app.create_account("EURO", json!({"currency": "EUR"})).await;
    // The clock stands at 2026-03-01: all but ACTIVE stopped buying in June 2025; the list
    // shows the market of `defaults.currency` (USD here) unless asked for another.
    orders(
        &app,
        "BIG",
        &[("2025-06-01", "9000"), ("2025-06-20", "9000")],
    )
    .await;
    orders(
        &app,
        "SMALL",
        &[("2025-06-02", "100"), ("2025-06-21", "100")],
    )
    .await;
    orders(
        &app,
        "EURO",
        &[("2025-06-03", "500"), ("2025-06-22", "500")],
    )
    .await;
    let monthly: Vec<String> = (3..=12)
        .map(|m| format!("2025-{m:02}-05"))
        .chain((1..=2).map(|m| format!("2026-{m:02}-05")))
        .collect();
    let active: Vec<(&str, &str)> = monthly.iter().map(|d| (d.as_str(), "300")).collect();
    orders(&app, "ACTIVE", &active).await;
    for (kind, outcome, reason) in [
        ("complaint", None, "late deliveries twice in May"),
        ("tender", Some("lost"), "price: a competitor 8% cheaper"),
        ("tender", Some("won"), "framework contract"),
    ] {
        json_of(
            app.post(
                "/api/v1/accounts/BIG/relationship-events",
                &json!({"kind": kind, "occurred_on": "2025-05-20", "value": "40000", "outcome": outcome, "reason": reason}),
            )
            .await,
            201,
        )
        .await;
    }
    let run = run_analysis(&app).await;
    let run_at = run["started_at"].clone();

    // Someone at BIG calls back after the loss: that is something tried.
    app.clock.advance(chrono::Duration::hours(2));
    app.post(
        "/api/v1/accounts/BIG/stakeholders",
        &json!({"name": "Bo", "email": "bo@big.example", "role": "decision_maker"}),
    )
    .await;
    json_of(
        app.post(
            "/api/v1/responses",
            &json!({"email": "bo@big.example", "kind": "call_logged"}),
        )
        .await,
        201,
    )
    .await;

    let resp = app.get("/api/v1/winback").await;
    let link = resp
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        link.contains("/api/v1/analytics/churn?direction=industry"),
        "{link}"
    );
    let list = json_of(resp, 200).await;
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(ids(&list), ["BIG", "SMALL"]);
    let big = &list["items"][0];
    assert_eq!(big["value_at_risk"], "18000.00");
    assert_eq!(list["items"][1]["value_at_risk"], "200.00");
    assert_eq!(big["name"], "Big Steel");
    assert_eq!(big["currency"], "USD");
    assert!(
        !big["lost_reason"].as_str().unwrap_or_default().is_empty(),
        "{big}"
    );
    assert_eq!(big["lost_since"], run_at);
    assert_eq!(big["last_order_at"], "2025-06-20");
    // Classes and types as the run found them.
    let latest =
        json_of(app.get("/api/v1/accounts/BIG/analytics").await, 200).await["latest"].clone();
    assert_eq!(big["abc"], latest["abc"]);
    assert_eq!(big["xyz"], latest["xyz"]);
    assert_eq!(big["types"], latest["types"]);
    assert_eq!(big["p_alive"], latest["p_alive"]);
    assert_eq!(big["manager_id"], Value::Null);
    assert_eq!(list["items"][1]["manager_id"], kim_id);
    assert_eq!(
        big["complaints"][0]["reason"],
        "late deliveries twice in May"
    );
    let tenders = big["lost_tenders"].as_array().expect("tenders");
    assert_eq!(tenders.len(), 1, "only the lost one: {big}");
    assert_eq!(tenders[0]["reason"], "price: a competitor 8% cheaper");
    assert_eq!(tenders[0]["value"], "40000.00");
    assert_eq!(big["tried"]["responses"][0]["kind"], "call_logged");
    assert_eq!(big["tried"]["campaigns"], json!([]));
    assert_eq!(big["added_by_hand"], Value::Null);

    // Other markets and one manager's accounts.
    let eur = json_of(app.get("/api/v1/winback?currency=EUR").await, 200).await;
    assert_eq!(ids(&eur), ["EURO"]);
    assert_eq!(eur["items"][0]["currency"], "EUR");
    let kims = json_of(
        app.get(&format!("/api/v1/winback?manager_id={kim_id}"))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&kims), ["SMALL"]);
    let second = json_of(app.get("/api/v1/winback?limit=1&offset=1").await, 200).await;
    assert_eq!(ids(&second), ["SMALL"]);
    assert_eq!(second["total"], 2);

    // Taken out by hand: needs a reason, then it is no longer listed.
    problem(app.delete("/api/v1/winback/SMALL").await, 422).await;
    problem(app.delete("/api/v1/winback/NOPE?reason=gone").await, 404).await;
    let out = json_of(
        app.delete("/api/v1/winback/SMALL?reason=Sold%20to%20a%20rival%20group")
            .await,
        200,
    )
    .await;
    assert_eq!(out["included"], false);
    assert_eq!(out["reason"], "Sold to a rival group");
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    assert_eq!(ids(&list), ["BIG"]);

    // Added by hand: an account that is not lost, with the reason; listed since then.
    for bad in [
        json!({}),
        json!({"reason": "  "}),
        json!({"reason": "a\u{0}b"}),
        json!({"reason": "x".repeat(501)}),
        json!({"reason": "ok", "extra": 1}),
    ] {
        let p = problem(app.post("/api/v1/winback/ACTIVE", &bad).await, 422).await;
        assert!(p["detail"].is_string() || p["errors"].is_array(), "{p}");
    }
    problem(
        app.post("/api/v1/winback/NOPE", &json!({"reason": "x"}))
            .await,
        404,
    )
    .await;
    let added = json_of(
        app.post(
            "/api/v1/winback/ACTIVE",
            &json!({"reason": "Buyer left for a competitor\nwe want him back"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(added["included"], true);
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    assert_eq!(ids(&list), ["BIG", "ACTIVE"]);
    let active = &list["items"][1];
    assert_eq!(
        active["added_by_hand"],
        "Buyer left for a competitor\nwe want him back"
    );
    assert!(
        active["lost_reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("added by hand: "),
        "{active}"
    );
    assert_eq!(active["lost_since"], added["created_at"]);
    // Marked by many at once: every request succeeds, one mark remains.
    let racing: Vec<_> = (0..8)
        .map(|i| {
            let app = &app;
            async move {
                app.post(
                    "/api/v1/winback/EURO",
                    &json!({"reason": format!("race {i}")}),
                )
                .await
                .status()
                .as_u16()
            }
        })
        .collect();
    for status in futures_util::future::join_all(racing).await {
        assert!(status == 200 || status == 201, "{status}");
    }
    let euro = json_of(app.get("/api/v1/winback?currency=EUR").await, 200).await;
    assert!(
        euro["items"][0]["added_by_hand"]
            .as_str()
            .unwrap_or_default()
            .starts_with("race "),
        "{euro}"
    );
    // A second mark replaces the first: SMALL comes back.
    json_of(
        app.post(
            "/api/v1/winback/SMALL",
            &json!({"reason": "New buyer there"}),
        )
        .await,
        200,
    )
    .await;
    let list = json_of(app.get("/api/v1/winback").await, 200).await;
    assert_eq!(ids(&list), ["BIG", "SMALL", "ACTIVE"]);
    problem(app.get("/api/v1/winback?currency=XXX1").await, 422).await;
    problem(app.get("/api/v1/winback?limit=0").await, 422).await;

    // Deleting an account deletes its mark (ACTIVE's and EURO's stay).
    assert_eq!(app.delete("/api/v1/accounts/SMALL").await.status(), 204);
    let marks = abm::entities::winback_mark::Entity::find()
        .all(&app.db)
        .await
        .expect("marks");
    assert_eq!(marks.len(), 2, "{marks:?}");
}

use sea_orm::EntityTrait;

db_tests!(the_winback_list_ranks_lost_accounts_and_managers_steer_it_by_hand);
