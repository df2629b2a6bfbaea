//! Webhook endpoints over the API: a secret shown once, rotation with a grace period, and the
//! URL guard (private, loopback and link-local addresses, length, scheme) for endpoints and
//! managers' webhook URLs.

use sea_orm::EntityTrait;
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, json_of, paths, problem, spawn_app, spawn_app_with};

async fn an_endpoint_is_created_read_changed_rotated_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let created = json_of(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": "https://crm.example.com/abm", "description": "Sales CRM"}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 50,
        "{secret}"
    );
    assert_eq!(created["url"], "https://crm.example.com/abm");
    assert_eq!(created["description"], "Sales CRM");

    // Shown once: neither the resource nor the list carries it.
    let got = json_of(
        app.get(&format!("/api/v1/webhooks/endpoints/{id}")).await,
        200,
    )
    .await;
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(got["previous_secret_until"], serde_json::Value::Null);
    let list = json_of(app.get("/api/v1/webhooks/endpoints").await, 200).await;
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(&secret));

    let changed = json_of(
        app.patch(
            &format!("/api/v1/webhooks/endpoints/{id}"),
            &json!({"url": "https://crm.example.com/abm/v2", "description": null}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["url"], "https://crm.example.com/abm/v2");
    assert_eq!(changed["description"], serde_json::Value::Null);

    // Rotation: a new secret, and the old one signs too for the grace period (24 h).
    let now = app.clock.now_utc();
    let rotated = json_of(
        app.post(
            &format!("/api/v1/webhooks/endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(rotated["previous_secret_until"].clone()).expect("until");
    assert_eq!(until, now + chrono::Duration::hours(24));
    let row = abm::entities::webhook_endpoint::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.previous_secret.as_deref(), Some(secret.as_str()));
    assert_eq!(row.secret, new_secret);
    let header = abm::delivery::webhooks::signature_header(&row, "msg_1", 1, b"{}", now);
    assert_eq!(header.split(' ').count(), 2, "both secrets sign: {header}");
    let later = now + chrono::Duration::hours(25);
    let header = abm::delivery::webhooks::signature_header(&row, "msg_1", 1, b"{}", later);
    assert_eq!(header.split(' ').count(), 1, "the grace is over: {header}");

    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/endpoints/{id}"))
            .await
            .status(),
        204
    );
    for resp in [
        app.get(&format!("/api/v1/webhooks/endpoints/{id}")).await,
        app.delete(&format!("/api/v1/webhooks/endpoints/{id}"))
            .await,
        app.post(
            &format!("/api/v1/webhooks/endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await,
        app.patch(
            &format!("/api/v1/webhooks/endpoints/{id}"),
            &json!({"description": "x"}),
        )
        .await,
    ] {
        problem(resp, 404).await;
    }
}

async fn webhook_urls_on_internal_addresses_or_too_long_are_refused_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let long = format!("https://example.com/{}", "a".repeat(1_000_000));
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://10.1.2.3/",
        "http://localhost/",
        "ftp://example.com/",
        "not a url",
        long.as_str(),
    ] {
        let body = problem(
            app.post("/api/v1/webhooks/endpoints", &json!({"url": url}))
                .await,
            422,
        )
        .await;
        assert_eq!(paths(&body), ["/url"], "{url}");
        // Managers' webhook URLs go through the same guard.
        let body = problem(
            app.post(
                "/api/v1/managers",
                &json!({"email": "kam@x.io", "name": "Kam", "webhook_url": url}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(paths(&body), ["/webhook_url"], "{url}");
    }
    let body = problem(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"description": format!("a\u{1b}[31m{}", "b".repeat(2000))}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/url", "/description"]);
    problem(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": "https://x.example/", "secret": "whsec_mine"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(app.count("webhook_endpoints").await, 0);
    assert_eq!(app.count("managers").await, 0);

    // A PATCH to a private address changes nothing either.
    let created = json_of(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": "https://x.example/"}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    problem(
        app.patch(
            &format!("/api/v1/webhooks/endpoints/{id}"),
            &json!({"url": "http://192.168.0.10/"}),
        )
        .await,
        422,
    )
    .await;
    let got = json_of(
        app.get(&format!("/api/v1/webhooks/endpoints/{id}")).await,
        200,
    )
    .await;
    assert_eq!(got["url"], "https://x.example/");
}

async fn allow_private_lets_a_receiver_on_this_host_in(b: Backend) {
    let app = spawn_app_with(b, &[("ABM_WEBHOOKS__ALLOW_PRIVATE", "true")]).await;
    json_of(
        app.post(
            "/api/v1/webhooks/endpoints",
            &json!({"url": "http://127.0.0.1:9000/hook"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.post(
            "/api/v1/managers",
            &json!({"email": "kam@x.io", "name": "Kam", "webhook_url": "http://10.0.0.2/alerts"}),
        )
        .await,
        201,
    )
    .await;
}

db_tests!(
    an_endpoint_is_created_read_changed_rotated_and_deleted,
    webhook_urls_on_internal_addresses_or_too_long_are_refused_and_change_nothing,
    allow_private_lets_a_receiver_on_this_host_in,
);
