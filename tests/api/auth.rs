use crate::db_tests;
use crate::helpers::{Backend, problem, spawn_app};

async fn health_needs_no_token_and_checks_the_database(b: Backend) {
    let app = spawn_app(b).await;
    for path in ["/health/live", "/health/ready"] {
        let resp = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["status"], "ok");
    }
}

async fn api_rejects_missing_malformed_and_wrong_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let url = app.url("/api/v1/accounts");
    let no_token = app.client.get(&url).send().await.expect("request");
    assert_eq!(
        no_token
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let body = problem(no_token, 401).await;
    assert_eq!(body["code"], "unauthorized");

    let wrong_scheme = app
        .client
        .get(&url)
        .header("Authorization", format!("Basic {}", app.token))
        .send()
        .await
        .expect("request");
    problem(wrong_scheme, 401).await;

    // Right prefix, wrong secret.
    let mut forged = app.token.clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == 'a' { 'b' } else { 'a' });
    let forged = app
        .client
        .get(&url)
        .bearer_auth(forged)
        .send()
        .await
        .expect("request");
    problem(forged, 401).await;

    let ok = app.get("/api/v1/accounts").await;
    assert_eq!(ok.status(), 200);
}

async fn a_revoked_token_stops_working(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(app.get("/api/v1/accounts").await.status(), 200);
    let revoked = abm::auth::revoke_token(&app.db, &app.clock, &app.token)
        .await
        .expect("revoke");
    assert!(revoked);
    problem(app.get("/api/v1/accounts").await, 401).await;
}

async fn tokens_are_stored_only_as_hashes(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = abm::auth::list_tokens(&app.db).await.expect("list");
    assert_eq!(tokens.len(), 1);
    let secret = app.token.rsplit('_').next().expect("secret");
    assert!(!tokens[0].hash.contains(secret));
    assert!(app.token.contains(&tokens[0].prefix));
    assert_eq!(tokens[0].hash.len(), 64);
}

async fn unknown_routes_get_problem_json_404(b: Backend) {
    let app = spawn_app(b).await;
    let body = problem(app.get("/api/v1/nope").await, 404).await;
    assert_eq!(body["code"], "not_found");
}

db_tests!(
    health_needs_no_token_and_checks_the_database,
    api_rejects_missing_malformed_and_wrong_tokens,
    a_revoked_token_stops_working,
    tokens_are_stored_only_as_hashes,
    unknown_routes_get_problem_json_404,
);
