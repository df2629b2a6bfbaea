use crate::db_tests;
use crate::helpers::{Backend, spawn_app};

async fn the_openapi_document_lists_the_real_routes(b: Backend) {
    let app = spawn_app(b).await;
    let resp = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "the document needs no token");
    let doc: serde_json::Value = resp.json().await.expect("json");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/api/v1/accounts", "get"),
        ("/api/v1/accounts", "post"),
        ("/api/v1/accounts/{external_id}", "patch"),
        ("/api/v1/accounts/{external_id}/dossier", "get"),
        ("/api/v1/accounts/{external_id}/profile", "put"),
        ("/api/v1/accounts/{external_id}/stakeholders/{id}", "delete"),
        ("/api/v1/accounts/{external_id}/competitors", "post"),
        (
            "/api/v1/accounts/{external_id}/relationship-events/{id}",
            "patch",
        ),
        ("/api/v1/managers/{id}", "get"),
        ("/api/v1/orders/batch", "post"),
        ("/api/v1/orders/{external_id}", "put"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    // Every documented API operation really answers (401 without a token, not 404).
    for (path, item) in paths {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let concrete = path
            .replace("{external_id}", "X")
            .replace("{id}", "1")
            .replace("{key}", "x");
        for method in item.as_object().expect("item").keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let resp = app
                .client
                .request(m, app.url(&concrete))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 401, "{method} {path}");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let docs = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("request");
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.expect("text").contains("swagger"));
}

db_tests!(the_openapi_document_lists_the_real_routes);
