use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, paths, problem, spawn_app};

async fn a_retried_post_with_the_same_key_is_replayed_not_repeated(b: Backend) {
    let app = spawn_app(b).await;
    let send = |key: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/accounts"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let body = json!({"external_id": "IDEM", "name": "Once"});
    let first = send("key-1", body.clone()).await.expect("request");
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body: serde_json::Value = first.json().await.expect("json");

    let second = send("key-1", body.clone()).await.expect("request");
    assert_eq!(second.status(), 201, "the original status is replayed");
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let second_body: serde_json::Value = second.json().await.expect("json");
    assert_eq!(first_body, second_body);
    assert_eq!(app.count("accounts").await, 1);

    let reused = problem(
        send("key-1", json!({"external_id": "OTHER", "name": "x"}))
            .await
            .expect("request"),
        422,
    )
    .await;
    assert_eq!(paths(&reused), ["Idempotency-Key"]);
    assert_eq!(app.count("accounts").await, 1);

    // Without a key the same request is a conflict, as usual.
    problem(app.post("/api/v1/accounts", &body).await, 409).await;
}

async fn idempotency_keys_expire_and_are_per_token(b: Backend) {
    let app = spawn_app(b).await;
    let (_, other) = abm::auth::create_token(&app.db, &app.clock, "other")
        .await
        .expect("token");
    app.create_account("A1", json!({})).await;
    let post = |token: String, key: &'static str, id: &'static str| {
        app.client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"external_id": id, "account_id": "A1", "ordered_at": "2025-01-01", "amount": "1"}))
            .send()
    };
    assert_eq!(
        post(app.token.clone(), "k", "o-1")
            .await
            .expect("r")
            .status(),
        201
    );
    // Another token may use the same key for its own request.
    assert_eq!(
        post(other.0.clone(), "k", "o-2").await.expect("r").status(),
        201
    );
    assert_eq!(app.count("orders").await, 2);
    // After the TTL the key is free again; the request runs (and now conflicts).
    app.clock.advance(chrono::Duration::hours(25));
    let late = post(app.token.clone(), "k", "o-1").await.expect("r");
    assert_eq!(late.status(), 409);
    assert!(late.headers().get("idempotent-replayed").is_none());
    // The late request's record is new; the other token's expired one stays until the purge
    // job forgets it.
    assert_eq!(app.count("idempotency_keys").await, 2);
    abm::jobs::trigger(&app.ctx, "idempotency_purge", abm::jobs::Trigger::Api)
        .await
        .expect("queue");
    let done = abm::jobs::worker::drain(&app.ctx).await.expect("drain");
    assert_eq!(done[0].detail, Some(json!({"purged": 1})));
    assert_eq!(app.count("idempotency_keys").await, 1);
}

db_tests!(
    a_retried_post_with_the_same_key_is_replayed_not_repeated,
    idempotency_keys_expire_and_are_per_token,
);
