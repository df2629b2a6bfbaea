//! In-database analysis runs: snapshots with reasons, class-change events between runs,
//! prospects and three P, the ABC-XYZ matrix and the one-run-at-a-time lock.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, hold_job, problem, run_analysis, spawn_app};

async fn orders(app: &TestApp, account: &str, list: &[(&str, &str)]) {
    let orders: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(i, (at, amount))| json!({"external_id": format!("{account}-{i}-{at}"), "account_id": account, "ordered_at": at, "amount": amount}))
        .collect();
    let resp = app
        .post("/api/v1/orders/batch", &json!({"orders": orders}))
        .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

fn monthly(day: &str, amount: &'static str) -> Vec<(String, &'static str)> {
    // One order on `day` of each month from 2025-03 to 2026-02.
    let mut v = Vec::new();
    for (y, m) in (3..=12)
        .map(|m| (2025, m))
        .chain((1..=2).map(|m| (2026, m)))
    {
        v.push((format!("{y}-{m:02}-{day}"), amount));
    }
    v
}

async fn a_run_classifies_every_account_and_explains_why(b: Backend) {
    let app = spawn_app(b).await; // clock: 2026-03-01 09:00 UTC
    for id in ["BIG", "MID", "OLD", "NEW"] {
        app.create_account(id, json!({"currency": "USD"})).await;
    }
    app.create_account("PROS", json!({"currency": "USD", "budget": "50000"}))
        .await;
    app.post(
        "/api/v1/accounts/PROS/stakeholders",
        &json!({"name": "Boss", "role": "decision_maker"}),
    )
    .await;
    let big = monthly("10", "1000");
    orders(
        &app,
        "BIG",
        &big.iter()
            .map(|(d, a)| (d.as_str(), *a))
            .collect::<Vec<_>>(),
    )
    .await;
    let mid = monthly("12", "150");
    orders(
        &app,
        "MID",
        &mid.iter()
            .map(|(d, a)| (d.as_str(), *a))
            .collect::<Vec<_>>(),
    )
    .await;
    orders(&app, "OLD", &[("2025-04-01", "500"), ("2025-05-01", "500")]).await;
    orders(&app, "NEW", &[("2026-02-20", "10")]).await;

    let first = run_analysis(&app).await;
    assert_eq!(first["summary"]["accounts"], 5);
    assert_eq!(first["as_of"], "2026-03-01");

    let a: serde_json::Value = app
        .get("/api/v1/accounts/BIG/analytics")
        .await
        .json()
        .await
        .expect("json");
    let latest = &a["latest"];
    // Window = the 12 complete months 2025-03..2026-02: BIG 12 × 1000 = 12000 of
    // 12000 + 1800 + 1000 + 10 = 14810 → 0.81 → B.
    assert_eq!(latest["revenue"], "12000.00");
    assert_eq!(latest["abc"], "B");
    assert_eq!(
        latest["abc_reason"],
        "B: cumulative share 0.81 > 0.80 and ≤ 0.95"
    );
    assert_eq!(latest["xyz"], "X", "12 equal months: CV 0 {latest}");
    assert_eq!(latest["xyz_reason"], "X: CV 0.000 ≤ 0.10 over 12 months");
    assert!(
        latest["types"]
            .as_array()
            .expect("types")
            .iter()
            .any(|t| t == "pillar")
    );
    assert_eq!(latest["lost"], false);

    let resource: serde_json::Value = app
        .get("/api/v1/accounts/BIG")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        resource["analytics"]["abc"], "B",
        "the account resource carries its classes"
    );
    assert_eq!(resource["analytics"]["types"], json!(["pillar"]));
    let old: serde_json::Value = app
        .get("/api/v1/accounts/OLD/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(old["latest"]["lost"], true);
    assert!(
        old["latest"]["lost_reason"]
            .as_str()
            .unwrap_or("")
            .contains("days since last order")
    );

    let pros: serde_json::Value = app
        .get("/api/v1/accounts/PROS/analytics")
        .await
        .json()
        .await
        .expect("json");
    let p = &pros["latest"];
    assert!(
        p["types"]
            .as_array()
            .expect("types")
            .iter()
            .any(|t| t == "prospect"),
        "{p}"
    );
    assert_eq!(p["three_p_score"], 2);
    assert_eq!(p["three_p_missing"], json!(["need"]));
    assert_eq!(p["qualified"], false);
    assert_eq!(p["abc"], serde_json::Value::Null, "no value: unclassified");

    let matrix: serde_json::Value = app
        .get("/api/v1/analytics/abc-xyz?cell=bx")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(matrix["currency"], "USD");
    let by = matrix["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["abc"] == "B" && c["xyz"] == "X")
        .expect("BX");
    // MID: (12000 + 1800) / 14810 = 0.93 → B, and as regular as BIG.
    assert_eq!(by["accounts"], 2);
    assert_eq!(by["value"], "13800.00");
    assert_eq!(
        matrix["drill_down"]["items"][0]["external_id"], "BIG",
        "by value, descending"
    );
    assert_eq!(matrix["drill_down"]["items"][1]["external_id"], "MID");
    assert_eq!(matrix["unclassified"], 1, "{matrix}");
    problem(app.get("/api/v1/analytics/abc-xyz?cell=QQ").await, 422).await;
}

async fn class_changes_between_runs_become_events(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A", json!({"currency": "USD"})).await;
    app.create_account("B", json!({"currency": "USD"})).await;
    orders(&app, "A", &[("2025-06-01", "100"), ("2025-06-20", "100")]).await;
    orders(&app, "B", &[("2026-02-01", "50")]).await;
    run_analysis(&app).await;
    // A buys again: recovered. A month later the new order is inside the window
    // (complete months only), so A's class changes too.
    app.clock.advance(chrono::Duration::days(32));
    orders(&app, "A", &[("2026-03-01", "5000")]).await;
    // Someone at A calls: the second run keeps A's engagement score with its snapshot.
    app.post(
        "/api/v1/accounts/A/stakeholders",
        &json!({"name": "Ann", "email": "ann@a.example", "role": "champion"}),
    )
    .await;
    let logged = app
        .post(
            "/api/v1/responses",
            &json!({"email": "ann@a.example", "kind": "call_logged"}),
        )
        .await;
    assert_eq!(logged.status(), 201);
    let second = run_analysis(&app).await;
    let a: serde_json::Value = app
        .get("/api/v1/accounts/A")
        .await
        .json()
        .await
        .expect("json");
    let score = a["engagement"]["score"].as_f64().expect("score");
    assert!(score > 0.0, "{a}");
    let analytics: serde_json::Value = app
        .get("/api/v1/accounts/A/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        analytics["latest"]["engagement_score"].as_f64(),
        Some(score)
    );
    let b_now: serde_json::Value = app
        .get("/api/v1/accounts/B/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(b_now["latest"]["engagement_score"].as_f64(), Some(0.0));
    // The recovery is in the event stream too, for sales webhooks (`account.recovered`).
    let stream: serde_json::Value = app
        .get("/api/v1/events?kind=recovered")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stream["total"], 1, "{stream}");
    assert_eq!(stream["items"][0]["account_id"], "A");
    assert!(
        stream["items"][0]["data"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("ordered again"),
        "{stream}"
    );
    assert!(second["summary"]["events"].as_u64().unwrap_or(0) >= 1);
    let a_id = app
        .get("/api/v1/accounts/A")
        .await
        .json::<serde_json::Value>()
        .await
        .expect("json")["id"]
        .as_i64()
        .expect("id");
    let events = abm::entities::account_class_event::Entity::find()
        .filter(abm::entities::account_class_event::Column::AccountId.eq(a_id))
        .all(&app.db)
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"recovered"), "{kinds:?}");
    assert!(kinds.contains(&"abc_changed"), "{kinds:?}");
    let history: serde_json::Value = app
        .get("/api/v1/accounts/A/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        history["history"].as_array().map(Vec::len),
        Some(1),
        "the first run is kept"
    );
    assert_eq!(history["history"][0]["lost"], true);
}

async fn only_one_run_at_a_time(b: Backend) {
    let app = spawn_app(b).await;
    let now = app.clock.now_utc();
    assert!(hold_job(&app, "analysis", "other-instance", now).await);
    let body = problem(
        app.post("/api/v1/analytics/runs?wait=true", &json!({}))
            .await,
        409,
    )
    .await;
    assert_eq!(body["code"], "run_in_progress");
    // A lease that ran out frees the job: the next worker step takes it over.
    app.clock.advance(chrono::Duration::minutes(6));
    abm::jobs::worker::drain(&app.ctx).await.expect("drain");
    let runs: serde_json::Value = app
        .get("/api/v1/analytics/runs")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(runs["total"], 1, "the takeover ran the analysis");
    let jobs: serde_json::Value = app
        .get("/api/v1/jobs/analysis/runs")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(jobs["items"][0]["trigger"], "takeover", "{jobs}");
    assert_eq!(jobs["items"][0]["status"], "succeeded", "{jobs}");
    assert_eq!(jobs["items"][1]["status"], "abandoned", "{jobs}");
    let runs: serde_json::Value = app
        .get("/api/v1/analytics/runs")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(runs["total"], 1);
}

async fn risk_churn_and_the_workbook_report_on_stored_runs(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A", json!({"currency": "USD", "industry": "Steel"}))
        .await;
    app.create_account("B", json!({"currency": "USD", "industry": "Food"}))
        .await;
    orders(&app, "A", &[("2025-06-01", "100"), ("2025-06-20", "100")]).await;
    orders(
        &app,
        "B",
        &[
            ("2025-12-01", "50"),
            ("2026-01-01", "50"),
            ("2026-02-01", "50"),
        ],
    )
    .await;
    run_analysis(&app).await;
    // A (last order 2025-06-20) is lost: all its window revenue is at risk.
    let risk: serde_json::Value = app
        .get("/api/v1/analytics/at-risk")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(risk["items"][0]["external_id"], "A");
    assert_eq!(risk["items"][0]["value_at_risk"], "200.00");
    assert_eq!(risk["items"][0]["lost"], true);

    // A month later A has ordered again: the second run records its recovery.
    app.clock.advance(chrono::Duration::days(32));
    orders(&app, "A", &[("2026-03-10", "100")]).await;
    run_analysis(&app).await;
    let churn: serde_json::Value = app
        .get("/api/v1/analytics/churn?direction=industry")
        .await
        .json()
        .await
        .expect("json");
    let steel: Vec<&serde_json::Value> = churn
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["group"] == "Steel")
        .collect();
    // The first run found A already lost (a new installation counts it as lost then).
    assert_eq!(steel.len(), 2, "{churn}");
    assert_eq!(steel[0]["month"], "2026-03");
    assert_eq!(steel[0]["lost"], 1);
    assert_eq!(steel[0]["recovered"], 0);
    assert_eq!(steel[1]["month"], "2026-04");
    assert_eq!(steel[1]["recovered"], 1);
    problem(
        app.get("/api/v1/analytics/churn?direction=planet").await,
        422,
    )
    .await;

    let resp = app.get("/api/v1/analytics/abc-xyz.xlsx").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .contains("spreadsheetml")
    );
    let bytes = resp.bytes().await.expect("bytes");
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    assert_eq!(
        wb.sheet_names(),
        ["ABC-XYZ", "Accounts", "Churn", "Win-back"]
    );
    let accounts = wb.worksheet_range("Accounts").expect("sheet");
    assert_eq!(accounts.get_size().0, 3, "header + two accounts");
    // The win-back sheet: the last 12 months of the default currency, then the total.
    let winback = wb.worksheet_range("Win-back").expect("sheet");
    let cells: Vec<String> = winback.rows().flatten().map(|c| c.to_string()).collect();
    assert!(cells.iter().any(|c| c == "return on offers"), "{cells:?}");
    assert!(cells.iter().any(|c| c == "total"), "{cells:?}");
}

async fn the_scheduled_job_runs_once_and_yields_to_a_running_instance(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("A", json!({})).await;
    let ctx = &app.ctx;
    let at = app.clock.now_utc();
    assert!(
        abm::jobs::schedule::fire(ctx, "analysis", at)
            .await
            .expect("fire")
            .is_some()
    );
    let ran = abm::jobs::worker::run_once(ctx).await.expect("run");
    assert_eq!(ran.map(|r| r.status), Some("succeeded".to_string()));
    // The next tick finds another instance running the analysis: it queues, and yields.
    let now = app.clock.now_utc();
    assert!(hold_job(&app, "analysis", "elsewhere", now).await);
    let next = now + chrono::Duration::days(1);
    assert!(
        abm::jobs::schedule::fire(ctx, "analysis", next)
            .await
            .expect("fire")
            .is_some()
    );
    let step = abm::jobs::worker::run_once(ctx).await.expect("step");
    assert!(
        step.as_ref().is_none_or(|r| r.job != "analysis"),
        "another instance holds the run: {step:?}"
    );
    let runs: serde_json::Value = app
        .get("/api/v1/analytics/runs")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(runs["total"], 1);
    assert_eq!(runs["items"][0]["trigger"], "schedule");
}

async fn small_markets_fall_back_to_the_rule_and_new_prospects_are_events(b: Backend) {
    let app = spawn_app(b).await; // 2026-03-01
    app.create_account("A", json!({})).await;
    orders(&app, "A", &[("2026-02-20", "10"), ("2026-02-25", "10")]).await;
    let first = run_analysis(&app).await;
    // Two accounts are no market for BG/NBD: the rule decides, and the run says why.
    assert!(
        first["summary"]["model_errors"]["USD"]
            .as_str()
            .unwrap_or("")
            .contains("too little data"),
        "{first}"
    );
    let a: serde_json::Value = app
        .get("/api/v1/accounts/A/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        a["latest"]["lost"], false,
        "4 days since the last order is not lost"
    );

    // A prospect created after the first run ordered this month: need is met (first order).
    app.create_account("P", json!({"budget": "1000"})).await;
    app.post(
        "/api/v1/accounts/P/stakeholders",
        &json!({"name": "CEO", "role": "decision_maker"}),
    )
    .await;
    app.clock.advance(chrono::Duration::days(3));
    orders(&app, "P", &[("2026-03-02", "5")]).await;
    let second = run_analysis(&app).await;
    let p: serde_json::Value = app
        .get("/api/v1/accounts/P/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["latest"]["three_p_score"], 3, "{p}");
    assert_eq!(p["latest"]["qualified"], true);
    assert!(
        second["summary"]["events"].as_u64().unwrap_or(0) >= 1,
        "{second}"
    );
    let kinds: Vec<String> = abm::entities::account_class_event::Entity::find()
        .all(&app.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "became_prospect"), "{kinds:?}");
}

async fn a_background_run_is_refused_while_another_runs(b: Backend) {
    let app = spawn_app(b).await;
    let now = app.clock.now_utc();
    assert!(hold_job(&app, "analysis", "other", now).await);
    let body = problem(app.post("/api/v1/analytics/runs", &json!({})).await, 409).await;
    assert_eq!(body["code"], "run_in_progress");
}

async fn a_run_cut_short_by_a_crash_is_marked_failed_by_the_next_run(b: Backend) {
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app(b).await;
    app.create_account("A", json!({})).await;
    let now = app.clock.now_utc();
    let stale = abm::entities::analysis_run::ActiveModel {
        trigger: Set("schedule".into()),
        status: Set("running".into()),
        as_of: Set(now.date_naive()),
        window_start: Set(now.date_naive()),
        measure: Set("revenue".into()),
        params: Set(json!({})),
        started_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("stale run");
    run_analysis(&app).await;
    let old = abm::entities::analysis_run::Entity::find_by_id(stale.id)
        .one(&app.db)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(old.status, "failed");
    assert!(old.error.unwrap_or_default().contains("interrupted"));
}

/// A new installation starts its win-back work at once: the first run announces accounts
/// already lost as `became_lost` (class event and event stream), except those whose last
/// order is older than `winback.max_age_days`; the next run does not announce them again.
async fn the_first_run_announces_accounts_already_lost_unless_long_gone(b: Backend) {
    let app = spawn_app(b).await;
    for id in ["RECENT", "LONG-GONE", "ACTIVE"] {
        app.create_account(id, json!({"currency": "EUR"})).await;
    }
    // The clock stands at 2026-03-01: RECENT last ordered 254 days ago, LONG-GONE 425.
    orders(
        &app,
        "RECENT",
        &[("2025-06-01", "900"), ("2025-06-20", "900")],
    )
    .await;
    orders(
        &app,
        "LONG-GONE",
        &[("2024-12-01", "700"), ("2025-01-01", "700")],
    )
    .await;
    let active = monthly("05", "300");
    let active: Vec<(&str, &str)> = active.iter().map(|(d, a)| (d.as_str(), *a)).collect();
    orders(&app, "ACTIVE", &active).await;
    run_analysis(&app).await;

    let lost = |id: &str| {
        let app = &app;
        let id = id.to_string();
        async move {
            app.get(&format!("/api/v1/accounts/{id}/analytics"))
                .await
                .json::<serde_json::Value>()
                .await
                .expect("json")["latest"]["lost"]
                .clone()
        }
    };
    assert_eq!(lost("RECENT").await, true);
    assert_eq!(lost("LONG-GONE").await, true);
    assert_eq!(lost("ACTIVE").await, false);
    let stream: serde_json::Value = app
        .get("/api/v1/events?kind=became_lost")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stream["total"], 1, "{stream}");
    assert_eq!(stream["items"][0]["account_id"], "RECENT");
    assert!(
        !stream["items"][0]["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{stream}"
    );
    let class_events = abm::entities::account_class_event::Entity::find()
        .filter(abm::entities::account_class_event::Column::Kind.eq("became_lost"))
        .all(&app.db)
        .await
        .expect("events");
    assert_eq!(class_events.len(), 1, "{class_events:?}");

    // Still lost a day later: nothing new.
    app.clock.advance(chrono::Duration::days(1));
    run_analysis(&app).await;
    let again: serde_json::Value = app
        .get("/api/v1/events?kind=became_lost")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["total"], 1, "{again}");
}

db_tests!(
    the_first_run_announces_accounts_already_lost_unless_long_gone,
    a_run_cut_short_by_a_crash_is_marked_failed_by_the_next_run,
    small_markets_fall_back_to_the_rule_and_new_prospects_are_events,
    a_background_run_is_refused_while_another_runs,
    risk_churn_and_the_workbook_report_on_stored_runs,
    the_scheduled_job_runs_once_and_yields_to_a_running_instance,
    a_run_classifies_every_account_and_explains_why,
    class_changes_between_runs_become_events,
    only_one_run_at_a_time,
);
