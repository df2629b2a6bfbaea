use crate::db_tests;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

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

/// The document states what validation enforces, so that schema-driven clients and fuzzers
/// send what is accepted; these are some of those rules, which must not silently disappear.
async fn the_openapi_document_states_the_input_rules(b: Backend) {
    let app = spawn_app_with(b, &[("ABM_API__MAX_PAGE_SIZE", "250")]).await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let param = |path: &str, name: &str| -> serde_json::Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("GET {path} has `{name}`"))
    };
    // Search text: at most 200 characters, no NUL.
    for path in ["/api/v1/accounts", "/api/v1/managers"] {
        let q = param(path, "q");
        assert_eq!(q["schema"]["maxLength"], 200, "{path}");
        assert_eq!(q["schema"]["pattern"], r"^[^\u0000]*$", "{path}");
    }
    // Pages: from 1 to the configured largest page; sort fields per list.
    let limit = param("/api/v1/accounts", "limit");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 250);
    let sort = param("/api/v1/accounts", "sort");
    let fields = sort["schema"]["enum"].as_array().expect("sort fields");
    assert!(fields.contains(&"name".into()) && fields.contains(&"-created_at".into()));
    assert!(!fields.contains(&"email".into()), "{fields:?}");
    // The ABC-XYZ cell.
    let cell = param("/api/v1/analytics/abc-xyz", "cell");
    assert_eq!(cell["schema"]["pattern"], "^[ABCabc][XYZxyz]$");

    let schemas = &doc["components"]["schemas"];
    // An account's name: required on create, one line, not blank, at most 300 characters.
    let account = &schemas["AccountInput"];
    assert!(
        account["required"]
            .as_array()
            .is_some_and(|r| r.contains(&"name".into()) && r.contains(&"external_id".into()))
    );
    let name = &account["properties"]["name"];
    assert_eq!(name["type"], "string", "a name may not be null");
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], 300);
    let pattern = name["pattern"].as_str().expect("pattern");
    assert!(
        pattern.starts_with(r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029]"),
        "{pattern}"
    );
    assert_eq!(
        account["properties"]["external_id"]["$ref"],
        "#/components/schemas/ExternalId"
    );
    assert_eq!(schemas["ExternalId"]["maxLength"], 128);
    // A change cannot send the external id; it requires nothing.
    assert!(schemas["AccountPatch"]["properties"]["external_id"].is_null());
    assert!(schemas["AccountPatch"]["required"].is_null());
    // Ranges and vocabularies.
    let influence = &schemas["StakeholderInput"]["properties"]["influence"];
    assert_eq!(
        (&influence["minimum"], &influence["maximum"]),
        (&1.into(), &5.into())
    );
    assert_eq!(
        schemas["StakeholderInput"]["properties"]["role"]["$ref"],
        "#/components/schemas/StakeholderRole"
    );
    assert!(
        schemas["CurrencyCode"]["enum"]
            .as_array()
            .is_some_and(|c| c.contains(&"VND".into()))
    );
    assert!(
        schemas["Timezone"]["enum"]
            .as_array()
            .is_some_and(|c| c.contains(&"Asia/Ho_Chi_Minh".into()))
    );
    assert_eq!(schemas["Amount"]["pattern"], r"^[0-9]{1,11}(\.0{1,4})?$");
    assert_eq!(
        schemas["BusinessDate"]["pattern"],
        "^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"
    );
    // Each preview has its own body (they once shared one name, and so one schema).
    let body = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    assert_eq!(
        body("/api/v1/segments/preview"),
        "#/components/schemas/SegmentPreviewInput"
    );
    assert_eq!(
        body("/api/v1/templates/preview"),
        "#/components/schemas/TemplatePreviewInput"
    );
    let sample = &schemas["SegmentPreviewInput"]["allOf"][0]["properties"]["sample_size"];
    assert_eq!(sample["maximum"], 200);
}

db_tests!(
    the_openapi_document_lists_the_real_routes,
    the_openapi_document_states_the_input_rules
);
