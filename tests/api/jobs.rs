//! Durable jobs: one run per scheduled moment across instances, lease takeover, graceful
//! shutdown, the jobs API, and the metrics endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use abm::context::AppContext;
use abm::jobs::{JobDef, RunStatus, Trigger, job_fn, runs, worker};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, hold_job, json_of, problem, spawn_app};

/// A second "process" on the test app's database: its own context and instance id.
fn instance(app: &TestApp, id: &str, extra: Vec<JobDef>) -> Arc<AppContext> {
    let mut ctx = AppContext::new(
        app.db.clone(),
        app.settings.clone(),
        Arc::new(app.clock.clone()),
    )
    .with_instance_id(id);
    for def in extra {
        ctx.jobs.register(def);
    }
    Arc::new(ctx)
}

/// The text of the app's `/metrics`.
async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// A job that counts its runs.
fn counting(name: &str, counter: Arc<AtomicUsize>) -> JobDef {
    JobDef {
        name: name.into(),
        description: "counts".into(),
        schedule: "0 0 3 * * *".into(),
        run: job_fn(move |_, _| {
            let c = counter.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(Some(json!({"counted": true})))
            }
        }),
    }
}

/// A job that says it started, then works until its run is cancelled.
fn blocking(name: &str, started: Arc<tokio::sync::Notify>) -> JobDef {
    JobDef {
        name: name.into(),
        description: "blocks".into(),
        schedule: String::new(),
        run: job_fn(move |_, scope| {
            let started = started.clone();
            async move {
                started.notify_one();
                scope.cancel.cancelled().await;
                Ok(None)
            }
        }),
    }
}

async fn two_schedulers_firing_the_same_moment_run_the_job_once(b: Backend) {
    let app = spawn_app(b).await;
    let counter = Arc::new(AtomicUsize::new(0));
    let a = instance(&app, "a", vec![counting("tick", counter.clone())]);
    let c = instance(&app, "c", vec![counting("tick", counter.clone())]);
    let moment = app.clock.now_utc();

    let (fa, fc) = tokio::join!(
        abm::jobs::schedule::fire(&a, "tick", moment),
        abm::jobs::schedule::fire(&c, "tick", moment)
    );
    let queued = [fa.expect("fire a"), fc.expect("fire c")];
    assert_eq!(
        queued.iter().filter(|q| q.is_some()).count(),
        1,
        "{queued:?}"
    );
    let (ra, rc) = tokio::join!(worker::run_once(&a), worker::run_once(&c));
    let ran: Vec<_> = [ra.expect("a"), rc.expect("c")]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ran.len(), 1, "exactly one instance ran it: {ran:?}");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    assert_eq!(ran[0].status, "succeeded");

    // Both see the one recorded run.
    for ctx in [&a, &c] {
        let (items, total) = abm::jobs::runs_of(ctx, "tick", 10, 0, true)
            .await
            .expect("runs");
        assert_eq!(total, 1);
        assert_eq!(items[0].trigger, Trigger::Schedule);
        assert_eq!(items[0].scheduled_for, Some(moment));
    }
    // The same moment fired again later (a slow scheduler) does not run it again.
    assert!(
        abm::jobs::schedule::fire(&a, "tick", moment)
            .await
            .expect("fire")
            .is_none()
    );
}

async fn a_holder_that_stops_renewing_is_taken_over_and_the_takeover_is_recorded(b: Backend) {
    let app = spawn_app(b).await;
    let counter = Arc::new(AtomicUsize::new(0));
    let crashed = instance(&app, "crashed", vec![counting("tick", counter.clone())]);
    let taker = instance(&app, "taker", vec![counting("tick", counter.clone())]);
    abm::jobs::trigger(&crashed, "tick", Trigger::Api)
        .await
        .expect("queue");
    // The first instance claims the run, then dies without renewing.
    let held = worker::claim_next(&crashed)
        .await
        .expect("claim")
        .expect("a run");
    assert!(
        worker::run_once(&taker).await.expect("step").is_none(),
        "a live lease is respected"
    );

    app.clock.advance(chrono::Duration::seconds(
        i64::from(app.settings.jobs.lease_seconds) + 1,
    ));
    let done = worker::run_once(&taker)
        .await
        .expect("step")
        .expect("the job was taken over");
    assert_eq!(done.status, "succeeded");
    assert_eq!(done.trigger, "takeover");
    assert_eq!(done.taken_over_from, Some(held.id));
    assert_eq!(done.instance_id.as_deref(), Some("taker"));
    assert_eq!(counter.load(Ordering::SeqCst), 1);

    let old = runs::get(&app.db, held.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(old.status, "abandoned");
    let why = old.error.unwrap_or_default();
    assert!(why.contains("crashed") && why.contains("taker"), "{why}");
    // The old holder coming back cannot overwrite the takeover's record.
    let late = runs::finish(
        &app.db,
        held.id,
        "crashed",
        RunStatus::Succeeded,
        app.clock.now_utc(),
        None,
        None,
    )
    .await
    .expect("finish");
    assert!(!late);
}

async fn graceful_shutdown_releases_held_leases(b: Backend) {
    let app = spawn_app(b).await;
    let started = Arc::new(tokio::sync::Notify::new());
    let leaving = instance(&app, "leaving", vec![blocking("long", started.clone())]);
    let counter = Arc::new(AtomicUsize::new(0));
    let staying = instance(&app, "staying", vec![counting("long", counter.clone())]);
    abm::jobs::trigger(&leaving, "long", Trigger::Api)
        .await
        .expect("queue");
    let loop_handle = worker::spawn_loop(leaving.clone());
    started.notified().await;
    assert_eq!(leaving.jobs_rt.held_runs().len(), 1);

    let interrupted = worker::shutdown(&leaving, std::time::Duration::ZERO).await;
    assert_eq!(interrupted.len(), 1);
    loop_handle.await.expect("worker loop ends");
    let run = runs::get(&app.db, interrupted[0])
        .await
        .expect("get")
        .expect("row");
    assert_eq!(run.status, "interrupted");
    assert_eq!(run.lease_until, None, "the lease is released");

    // Another instance runs it at once: no lease to wait out, the clock has not moved.
    let Some(done) = worker::run_once(&staying).await.expect("step") else {
        let rows = abm::entities::job_run::Entity::find()
            .all(&app.db)
            .await
            .expect("rows");
        panic!("no requeued run to claim: {rows:#?}");
    };
    assert_eq!(done.trigger, "requeue");
    assert_eq!(done.status, "succeeded");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    // The stopped instance claims nothing more.
    abm::jobs::trigger(&leaving, "long", Trigger::Api)
        .await
        .expect("queue");
    assert!(worker::claim_next(&leaving).await.expect("claim").is_none());
}

async fn a_job_that_panics_is_a_failed_run_and_the_worker_goes_on(b: Backend) {
    let app = spawn_app(b).await;
    let counter = Arc::new(AtomicUsize::new(0));
    let ctx = instance(
        &app,
        "w",
        vec![
            JobDef {
                name: "boom".into(),
                description: "panics".into(),
                schedule: String::new(),
                run: job_fn(|_, _| async { panic!("bad data") }),
            },
            counting("tick", counter.clone()),
        ],
    );
    abm::jobs::trigger(&ctx, "boom", Trigger::Api)
        .await
        .expect("queue");
    abm::jobs::trigger(&ctx, "tick", Trigger::Api)
        .await
        .expect("queue");
    let done = worker::drain(&ctx).await.expect("drain");
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].status, "failed");
    assert!(
        done[0].error.as_deref().unwrap_or("").contains("bad data"),
        "{:?}",
        done[0].error
    );
    assert_eq!(done[1].status, "succeeded");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

async fn a_triggered_job_answers_202_and_then_409_while_it_runs(b: Backend) {
    let app = spawn_app(b).await;
    let resp = app.post("/api/v1/jobs/analysis/run", &json!({})).await;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let queued = json_of(resp, 202).await;
    assert_eq!(location.as_deref(), Some("/api/v1/jobs/analysis/runs"));
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["trigger"], "api");
    let body = problem(app.post("/api/v1/jobs/analysis/run", &json!({})).await, 409).await;
    assert_eq!(body["code"], "job_running");

    // A worker claims it: still 409 while it runs.
    let run = worker::claim_next(&app.ctx)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(run.id, queued["id"].as_i64().expect("id"));
    problem(app.post("/api/v1/jobs/analysis/run", &json!({})).await, 409).await;
    let listed = json_of(app.get("/api/v1/jobs").await, 200).await;
    let analysis = listed["items"]
        .as_array()
        .and_then(|a| a.iter().find(|j| j["name"] == "analysis"))
        .cloned()
        .expect("analysis job listed");
    assert_eq!(analysis["active_run"]["status"], "running");
    assert_eq!(analysis["schedule"], "0 30 2 * * *");
    assert_eq!(analysis["next_run"], "2026-03-02T02:30:00Z");

    let def = app.ctx.jobs.get("analysis").cloned().expect("def");
    let done = worker::execute(&app.ctx, run, def.run).await.expect("run");
    assert_eq!(done.status, "succeeded", "{:?}", done.error);
    let again = json_of(app.post("/api/v1/jobs/analysis/run", &json!({})).await, 202).await;
    assert_ne!(again["id"], queued["id"]);

    let runs = json_of(app.get("/api/v1/jobs/analysis/runs").await, 200).await;
    assert_eq!(runs["total"], 2);
    assert_eq!(runs["items"][1]["status"], "succeeded");
    assert!(runs["items"][1]["detail"]["analysis_run_id"].is_i64());
    // The analysis handed over to the segment recompute through the queue.
    let recompute = json_of(app.get("/api/v1/jobs/segments_recompute/runs").await, 200).await;
    assert_eq!(recompute["items"][0]["trigger"], "event");
}

async fn unknown_jobs_are_404_and_bad_pages_are_422(b: Backend) {
    let app = spawn_app(b).await;
    problem(app.post("/api/v1/jobs/nope/run", &json!({})).await, 404).await;
    problem(app.get("/api/v1/jobs/nope/runs").await, 404).await;
    problem(app.get("/api/v1/jobs/analysis/runs?limit=0").await, 422).await;
}

async fn a_recompute_running_elsewhere_is_503_for_callers_and_queued_for_rule_changes(b: Backend) {
    let app = spawn_app(b).await;
    let now = app.clock.now_utc();
    assert!(hold_job(&app, "segments_recompute", "elsewhere", now).await);
    let resp = app.post("/api/v1/segments/recompute", &json!({})).await;
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = problem(resp, 503).await;
    assert_eq!(body["code"], "job_running");

    // A new segment is saved at once; its membership follows from a queued recompute.
    let created = app
        .post(
            "/api/v1/segments",
            &json!({"name": "Everyone steel", "rule_text": "industry = steel"}),
        )
        .await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let active = runs::active(&app.db, "segments_recompute")
        .await
        .expect("active")
        .expect("a run");
    assert_eq!(active.status, "running", "the other instance's run");
    let queued = runs::queued(&app.db, 10).await.expect("queued");
    assert!(
        queued
            .iter()
            .any(|r| r.job == "segments_recompute" && r.trigger == "event"),
        "{queued:?}"
    );
}

async fn metrics_count_requests_by_route_template_and_status(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("M1", json!({})).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/accounts/M1").await.status(), 200);
    }
    assert_eq!(app.get("/api/v1/accounts/NOPE").await.status(), 404);
    let body = metrics_text(&app).await;
    let exposition = openmetrics_parser::prometheus::parse_prometheus(&body)
        .expect("the exposition format parses");
    let family = |name: &str| {
        exposition
            .families
            .get(name)
            .unwrap_or_else(|| panic!("{name} is exposed"))
    };
    let requests = family("abm_http_requests_total");
    let count = |route: &str, status: &str| -> f64 {
        requests
            .iter_samples()
            .filter(|s| {
                let labels = s.get_labelset().expect("labels");
                labels.get_label_value("route") == Some(route)
                    && labels.get_label_value("status") == Some(status)
                    && labels.get_label_value("method") == Some("GET")
            })
            .map(|s| match &s.value {
                openmetrics_parser::PrometheusValue::Counter(c) => c.value.as_f64(),
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(count("/api/v1/accounts/{external_id}", "200"), 3.0);
    assert_eq!(count("/api/v1/accounts/{external_id}", "404"), 1.0);
    assert!(
        family("abm_http_request_duration_seconds")
            .iter_samples()
            .next()
            .is_some(),
        "latency histogram present"
    );
    assert!(
        family("abm_db_pool_connections").iter_samples().any(|s| s
            .get_labelset()
            .expect("labels")
            .get_label_value("state")
            == Some("max")),
        "pool gauges present"
    );
    // Job runs are counted by job and outcome.
    abm::jobs::trigger(&app.ctx, "idempotency_purge", Trigger::Api)
        .await
        .expect("queue");
    worker::drain(&app.ctx).await.expect("drain");
    let body = metrics_text(&app).await;
    assert!(
        body.contains(r#"abm_job_runs_total{job="idempotency_purge",outcome="succeeded"} 1"#),
        "{body}"
    );
}

async fn metrics_can_move_to_a_listener_of_their_own_or_be_turned_off(b: Backend) {
    let app =
        crate::helpers::spawn_app_with(b.clone(), &[("ABM_METRICS__LISTEN", "127.0.0.1:0")]).await;
    let port = app.metrics_port.expect("a metrics listener");
    assert_eq!(app.get("/health/live").await.status(), 200);
    let own = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(own.status(), 200);
    let text = own.text().await.expect("text");
    assert!(text.contains("abm_http_requests_total"), "{text}");
    // The API listener no longer serves it.
    problem(
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("req"),
        404,
    )
    .await;

    let off = crate::helpers::spawn_app_with(b, &[("ABM_METRICS__ENABLED", "false")]).await;
    assert!(off.metrics_port.is_none());
    problem(
        off.client
            .get(off.url("/metrics"))
            .send()
            .await
            .expect("req"),
        404,
    )
    .await;
}

async fn an_inline_run_takes_the_queued_run_instead_of_running_twice(b: Backend) {
    let app = spawn_app(b).await;
    let queued = json_of(app.post("/api/v1/jobs/analysis/run", &json!({})).await, 202).await;
    json_of(
        app.post("/api/v1/analytics/runs?wait=true", &json!({}))
            .await,
        201,
    )
    .await;
    let runs = json_of(app.get("/api/v1/jobs/analysis/runs?sort=id").await, 200).await;
    assert_eq!(
        runs["total"], 1,
        "the queued run was the one that ran: {runs}"
    );
    assert_eq!(runs["items"][0]["id"], queued["id"]);
    assert_eq!(runs["items"][0]["status"], "succeeded");
    assert!(
        runs::active(&app.db, "analysis")
            .await
            .expect("active")
            .is_none()
    );
}

async fn job_runs_list_in_the_order_asked(b: Backend) {
    let app = spawn_app(b).await;
    for _ in 0..3 {
        abm::jobs::trigger(&app.ctx, "idempotency_purge", Trigger::Api)
            .await
            .expect("queue");
        worker::drain(&app.ctx).await.expect("drain");
    }
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let newest = json_of(app.get("/api/v1/jobs/idempotency_purge/runs").await, 200).await;
    let oldest = json_of(
        app.get("/api/v1/jobs/idempotency_purge/runs?sort=id").await,
        200,
    )
    .await;
    let mut reversed = ids(&newest);
    reversed.reverse();
    assert_eq!(reversed, ids(&oldest));
    assert_eq!(ids(&oldest).len(), 3);
}

async fn unknown_http_methods_do_not_make_new_metric_series(b: Backend) {
    let app = spawn_app(b).await;
    for m in ["FOO", "BAR", "BAZQUX"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).expect("method");
        app.client
            .request(method, app.url("/"))
            .send()
            .await
            .expect("request");
    }
    let text = metrics_text(&app).await;
    assert!(!text.contains("FOO") && !text.contains("BAZQUX"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
}

async fn a_wrong_method_on_a_known_path_is_405_with_allow(b: Backend) {
    let app = spawn_app(b).await;
    let resp = app.delete("/api/v1/jobs").await;
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = problem(resp, 405).await;
    assert_eq!(body["code"], "method_not_allowed");
    assert_eq!(allow.as_deref(), Some("GET"));
    let resp = app.get("/api/v1/jobs/analysis/run").await;
    assert_eq!(
        resp.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    problem(resp, 405).await;
    // Unknown paths stay 404.
    problem(app.delete("/api/v1/nothing-here").await, 404).await;
}

db_tests!(
    a_wrong_method_on_a_known_path_is_405_with_allow,
    an_inline_run_takes_the_queued_run_instead_of_running_twice,
    job_runs_list_in_the_order_asked,
    unknown_http_methods_do_not_make_new_metric_series,
    metrics_can_move_to_a_listener_of_their_own_or_be_turned_off,
    two_schedulers_firing_the_same_moment_run_the_job_once,
    a_holder_that_stops_renewing_is_taken_over_and_the_takeover_is_recorded,
    graceful_shutdown_releases_held_leases,
    a_job_that_panics_is_a_failed_run_and_the_worker_goes_on,
    a_triggered_job_answers_202_and_then_409_while_it_runs,
    unknown_jobs_are_404_and_bad_pages_are_422,
    a_recompute_running_elsewhere_is_503_for_callers_and_queued_for_rule_changes,
    metrics_count_requests_by_route_template_and_status,
);
