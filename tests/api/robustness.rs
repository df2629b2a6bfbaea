//! Concurrency and edge cases: the failure modes found in review stay fixed.

use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, paths, problem, spawn_app};

fn batch(ids: &[usize], account: &str, amount: &str) -> serde_json::Value {
    json!({"orders": ids.iter().map(|i| json!({
        "external_id": format!("c-{i}"), "account_id": account,
        "ordered_at": "2025-05-01", "amount": amount,
    })).collect::<Vec<_>>()})
}

async fn concurrent_overlapping_batches_all_succeed(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("CC", json!({})).await;
    // Eight batches over the same 400 ids, in different orders, at once.
    let mut requests = Vec::new();
    for k in 0..8usize {
        let mut ids: Vec<usize> = (0..400).collect();
        ids.rotate_left(k * 50);
        if k % 2 == 1 {
            ids.reverse();
        }
        let body = batch(&ids, "CC", &format!("{}.00", k + 1));
        requests.push(app.post_owned("/api/v1/orders/batch", body));
    }
    let responses = futures_util::future::join_all(requests).await;
    for r in responses {
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    assert_eq!(app.count("orders").await, 400);
}

async fn concurrent_creates_of_one_order_give_one_201(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("R", json!({})).await;
    let requests = (0..6).map(|i| {
        app.post_owned(
            "/api/v1/orders",
            json!({"external_id": "RACE", "account_id": "R", "ordered_at": "2025-01-01", "amount": format!("{i}")}),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
}

async fn query_parameters_are_checked_and_named(b: Backend) {
    let app = spawn_app(b).await;
    let body = problem(
        app.get("/api/v1/orders?offset=18446744073709551615").await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["offset"]);
    let body = problem(app.get("/api/v1/orders?limit=abc").await, 422).await;
    assert_eq!(paths(&body), ["limit"]);
    let body = problem(app.get("/api/v1/accounts?manager_id=x").await, 422).await;
    assert_eq!(paths(&body), ["manager_id"]);
    let body = problem(app.get("/api/v1/orders?sort=--ordered_at").await, 422).await;
    assert_eq!(paths(&body), ["sort"]);
    assert_eq!(
        app.get("/api/v1/orders?sort=-ordered_at").await.status(),
        200
    );
}

async fn required_fields_cannot_be_nulled_and_ids_cannot_be_blank(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("N", json!({"currency": "USD"})).await;
    let body = problem(
        app.patch("/api/v1/accounts/N", &json!({"name": null}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/name"]);
    let got: serde_json::Value = app
        .get("/api/v1/accounts/N")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(got["name"], "N Ltd");
    let body = problem(
        app.patch("/api/v1/accounts/N", &json!({"timezone": null}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/timezone"]);
}

async fn changing_the_currency_does_not_rescale_stored_amounts(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("CUR", json!({"currency": "USD", "budget": "1234.56"}))
        .await;
    let body = problem(
        app.patch("/api/v1/accounts/CUR", &json!({"currency": "VND"}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/currency"]);
    let ok: serde_json::Value = app
        .patch(
            "/api/v1/accounts/CUR",
            &json!({"currency": "VND", "budget": "30000000"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ok["budget"], "30000000");
    app.post(
        "/api/v1/accounts/CUR/relationship-events",
        &json!({"kind": "tender", "occurred_on": "2025-01-01", "value": "5000000"}),
    )
    .await;
    let body = problem(
        app.patch(
            "/api/v1/accounts/CUR",
            &json!({"currency": "EUR", "budget": "1"}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("relationship event")
    );
}

async fn blank_external_ids_and_bad_idempotency_keys_are_rejected(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("B", json!({})).await;
    let body = problem(
        app.post(
            "/api/v1/orders/batch",
            &json!({"orders": [{"external_id": "  ", "account_id": "B", "ordered_at": "2025-01-01", "amount": "1"}]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/orders/0/external_id"]);
    let resp = app
        .client
        .post(app.url("/api/v1/orders/batch"))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "x".repeat(256))
        .json(&batch(&[1], "B", "1"))
        .send()
        .await
        .expect("request");
    let body = problem(resp, 422).await;
    assert_eq!(paths(&body), ["Idempotency-Key"]);
    assert_eq!(app.count("orders").await, 0);

    // The README's example: a batch retried with its key is replayed.
    let send = || {
        app.client
            .post(app.url("/api/v1/orders/batch"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "batch-1")
            .json(&batch(&[1, 2], "B", "1"))
            .send()
    };
    let first: serde_json::Value = send().await.expect("r").json().await.expect("json");
    let again = send().await.expect("r");
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(
        first, again,
        "the stored answer, not a second run (which would say unchanged: 2)"
    );
}

db_tests!(
    concurrent_overlapping_batches_all_succeed,
    concurrent_creates_of_one_order_give_one_201,
    query_parameters_are_checked_and_named,
    required_fields_cannot_be_nulled_and_ids_cannot_be_blank,
    changing_the_currency_does_not_rescale_stored_amounts,
    blank_external_ids_and_bad_idempotency_keys_are_rejected,
);
