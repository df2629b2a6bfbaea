use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, paths, problem, spawn_app};

async fn an_account_can_be_created_read_changed_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let manager: serde_json::Value = app
        .post(
            "/api/v1/managers",
            &json!({"email": "Kam@Example.com", "name": "Kim Tran"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(manager["email"], "kam@example.com");

    let created = app
        .create_account(
            "ACME-1",
            json!({
                "industry": "Manufacturing", "region": "APAC", "country": "vn",
                "timezone": "Asia/Ho_Chi_Minh", "currency": "vnd",
                "manager_id": manager["id"], "budget": "250000000", "image_maker": true,
                "attributes": {"tier": "gold"}
            }),
        )
        .await;
    assert_eq!(created["country"], "VN");
    assert_eq!(created["currency"], "VND");
    assert_eq!(created["budget"], "250000000");
    assert_eq!(created["image_maker"], true);
    assert_eq!(created["expert"], false);
    assert_eq!(created["created_at"], "2026-03-01T09:00:00Z");

    let mut got: serde_json::Value = app
        .get("/api/v1/accounts/ACME-1")
        .await
        .json()
        .await
        .expect("json");
    // The single-account view adds the engagement score (nothing yet).
    let engagement = got
        .as_object_mut()
        .and_then(|o| o.remove("engagement"))
        .expect("engagement");
    assert_eq!(engagement["score"], 0.0);
    assert_eq!(got, created);

    app.clock.advance(chrono::Duration::hours(1));
    let resp = app
        .patch(
            "/api/v1/accounts/ACME-1",
            &json!({"name": "Acme Vietnam", "region": null, "expert": true}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let changed: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(changed["name"], "Acme Vietnam");
    assert_eq!(changed["region"], serde_json::Value::Null);
    assert_eq!(
        changed["industry"], "Manufacturing",
        "untouched fields stay"
    );
    assert_eq!(changed["expert"], true);
    assert_eq!(changed["updated_at"], "2026-03-01T10:00:00Z");

    assert_eq!(app.delete("/api/v1/accounts/ACME-1").await.status(), 204);
    problem(app.get("/api/v1/accounts/ACME-1").await, 404).await;
    problem(app.delete("/api/v1/accounts/ACME-1").await, 404).await;
}

async fn a_duplicate_external_id_is_a_conflict(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("DUP", json!({})).await;
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "DUP", "name": "Other"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(body["code"], "already_exists");
    assert_eq!(app.count("accounts").await, 1);
}

async fn invalid_account_fields_are_all_reported_with_their_paths(b: Backend) {
    let app = spawn_app(b).await;
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "", "name": " ", "timezone": "Mars/Base", "currency": "EURO",
                    "country": "XX", "budget": "12.345"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["code"], "validation_failed");
    let mut p = paths(&body);
    p.sort();
    assert_eq!(
        p,
        [
            "/country",
            "/currency",
            "/external_id",
            "/name",
            "/timezone"
        ]
    );
    assert_eq!(app.count("accounts").await, 0);

    // Budget decimals are checked against the currency.
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "A", "name": "A", "currency": "USD", "budget": "1.234"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/budget"]);

    // A manager that does not exist.
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "A", "name": "A", "manager_id": 999}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/manager_id"]);
}

async fn malformed_json_wrong_types_and_unknown_fields_are_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let resp = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"external_id\": \"A\", ")
        .send()
        .await
        .expect("request");
    let body = problem(resp, 400).await;
    assert_eq!(body["code"], "bad_request");

    let body = problem(
        app.post("/api/v1/accounts", &json!({"external_id": "A", "name": 5}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/name"]);

    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "A", "name": "A", "colour": "red"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/colour"]);

    let resp = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("external_id=A")
        .send()
        .await
        .expect("request");
    problem(resp, 415).await;

    let body = problem(
        app.patch("/api/v1/accounts/NOPE", &json!({"name": "x"}))
            .await,
        404,
    )
    .await;
    assert_eq!(body["code"], "not_found");
    assert_eq!(app.count("accounts").await, 0);
}

async fn external_ids_cannot_change(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("KEEP", json!({})).await;
    let body = problem(
        app.patch("/api/v1/accounts/KEEP", &json!({"external_id": "NEW"}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/external_id"]);
}

async fn accounts_list_filters_searches_sorts_and_pages(b: Backend) {
    let app = spawn_app(b).await;
    let m: serde_json::Value = app
        .post("/api/v1/managers", &json!({"email": "a@x.io", "name": "A"}))
        .await
        .json()
        .await
        .expect("json");
    app.create_account(
        "C-3",
        json!({"name": "Gamma Foods", "industry": "Food", "manager_id": m["id"]}),
    )
    .await;
    app.create_account("C-1", json!({"name": "alpha Steel", "industry": "Steel"}))
        .await;
    app.create_account(
        "C-2",
        json!({"name": "Beta Steel_works 100%", "industry": "Steel", "manager_id": m["id"]}),
    )
    .await;

    let page: serde_json::Value = app
        .get("/api/v1/accounts?sort=name")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["external_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(page["total"], 3);
    assert_eq!(names.len(), 3);

    let page: serde_json::Value = app
        .get("/api/v1/accounts?sort=-external_id&limit=2")
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["external_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["C-3", "C-2"]);
    assert_eq!(page["total"], 3);
    let page: serde_json::Value = app
        .get("/api/v1/accounts?sort=-external_id&limit=2&offset=2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["external_id"], "C-1");

    let page: serde_json::Value = app
        .get("/api/v1/accounts?industry=Steel")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 2);
    let page: serde_json::Value = app
        .get(&format!("/api/v1/accounts?manager_id={}", m["id"]))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 2);
    // Case-insensitive search; LIKE wildcards in the query are literal.
    let page: serde_json::Value = app
        .get("/api/v1/accounts?q=STEEL")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 2);
    let page: serde_json::Value = app
        .get("/api/v1/accounts?q=100%25")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 1);
    let page: serde_json::Value = app
        .get("/api/v1/accounts?q=l_w")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 1, "underscore is not a wildcard");

    let body = problem(app.get("/api/v1/accounts?sort=secret").await, 422).await;
    assert_eq!(paths(&body), ["sort"]);
    let body = problem(app.get("/api/v1/accounts?limit=100000").await, 422).await;
    assert_eq!(paths(&body), ["limit"]);
    problem(app.get("/api/v1/accounts?limit=abc").await, 422).await;
}

async fn managers_can_be_listed_changed_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let m: serde_json::Value = app
        .post(
            "/api/v1/managers",
            &json!({"email": "kam@x.io", "name": "Kam", "webhook_url": "https://crm.example/hook"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id = m["id"].as_i64().expect("id");
    problem(
        app.post(
            "/api/v1/managers",
            &json!({"email": "KAM@x.io", "name": "Again"}),
        )
        .await,
        409,
    )
    .await;
    let body = problem(
        app.post(
            "/api/v1/managers",
            &json!({"email": "nope", "name": "X", "webhook_url": "ftp://x"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/email", "/webhook_url"]);

    let changed: serde_json::Value = app
        .patch(
            &format!("/api/v1/managers/{id}"),
            &json!({"phone": "+84 28 1234", "webhook_url": null}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(changed["phone"], "+84 28 1234");
    assert_eq!(changed["webhook_url"], serde_json::Value::Null);
    let list: serde_json::Value = app
        .get("/api/v1/managers?q=kam")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 1);

    app.create_account("OWNED", json!({"manager_id": id})).await;
    assert_eq!(
        app.delete(&format!("/api/v1/managers/{id}")).await.status(),
        204
    );
    let acc: serde_json::Value = app
        .get("/api/v1/accounts/OWNED")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        acc["manager_id"],
        serde_json::Value::Null,
        "accounts outlive their manager"
    );
    problem(app.get(&format!("/api/v1/managers/{id}")).await, 404).await;
    problem(app.get("/api/v1/managers/not-a-number").await, 404).await;
}

db_tests!(
    an_account_can_be_created_read_changed_and_deleted,
    a_duplicate_external_id_is_a_conflict,
    invalid_account_fields_are_all_reported_with_their_paths,
    malformed_json_wrong_types_and_unknown_fields_are_rejected,
    external_ids_cannot_change,
    accounts_list_filters_searches_sorts_and_pages,
    managers_can_be_listed_changed_and_deleted,
);
