//! Hostile input found by attacking the running service: none of it may crash the process,
//! stall it, break later requests or change anything; each gets a precise problem+json.

use std::path::{Path, PathBuf};

use abm::import::{ImportError, NoProgress};
use chrono::{Months, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, paths, problem, run_analysis, spawn_app};

fn email_parts(html: &str) -> serde_json::Value {
    json!({"subject": "Hi {{account.name}}", "html": html, "text": "{{account.name}}"})
}

fn template(id: &str, parts: serde_json::Value) -> serde_json::Value {
    json!({"id": id, "purpose": "outreach", "channel": "email", "locale": "en",
           "when_text": "attributes.k0 = v0", "parts": parts})
}

/// The service still answers and its data is readable.
async fn still_up(app: &TestApp) {
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/api/v1/templates").await.status(), 200);
}

async fn templates_nested_thousands_deep_are_refused_with_the_part_named_and_the_service_keeps_answering(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let ifs = format!(
        "{}x{}",
        "{{#if account.name}}".repeat(2_000),
        "{{/if}}".repeat(2_000)
    );
    let body = problem(
        app.post(
            "/api/v1/templates",
            &template("deep-ifs", email_parts(&ifs)),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/parts/html"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nest more than 32 levels")),
        "{body}"
    );
    let eaches = format!(
        "{}x{}",
        "{{#each dossier.competitors}}".repeat(1_000),
        "{{/each}}".repeat(1_000)
    );
    let chain = format!(
        "{{{{#if account.name}}}}{}x{{{{/if}}}}",
        "{{else if account.name}}".repeat(300)
    );
    let parens = format!(
        "{{{{default {}account.name{} \"x\"}}}}",
        "(default ".repeat(1_000),
        " \"x\")".repeat(1_000)
    );
    for (what, html) in [
        ("1,000 nested loops", eaches),
        ("300 else-if links", chain),
        ("1,000 nested subexpressions", parens),
        (
            "4 nested loops",
            "{{#each a}}".repeat(4) + &"{{/each}}".repeat(4),
        ),
    ] {
        let body = problem(
            app.post("/api/v1/templates", &template("deep", email_parts(&html)))
                .await,
            422,
        )
        .await;
        assert_eq!(paths(&body), ["/parts/html"], "{what}: {body}");
    }
    // The same through PUT: the stored version stays as it was.
    json_of(
        app.post(
            "/api/v1/templates",
            &template("shallow", email_parts("<p>{{account.name}}</p>")),
        )
        .await,
        201,
    )
    .await;
    let mut put = template("shallow", email_parts(&ifs));
    put.as_object_mut().map(|o| o.remove("id"));
    problem(app.put("/api/v1/templates/shallow", &put).await, 422).await;
    let t = json_of(app.get("/api/v1/templates/shallow").await, 200).await;
    assert_eq!(t["origin"]["version"], 1);
    assert_eq!(app.count("templates").await, 1);
    still_up(&app).await;
}

async fn a_preview_looping_over_many_attributes_stops_with_a_clear_error_instead_of_running_long(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let attributes: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|i| (format!("k{i}"), json!(format!("v{i}"))))
        .collect();
    app.create_account("WIDE", json!({ "attributes": attributes }))
        .await;
    // Three loops (the most allowed) over 20 attributes: 8,000 rows of 200 bytes.
    let row = "x".repeat(200);
    let text = format!(
        "{{{{#each account.attributes}}}}{{{{#each ../account.attributes}}}}\
         {{{{#each ../../account.attributes}}}}{{{{@key}}}}{row}\n{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}"
    );
    json_of(
        app.post(
            "/api/v1/templates",
            &template(
                "wide",
                json!({"subject": "Hi", "html": "<p>hi</p>", "text": text}),
            ),
        )
        .await,
        201,
    )
    .await;
    let body = problem(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "WIDE", "purpose": "outreach"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(body["code"], "render_failed");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("templates/wide@v1/parts/text") && detail.contains("larger than 1024 KiB"),
        "{body}"
    );
    still_up(&app).await;
}

async fn json_rules_are_capped_like_text_rules_with_the_pointer_named(b: Backend) {
    let app = spawn_app(b).await;
    let many: Vec<usize> = (0..200_000).collect();
    let body = problem(
        app.post(
            "/api/v1/segments/preview",
            &json!({"rule": {"field": "orders", "op": "in", "value": many}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/rule/value"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than 1000 parts")),
        "{body}"
    );
    let body = problem(
        app.post(
            "/api/v1/segments",
            &json!({"name": "Huge", "rule": {"any": [
                {"field": "name", "op": "eq", "value": "x".repeat(6_000)},
                {"field": "name", "op": "eq", "value": "y".repeat(6_000)},
            ]}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/rule/any/1/value"], "{body}");
    // The text form counts alike, and a rule at the cap is accepted in both forms.
    let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let body = problem(
        app.post(
            "/api/v1/rules/parse",
            &json!({"rule_text": format!("orders in ({})", values(1_000))}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/rule_text"], "{body}");
    let ok = json_of(
        app.post(
            "/api/v1/rules/parse",
            &json!({"rule_text": format!("orders in ({})", values(999))}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.post("/api/v1/rules/parse", &json!({"rule": ok["rule"]}))
            .await,
        200,
    )
    .await;
    assert_eq!(app.count("segments").await, 0);
}

async fn money_beyond_the_documented_maximum_is_refused_with_the_field_named(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("M", json!({"currency": "USD"})).await;
    let huge = "922337203685477.58";
    let body = problem(
        app.post(
            "/api/v1/orders",
            &json!({"external_id": "O1", "account_id": "M", "ordered_at": "2025-05-01",
                    "amount": huge}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/amount"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 10000000000000.00 USD")),
        "{body}"
    );
    let orders: Vec<serde_json::Value> = (0..101)
        .map(|i| {
            json!({"external_id": format!("B{i}"), "account_id": "M",
                        "ordered_at": "2025-05-01", "amount": "1.00", "margin": huge})
        })
        .collect();
    let body = problem(
        app.post("/api/v1/orders/batch", &json!({ "orders": orders }))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body)[0], "/orders/0/margin", "{body}");
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "RICH", "name": "Rich", "budget": 1e16}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/budget"], "{body}");
    let body = problem(
        app.post(
            "/api/v1/accounts/M/relationship-events",
            &json!({"kind": "tender", "occurred_on": "2025-05-01", "value": huge}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/value"], "{body}");
    // The maximum itself is fine.
    json_of(
        app.post(
            "/api/v1/orders",
            &json!({"external_id": "MAX", "account_id": "M", "ordered_at": "2025-05-01",
                    "amount": "10000000000000.00"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(app.count("accounts").await, 1);
    assert_eq!(app.count("relationship_events").await, 0);
}

/// Orders written straight into the database, as data from before the limit might be.
async fn insert_orders(app: &TestApp, account: &str, n: u32, amount_minor: i64) {
    let id = abm::entities::account::Entity::find()
        .filter(abm::entities::account::Column::ExternalId.eq(account))
        .one(&app.db)
        .await
        .expect("query")
        .expect("account")
        .id;
    let start = Utc
        .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("date");
    for i in 0..n {
        let at = start + Months::new(i % 12) + chrono::Duration::days(i64::from(i / 12));
        abm::entities::order::ActiveModel {
            external_id: Set(format!("{account}-{i}")),
            account_id: Set(id),
            ordered_at: Set(at),
            amount_minor: Set(amount_minor),
            margin_minor: Set(None),
            currency: Set("USD".into()),
            offer_code: Set(None),
            created_at: Set(start),
            updated_at: Set(start),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("insert order");
    }
}

async fn sums_of_huge_legacy_amounts_neither_go_negative_nor_break_other_accounts(b: Backend) {
    let app = spawn_app(b).await;
    for id in ["BIG1", "BIG2", "SMALL"] {
        app.create_account(id, json!({"currency": "USD"})).await;
    }
    // 101 orders of 922,337,203,685,477.58 USD each: more than an i64 holds, twice over.
    insert_orders(&app, "BIG1", 101, 92_233_720_368_547_758).await;
    insert_orders(&app, "BIG2", 101, 92_233_720_368_547_758).await;
    insert_orders(&app, "SMALL", 12, 10_000).await;
    run_analysis(&app).await;

    let matrix = json_of(app.get("/api/v1/analytics/abc-xyz?currency=USD").await, 200).await;
    for cell in matrix["cells"].as_array().expect("cells") {
        let value = cell["value"].as_str().expect("value");
        assert!(!value.starts_with('-'), "{matrix}");
        let share = cell["share"].as_f64().expect("share");
        assert!((0.0..=1.0).contains(&share), "{matrix}");
    }
    json_of(
        app.get("/api/v1/analytics/abc-xyz?currency=USD&cell=AX")
            .await,
        200,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/analytics/abc-xyz.xlsx").await.status(),
        200
    );
    let p = json_of(
        app.post(
            "/api/v1/segments/preview",
            &json!({"rule_text": "revenue > 0 and profit_share >= 0"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["count"], 3, "{p}");
    json_of(
        app.post("/api/v1/segments/recompute", &json!({})).await,
        200,
    )
    .await;
    for account in ["SMALL", "BIG1"] {
        json_of(
            app.post(
                "/api/v1/templates/preview",
                &json!({"account": account, "purpose": "outreach"}),
            )
            .await,
            200,
        )
        .await;
        json_of(
            app.get(&format!("/api/v1/accounts/{account}/analytics"))
                .await,
            200,
        )
        .await;
    }
}

async fn a_non_ascii_matrix_cell_is_a_422_not_a_dropped_connection(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A", json!({})).await;
    run_analysis(&app).await;
    for cell in ["¾", "A¾", "¾X", "Äx", "AXX"] {
        let body = problem(
            app.get(&format!("/api/v1/analytics/abc-xyz?cell={cell}"))
                .await,
            422,
        )
        .await;
        assert_eq!(paths(&body), ["cell"], "{cell}: {body}");
    }
    json_of(app.get("/api/v1/analytics/abc-xyz?cell=ax").await, 200).await;
}

async fn overlong_searches_are_refused_on_the_q_parameter(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("S", json!({})).await;
    let long = "a".repeat(50_000);
    for list in [
        "/api/v1/accounts",
        "/api/v1/managers",
        "/api/v1/accounts/S/stakeholders",
        "/api/v1/accounts/S/competitors",
    ] {
        let body = problem(app.get(&format!("{list}?q={long}")).await, 422).await;
        assert_eq!(paths(&body), ["q"], "{list}: {body}");
        let fine = app.get(&format!("{list}?q={}", "%25".repeat(200))).await;
        assert_eq!(fine.status(), 200, "{list}");
    }
}

async fn a_body_with_more_json_after_the_first_value_is_refused_and_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("T", json!({})).await;
    let one = |id: &str| {
        json!({"orders": [{"external_id": id, "account_id": "T", "ordered_at": "2025-05-01",
                           "amount": "10.00"}]})
    };
    let body = format!("{}{}", one("first"), one("second"));
    for key in [None, Some("trailing-1")] {
        let mut request = app
            .client
            .post(app.url("/api/v1/orders/batch"))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(k) = key {
            request = request.header("Idempotency-Key", k);
        }
        let p = problem(request.send().await.expect("request"), 400).await;
        assert_eq!(p["code"], "bad_request");
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("only one JSON value")),
            "{p}"
        );
    }
    assert_eq!(app.count("orders").await, 0);
    // Whitespace after the value is fine.
    let resp = app
        .client
        .post(app.url("/api/v1/orders/batch"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(format!("{}\n \n", one("first")))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
}

async fn control_characters_in_one_line_fields_are_refused_and_allowed_in_notes(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("C", json!({})).await;
    let refused = [
        (
            "/api/v1/accounts",
            json!({"external_id": "C2", "name": "Acme\r\nBcc: victim@example.com"}),
            "/name",
        ),
        (
            "/api/v1/accounts",
            json!({"external_id": "C\n3", "name": "Acme"}),
            "/external_id",
        ),
        (
            "/api/v1/accounts",
            json!({"external_id": "C4", "name": "Acme", "industry": "Steel\u{1b}[31m"}),
            "/industry",
        ),
        (
            "/api/v1/managers",
            json!({"email": "m@example.com", "name": "Bob\nSmith"}),
            "/name",
        ),
        (
            "/api/v1/managers",
            json!({"email": "\"m\r\nBcc\"@example.com", "name": "Bob"}),
            "/email",
        ),
        (
            "/api/v1/accounts/C/stakeholders",
            json!({"name": "Lan\u{0}", "role": "user"}),
            "/name",
        ),
        (
            "/api/v1/accounts/C/stakeholders",
            json!({"name": "Lan", "title": "CEO\r\nCTO", "role": "user"}),
            "/title",
        ),
        (
            "/api/v1/accounts/C/competitors",
            json!({"name": "Rival\u{7f}"}),
            "/name",
        ),
        (
            "/api/v1/segments",
            json!({"key": "s", "name": "Big\nones", "rule_text": "true"}),
            "/name",
        ),
        (
            "/api/v1/orders",
            json!({"external_id": "O\r1", "account_id": "C", "ordered_at": "2025-05-01",
                   "amount": "1"}),
            "/external_id",
        ),
        (
            "/api/v1/orders",
            json!({"external_id": "O1", "account_id": "C", "ordered_at": "2025-05-01",
                   "amount": "1", "offer_code": "WIN\nBACK"}),
            "/offer_code",
        ),
        (
            "/api/v1/accounts/C/relationship-events",
            json!({"kind": "meeting", "occurred_on": "2025-05-01", "notes": "a\u{0}b"}),
            "/notes",
        ),
    ];
    for (path, input, field) in refused {
        let resp = app.post(path, &input).await;
        assert_eq!(resp.status(), 422, "{path} {input}");
        let body = problem(resp, 422).await;
        assert_eq!(paths(&body), [field], "{path} {input}: {body}");
    }
    let body = problem(
        app.patch("/api/v1/accounts/C", &json!({"name": "New\u{2028}Name"}))
            .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/name"], "{body}");
    for table in [
        "managers",
        "stakeholders",
        "competitors",
        "segments",
        "orders",
        "relationship_events",
    ] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    assert_eq!(app.count("accounts").await, 1);
    let account = json_of(app.get("/api/v1/accounts/C").await, 200).await;
    assert_eq!(account["name"], "C Ltd");
    // Multi-line fields keep their line breaks.
    json_of(
        app.post(
            "/api/v1/accounts/C/competitors",
            &json!({"name": "Rival", "notes": "line 1\r\nline 2\ttabbed"}),
        )
        .await,
        201,
    )
    .await;
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write file");
    path
}

fn row_errors(e: ImportError) -> Vec<String> {
    match e {
        ImportError::Rows { shown, .. } => shown.iter().map(ToString::to_string).collect(),
        other => panic!("expected row errors, got {other}"),
    }
}

async fn imports_name_the_row_and_column_of_control_characters_and_huge_amounts(b: Backend) {
    let app = spawn_app(b).await;
    let dir = tempfile::tempdir().expect("dir");
    let accounts = write(
        dir.path(),
        "accounts.csv",
        b"external_id,name,manager_email,manager_name\nA1,Fine,,\nA2,\"Acme\nBcc: x\",,\nA3,Ok,m@example.com,\"Bob\rSmith\"\n",
    );
    let e = abm::accounts::import::import_accounts(
        &app.db,
        &app.clock,
        &app.settings,
        &accounts,
        None,
        &NoProgress,
    )
    .await
    .expect_err("control characters");
    let shown = row_errors(e);
    assert!(
        shown
            .iter()
            .any(|s| s.contains("column `name`") && s.contains("line breaks")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|s| s.contains("column `manager_name`")),
        "{shown:?}"
    );
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(app.count("accounts").await, 0);
    assert_eq!(app.count("managers").await, 0);

    app.create_account("ACC", json!({"currency": "USD"})).await;
    let orders = write(
        dir.path(),
        "orders.csv",
        b"external_id,account_id,ordered_at,amount,offer_code\nO1,ACC,2025-01-01,922337203685477.58,\nO2,ACC,2025-01-02,1.00,\"A\nB\"\n",
    );
    let opts = abm::orders::import::OrderImportOptions {
        create_accounts: false,
        sheet: None,
    };
    let e = abm::orders::import::import_orders(
        &app.db,
        &app.clock,
        &app.settings,
        &orders,
        &opts,
        &NoProgress,
    )
    .await
    .expect_err("bad rows");
    let shown = row_errors(e);
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("row 2, column `amount`") && s.contains("at most")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|s| s.contains("column `offer_code`")),
        "{shown:?}"
    );
    assert_eq!(app.count("orders").await, 0);
}

async fn subjects_rendered_from_legacy_data_cannot_carry_line_breaks(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("LEG", json!({})).await;
    // A name stored before control characters were refused.
    let mut a: abm::entities::account::ActiveModel = abm::entities::account::Entity::find()
        .filter(abm::entities::account::Column::ExternalId.eq("LEG"))
        .one(&app.db)
        .await
        .expect("query")
        .expect("account")
        .into();
    a.name = Set("Legacy Corp\r\nBcc: victim@example.com".into());
    a.update(&app.db).await.expect("update");
    let p = json_of(
        app.post(
            "/api/v1/templates/preview",
            &json!({"account": "LEG", "purpose": "outreach"}),
        )
        .await,
        200,
    )
    .await;
    let subject = p["rendered"]["subject"].as_str().expect("subject");
    assert!(
        subject.contains("Legacy Corp Bcc: victim@example.com"),
        "{subject}"
    );
    assert!(!subject.chars().any(char::is_control), "{subject:?}");
}

/// NUL cannot be stored or searched for by PostgreSQL: it is refused where it is read, and
/// anywhere else it is a client error, not a 500.
async fn nul_characters_never_cause_a_server_error(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("N", json!({})).await;
    let body = problem(app.get("/api/v1/accounts?industry=a%00b").await, 422).await;
    assert_eq!(paths(&body), ["industry"], "{body}");
    let body = problem(
        app.post(
            "/api/v1/accounts",
            &json!({"external_id": "AT", "name": "x", "attributes": {"k/1": ["a\u{0}b"]}}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(paths(&body), ["/attributes/k~11"], "{body}");
    for path in [
        "/api/v1/accounts/a%00b",
        "/api/v1/segments/a%00b",
        "/api/v1/templates/a%00b",
        "/api/v1/orders/a%00b",
        "/api/v1/accounts/N/stakeholders?q=a%00b",
    ] {
        let status = app.get(path).await.status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    for (path, input) in [
        (
            "/api/v1/templates/preview",
            json!({"account": "a\u{0}b", "purpose": "outreach"}),
        ),
        (
            "/api/v1/templates",
            json!({"id": "t", "purpose": "outreach", "channel": "task", "locale": "en",
                   "description": "a\u{0}b", "parts": {"task": "x"}}),
        ),
    ] {
        let status = app.post(path, &input).await.status();
        assert!(!status.is_server_error(), "{path}: {status}");
    }
    assert_eq!(app.count("accounts").await, 1);
}

db_tests!(
    templates_nested_thousands_deep_are_refused_with_the_part_named_and_the_service_keeps_answering,
    a_preview_looping_over_many_attributes_stops_with_a_clear_error_instead_of_running_long,
    json_rules_are_capped_like_text_rules_with_the_pointer_named,
    money_beyond_the_documented_maximum_is_refused_with_the_field_named,
    sums_of_huge_legacy_amounts_neither_go_negative_nor_break_other_accounts,
    a_non_ascii_matrix_cell_is_a_422_not_a_dropped_connection,
    overlong_searches_are_refused_on_the_q_parameter,
    a_body_with_more_json_after_the_first_value_is_refused_and_changes_nothing,
    control_characters_in_one_line_fields_are_refused_and_allowed_in_notes,
    imports_name_the_row_and_column_of_control_characters_and_huge_amounts,
    subjects_rendered_from_legacy_data_cannot_carry_line_breaks,
    nul_characters_never_cause_a_server_error,
);
