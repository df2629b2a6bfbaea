use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, paths, problem, spawn_app};

async fn the_profile_is_replaced_whole_and_validated(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("P1", json!({})).await;
    let empty: serde_json::Value = app
        .get("/api/v1/accounts/P1/profile")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(empty["description"], serde_json::Value::Null);
    assert_eq!(empty["updated_at"], serde_json::Value::Null);

    let body = json!({"description": "Steel maker", "employees": 1200, "founded_year": 1987,
        "history": "Spun off in 1987", "org_structure": "Holding + 3 plants", "business_environment": "Tariffs"});
    let put = app.put("/api/v1/accounts/P1/profile", &body).await;
    assert_eq!(put.status(), 200);
    let got: serde_json::Value = app
        .get("/api/v1/accounts/P1/profile")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(got["employees"], 1200);
    assert_eq!(got["org_structure"], "Holding + 3 plants");

    let replaced: serde_json::Value = app
        .put(
            "/api/v1/accounts/P1/profile",
            &json!({"description": "Only this"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(replaced["employees"], serde_json::Value::Null);

    let bad = problem(
        app.put(
            "/api/v1/accounts/P1/profile",
            &json!({"employees": -5, "founded_year": 3000}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&bad), ["/employees", "/founded_year"]);
    problem(
        app.put("/api/v1/accounts/NOPE/profile", &json!({})).await,
        404,
    )
    .await;
}

async fn relationship_history_records_outcomes_and_reasons(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("R1", json!({"currency": "EUR"})).await;
    let tender: serde_json::Value = app
        .post(
            "/api/v1/accounts/R1/relationship-events",
            &json!({"kind": "tender", "occurred_on": "2025-06-01", "value": "125000.5", "outcome": "lost", "reason": "price"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tender["value"], "125000.50");
    app.post(
        "/api/v1/accounts/R1/relationship-events",
        &json!({"kind": "delivery", "occurred_on": "2025-09-01"}),
    )
    .await;
    let list: serde_json::Value = app
        .get("/api/v1/accounts/R1/relationship-events")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["kind"], "delivery", "newest first");
    assert_eq!(list["items"][1]["reason"], "price");
    let lost: serde_json::Value = app
        .get("/api/v1/accounts/R1/relationship-events?outcome=lost")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(lost["total"], 1);
    let oldest: serde_json::Value = app
        .get("/api/v1/accounts/R1/relationship-events?sort=occurred_on&limit=1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(oldest["items"][0]["kind"], "tender");
    assert_eq!(oldest["items"].as_array().map(Vec::len), Some(1));

    let id = tender["id"].as_i64().expect("id");
    let won: serde_json::Value = app
        .patch(
            &format!("/api/v1/accounts/R1/relationship-events/{id}"),
            &json!({"outcome": "won", "reason": "technical fit"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(won["outcome"], "won");
    assert_eq!(won["kind"], "tender");

    let bad = problem(
        app.post(
            "/api/v1/accounts/R1/relationship-events",
            &json!({"kind": "party", "occurred_on": "2025-02-30", "outcome": "maybe"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&bad), ["/kind", "/occurred_on", "/outcome"]);

    assert_eq!(
        app.delete(&format!("/api/v1/accounts/R1/relationship-events/{id}"))
            .await
            .status(),
        204
    );
    problem(
        app.get(&format!("/api/v1/accounts/R1/relationship-events/{id}"))
            .await,
        404,
    )
    .await;
}

async fn the_decision_map_holds_stakeholders_with_roles(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("D1", json!({})).await;
    app.create_account("D2", json!({})).await;
    let ceo: serde_json::Value = app
        .post(
            "/api/v1/accounts/D1/stakeholders",
            &json!({"name": "Nguyen Van A", "title": "CEO", "email": "a@d1.vn", "role": "decision_maker", "influence": 5, "language": "vi", "consent": "granted"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ceo["role"], "decision_maker");
    assert!(
        ceo["external_id"]
            .as_str()
            .expect("derived id")
            .starts_with("s-")
    );
    let user: serde_json::Value = app
        .post(
            "/api/v1/accounts/D1/stakeholders",
            &json!({"external_id": "CRM-9", "name": "Tran B", "role": "user"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(user["influence"], 3);
    assert_eq!(user["consent"], "unknown");

    let list: serde_json::Value = app
        .get("/api/v1/accounts/D1/stakeholders")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["items"][0]["name"], "Nguyen Van A",
        "most influential first"
    );
    let deciders: serde_json::Value = app
        .get("/api/v1/accounts/D1/stakeholders?role=decision_maker")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(deciders["total"], 1);
    let found: serde_json::Value = app
        .get("/api/v1/accounts/D1/stakeholders?q=tran&sort=name")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(found["items"][0]["external_id"], "CRM-9");
    problem(
        app.get("/api/v1/accounts/D1/stakeholders?sort=email").await,
        422,
    )
    .await;

    let bad = problem(
        app.post(
            "/api/v1/accounts/D1/stakeholders",
            &json!({"name": "X", "role": "boss", "influence": 9, "email": "x@", "language": "!!"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&bad), ["/email", "/role", "/influence", "/language"]);
    problem(
        app.post(
            "/api/v1/accounts/D2/stakeholders",
            &json!({"external_id": "CRM-9", "name": "Other", "role": "user"}),
        )
        .await,
        409,
    )
    .await;

    let uid = user["id"].as_i64().expect("id");
    let changed: serde_json::Value = app
        .patch(
            &format!("/api/v1/accounts/D1/stakeholders/{uid}"),
            &json!({"role": "champion", "email": null}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(changed["role"], "champion");
    // A stakeholder is only reachable through its own account.
    problem(
        app.get(&format!("/api/v1/accounts/D2/stakeholders/{uid}"))
            .await,
        404,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/D1/stakeholders/{uid}"))
            .await
            .status(),
        204
    );
}

async fn competitors_and_the_whole_dossier(b: Backend) {
    let app = spawn_app(b).await;
    let m: serde_json::Value = app
        .post("/api/v1/managers", &json!({"email": "k@x.io", "name": "K"}))
        .await
        .json()
        .await
        .expect("json");
    app.create_account("W1", json!({"manager_id": m["id"]}))
        .await;
    let c: serde_json::Value = app
        .post(
            "/api/v1/accounts/W1/competitors",
            &json!({"name": "Rival Corp", "products": "Coils", "strength": 4}),
        )
        .await
        .json()
        .await
        .expect("json");
    problem(
        app.post(
            "/api/v1/accounts/W1/competitors",
            &json!({"name": "Weak", "strength": 0}),
        )
        .await,
        422,
    )
    .await;
    app.post(
        "/api/v1/accounts/W1/competitors",
        &json!({"name": "Another", "strength": 2}),
    )
    .await;
    let strongest: serde_json::Value = app
        .get("/api/v1/accounts/W1/competitors?sort=-strength")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(strongest["items"][0]["name"], "Rival Corp");
    let by_product: serde_json::Value = app
        .get("/api/v1/accounts/W1/competitors?q=coil")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(by_product["total"], 1);
    let cid = c["id"].as_i64().expect("id");
    let changed: serde_json::Value = app
        .patch(
            &format!("/api/v1/accounts/W1/competitors/{cid}"),
            &json!({"notes": "Bundles logistics"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(changed["strength"], 4);
    assert_eq!(changed["notes"], "Bundles logistics");
    app.put(
        "/api/v1/accounts/W1/profile",
        &json!({"description": "Key account"}),
    )
    .await;
    app.post(
        "/api/v1/accounts/W1/stakeholders",
        &json!({"name": "Boss", "role": "decision_maker"}),
    )
    .await;
    app.post(
        "/api/v1/accounts/W1/relationship-events",
        &json!({"kind": "meeting", "occurred_on": "2026-01-10"}),
    )
    .await;

    let dossier: serde_json::Value = app
        .get("/api/v1/accounts/W1/dossier")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(dossier["account"]["external_id"], "W1");
    assert_eq!(dossier["manager"]["name"], "K");
    assert_eq!(dossier["profile"]["description"], "Key account");
    assert_eq!(dossier["stakeholders"].as_array().map(Vec::len), Some(1));
    assert_eq!(dossier["competitors"].as_array().map(Vec::len), Some(2));
    assert_eq!(dossier["relationship_history"][0]["kind"], "meeting");

    // Deleting the account removes its whole dossier.
    assert_eq!(app.delete("/api/v1/accounts/W1").await.status(), 204);
    for table in [
        "dossier_profiles",
        "stakeholders",
        "competitors",
        "relationship_events",
    ] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
}

db_tests!(
    the_profile_is_replaced_whole_and_validated,
    relationship_history_records_outcomes_and_reasons,
    the_decision_map_holds_stakeholders_with_roles,
    competitors_and_the_whole_dossier,
);
