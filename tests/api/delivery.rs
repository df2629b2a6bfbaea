//! Sending the outbox: by SMTP to a real SMTP server started by the test, or to `.eml` files;
//! retries on the configured schedule, failures, hard bounces, suppression at send time,
//! leases of crashed senders, racing senders, and requeuing by the API.

use std::sync::Arc;

use abm::delivery::outbox::{MessageValues, enqueue};
use abm::delivery::sender::send_due;
use abm::entities::message;
use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, TestApp, json_of, problem, spawn_app, spawn_app_with};
use crate::http_receiver::Receiver;
use crate::smtp_server::{SmtpServer, TlsMode};

fn email(key: &str, to: &str) -> MessageValues {
    MessageValues {
        idempotency_key: key.into(),
        message_id: format!("<{key}abc@abm.test>"),
        campaign_id: None,
        enrolment_id: None,
        step: Some("hello".into()),
        account_id: 1,
        stakeholder_id: Some(1),
        task_id: None,
        channel: "email".into(),
        recipient: to.into(),
        template_id: Some("outreach-general-en".into()),
        subject: Some(format!("Hello {key}")),
        parts: json!({
            "subject": format!("Hello {key}"),
            "text": format!("Plain text for {key}\n.\nend"),
            "html": format!("<p>HTML for {key}</p>"),
        }),
        reason: Some("test".into()),
    }
}

async fn smtp_app(b: Backend, server: &SmtpServer) -> TestApp {
    let url = format!("smtp://127.0.0.1:{}", server.port);
    spawn_app_with(
        b,
        &[
            ("ABM_EMAIL__SMTP_URL", url.as_str()),
            ("ABM_DELIVERY__RETRY_SCHEDULE", "1m,5m"),
        ],
    )
    .await
}

async fn row(app: &TestApp, key: &str) -> message::Model {
    message::Entity::find()
        .filter(message::Column::IdempotencyKey.eq(key))
        .one(&app.db)
        .await
        .expect("query")
        .expect("row")
}

async fn emails_go_by_smtp_and_failures_retry_fail_bounce_and_die_as_configured(b: Backend) {
    let server = SmtpServer::start().await;
    let app = smtp_app(b, &server).await;
    let t0 = app.clock.now_utc();
    let rows = [
        email("ok", "ok@acme.example"),
        email("busy", "busy@acme.example"),
        email("gone", "gone@acme.example"),
        email("full", "full@acme.example"),
    ];
    assert_eq!(enqueue(&app.db, &rows, t0).await.expect("enqueue"), 4);

    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(
        (r.claimed, r.sent, r.deferred, r.failed, r.dead),
        (4, 1, 1, 2, 0),
        "{r:?}"
    );
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["ok@acme.example"]);
    let data = &got[0].data;
    for needle in [
        "Message-ID: <okabc@abm.test>",
        "Subject: Hello ok",
        "From: ABM <abm@localhost>",
        "To: ok@acme.example",
        "List-Unsubscribe: <http://127.0.0.1:",
        "/t/u/",
        " <mailto:abm@localhost?subject=unsubscribe%20okabc>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "Plain text for ok",
        "<p>HTML for ok</p>",
    ] {
        assert!(data.contains(needle), "{needle} missing from:\n{data}");
    }
    // The lone dot in the text survived dot-stuffing.
    assert!(
        data.contains("\r\n.\r\nend") || data.contains("\n.\nend"),
        "{data}"
    );
    let ok = row(&app, "ok").await;
    assert_eq!((ok.status.as_str(), ok.attempts), ("sent", 1));
    assert_eq!(ok.sent_at, Some(t0));
    assert!(
        data.contains(&format!("X-ABM-Message: {}", ok.id)),
        "{data}"
    );
    let detail = json_of(app.get(&format!("/api/v1/messages/{}", ok.id)).await, 200).await;
    let log = &detail["attempts_log"][0];
    assert_eq!(
        (log["outcome"].clone(), log["code"].clone()),
        (json!("sent"), json!("250"))
    );
    assert!(log["latency_ms"].as_i64().is_some_and(|l| l >= 0), "{log}");

    let busy = row(&app, "busy").await;
    assert_eq!((busy.status.as_str(), busy.attempts), ("deferred", 1));
    let next = busy.next_attempt_at.expect("next");
    assert!(
        next >= t0 + Duration::seconds(54) && next <= t0 + Duration::seconds(66),
        "1m ± 10%: {next}"
    );
    assert!(
        busy.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("451")
    );

    // 550: failed and suppressed (a hard bounce); 552: failed, not suppressed.
    let gone = row(&app, "gone").await;
    assert_eq!(gone.status, "failed");
    assert_eq!(row(&app, "full").await.status, "failed");
    let sup = json_of(app.get("/api/v1/suppressions").await, 200).await;
    let listed: Vec<(&str, &str)> = sup["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap_or_default(),
                s["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(listed, [("gone@acme.example", "bounced")]);

    // Nothing is due until the wait is over; then 5m; then dead.
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.claimed, 0);
    app.clock.advance(Duration::minutes(2));
    send_due(&app.ctx).await.expect("send");
    let busy = row(&app, "busy").await;
    assert_eq!((busy.status.as_str(), busy.attempts), ("deferred", 2));
    app.clock.advance(Duration::minutes(6));
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.dead, 1, "{r:?}");
    let detail = json_of(app.get(&format!("/api/v1/messages/{}", busy.id)).await, 200).await;
    assert_eq!(detail["status"], "dead");
    let log = detail["attempts_log"].as_array().expect("log");
    let outcomes: Vec<&str> = log
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["deferred", "deferred", "dead"]);
    assert!(log.iter().all(|a| a["code"] == "451"), "{log:?}");

    // A sent message is never requeued; a dead one is, and goes once the server takes it.
    problem(
        app.post(&format!("/api/v1/messages/{}/retry", ok.id), &json!({}))
            .await,
        409,
    )
    .await;
    problem(
        app.post("/api/v1/messages/999999/retry", &json!({})).await,
        404,
    )
    .await;
    let requeued = json_of(
        app.post(&format!("/api/v1/messages/{}/retry", busy.id), &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (requeued["status"].clone(), requeued["attempts"].clone()),
        (json!("queued"), json!(0))
    );
    server.set_busy(false);
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.sent, 1, "{r:?}");
    let to: Vec<Vec<String>> = server.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(to, [vec!["ok@acme.example"], vec!["busy@acme.example"]]);

    // Every outcome that ends an attempt for good is an event, in order.
    let events = json_of(app.get("/api/v1/events").await, 200).await;
    let seen: Vec<(String, String)> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["message_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        ("delivered", "<okabc@abm.test>"),
        ("bounced", "<goneabc@abm.test>"),
        ("failed", "<fullabc@abm.test>"),
        ("dead", "<busyabc@abm.test>"),
        ("delivered", "<busyabc@abm.test>"),
    ];
    let mut got_sorted = seen[..3].to_vec();
    got_sorted.sort();
    let mut want_sorted: Vec<(String, String)> = want[..3]
        .iter()
        .map(|(k, m)| (k.to_string(), m.to_string()))
        .collect();
    want_sorted.sort();
    // The first pass's three outcomes are written in one group, in the order sends ended.
    assert_eq!(got_sorted, want_sorted, "{events}");
    assert_eq!(
        seen[3..],
        want[3..]
            .iter()
            .map(|(k, m)| (k.to_string(), m.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(events["total"], 5);
    let bounced = &events["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["kind"] == "bounced")
        .expect("bounced")
        .clone();
    assert_eq!(bounced["data"]["type"], "hard");
    assert_eq!(bounced["data"]["code"], "550");
    assert_eq!(bounced["step"], "hello");
    assert_eq!(bounced["machine"], false);
    let dead = json_of(app.get("/api/v1/events?kind=dead").await, 200).await;
    assert_eq!(dead["total"], 1);
    assert_eq!(dead["items"][0]["data"]["attempts"], 3);
    assert_eq!(dead["items"][0]["message"], busy.id);
    let last = events["items"][3]["id"].as_i64().expect("id");
    let after = json_of(
        app.get(&format!("/api/v1/events?after_id={last}")).await,
        200,
    )
    .await;
    assert_eq!(after["total"], 1);
    assert_eq!(after["items"][0]["kind"], "delivered");
    problem(app.get("/api/v1/events?kind=nope").await, 422).await;
    problem(app.get("/api/v1/events?campaign=nope").await, 404).await;
    let none = json_of(app.get("/api/v1/events?account_id=nobody").await, 200).await;
    assert_eq!(none["total"], 0);
}

async fn without_smtp_emails_become_eml_files_and_a_crashed_senders_messages_go_once(b: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let outbox = dir.path().join("outbox");
    let outbox_s = outbox.display().to_string();
    let app = spawn_app_with(b, &[("ABM_EMAIL__OUTBOX_DIR", outbox_s.as_str())]).await;
    let t0 = app.clock.now_utc();
    enqueue(
        &app.db,
        &[
            email("a", "a@acme.example"),
            email("sup", "Sup@Acme.example"),
            email("crashed", "c@acme.example"),
        ],
        t0,
    )
    .await
    .expect("enqueue");
    // Suppressed after it was queued: checked again at send time.
    json_of(
        app.post(
            "/api/v1/suppressions",
            &json!({"address": "sup@acme.example", "reason": "unsubscribed"}),
        )
        .await,
        201,
    )
    .await;
    // A sender that claimed "crashed" and died: its lease ran out a second ago.
    message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            sea_orm::sea_query::Expr::value("sending"),
        )
        .col_expr(
            message::Column::Claim,
            sea_orm::sea_query::Expr::value("dead-sender"),
        )
        .col_expr(
            message::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(t0 - Duration::seconds(1)),
        )
        .filter(message::Column::IdempotencyKey.eq("crashed"))
        .exec(&app.db)
        .await
        .expect("crash");

    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!((r.swept, r.sent, r.suppressed), (1, 2, 1), "{r:?}");
    let r = send_due(&app.ctx).await.expect("send again");
    assert_eq!(r.claimed, 0);
    let mut files: Vec<String> = std::fs::read_dir(&outbox)
        .expect("outbox")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let a = row(&app, "a").await;
    let crashed = row(&app, "crashed").await;
    let mut want = vec![format!("{}.eml", a.id), format!("{}.eml", crashed.id)];
    want.sort();
    assert_eq!(files, want, "one file per sent message, no temporary files");
    let eml = std::fs::read_to_string(outbox.join(format!("{}.eml", a.id))).expect("eml");
    assert!(eml.contains("Message-ID: <aabc@abm.test>"), "{eml}");
    assert!(eml.contains("<p>HTML for a</p>"));
    let sup = row(&app, "sup").await;
    assert_eq!(sup.status, "suppressed");
    assert_eq!(crashed.status, "sent");
}

async fn three_instances_deliver_each_message_once_and_fire_each_tick_once(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = smtp_app(b, &server).await;
    let t0 = app.clock.now_utc();
    let n = 3000;
    let rows: Vec<MessageValues> = (0..n)
        .map(|i| email(&format!("m{i}"), &format!("p{i}@acme.example")))
        .collect();
    enqueue(&app.db, &rows, t0).await.expect("enqueue");
    let mut settings = app.settings.clone();
    settings.delivery.batch_size = 50;
    let ctx = |id: &str| {
        Arc::new(
            abm::context::AppContext::new(
                app.db.clone(),
                settings.clone(),
                Arc::new(app.clock.clone()),
            )
            .with_instance_id(id),
        )
    };
    let (one, two, three) = (ctx("one"), ctx("two"), ctx("three"));
    // The scheduled moment of the delivery job, fired by all three schedulers: one run.
    let moment = t0 + Duration::seconds(5);
    let (f1, f2, f3) = tokio::join!(
        abm::jobs::schedule::fire(&one, "delivery_send", moment),
        abm::jobs::schedule::fire(&two, "delivery_send", moment),
        abm::jobs::schedule::fire(&three, "delivery_send", moment),
    );
    let queued = [f1, f2, f3]
        .into_iter()
        .map(|f| f.expect("fire"))
        .filter(Option::is_some)
        .count();
    assert_eq!(queued, 1, "the tick runs once");
    // And all three send at once.
    let (a, b2, c) = tokio::join!(send_due(&one), send_due(&two), send_due(&three));
    let (a, b2, c) = (a.expect("a"), b2.expect("b"), c.expect("c"));
    assert_eq!(a.sent + b2.sent + c.sent, n as u64, "{a:?} {b2:?} {c:?}");
    let mut ids = server.message_ids();
    assert_eq!(ids.len(), n, "exactly {n} deliveries");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message was sent twice");
    let sent = message::Entity::find()
        .filter(message::Column::Status.eq("sent"))
        .order_by_asc(message::Column::Id)
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(sent.len(), n);
    assert!(sent.iter().all(|m| m.attempts == 1));
}

async fn outcomes_of_messages_taken_over_mid_send_are_not_written(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = smtp_app(b, &server).await;
    let rows: Vec<MessageValues> = (0..3)
        .map(|i| email(&format!("t{i}"), &format!("t{i}@acme.example")))
        .collect();
    enqueue(&app.db, &rows, app.clock.now_utc())
        .await
        .expect("enqueue");
    // The server holds its answers: the three sends are in flight.
    server.set_open(false);
    let ctx = app.ctx.clone();
    let pass = tokio::spawn(async move { send_due(&ctx).await });
    server.wait_for(3).await;
    // Meanwhile another sender took one of them over (its lease ran out, say).
    let taken = row(&app, "t1").await;
    message::Entity::update_many()
        .col_expr(
            message::Column::Claim,
            sea_orm::sea_query::Expr::value("another-sender"),
        )
        .filter(message::Column::Id.eq(taken.id))
        .exec(&app.db)
        .await
        .expect("take over");
    server.set_open(true);
    let r = pass.await.expect("join").expect("send");
    // All three were sent, but one is no longer ours: the group's single UPDATE is undone
    // and each is written alone, leaving the taken one to its new holder.
    assert_eq!((r.sent, r.lost), (2, 1), "{r:?}");
    for key in ["t0", "t2"] {
        let m = row(&app, key).await;
        assert_eq!((m.status.as_str(), m.attempts), ("sent", 1), "{key}");
    }
    let t1 = row(&app, "t1").await;
    assert_eq!(t1.status, "sending");
    assert_eq!(t1.claim.as_deref(), Some("another-sender"));
    assert_eq!(t1.attempts, 0);
    let attempts = abm::entities::delivery_attempt::Entity::find()
        .filter(abm::entities::delivery_attempt::Column::MessageId.eq(taken.id))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(
        attempts, 0,
        "no attempt is written for a message that is not ours"
    );
    let delivered = json_of(app.get("/api/v1/events?kind=delivered").await, 200).await;
    assert_eq!(delivered["total"], 2);
}

/// A TCP server that greets nobody (`silent`) or greets with an endless line.
async fn hostile_smtp(endless: bool) -> u16 {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if endless {
                    let chunk = vec![b'A'; 64 * 1024];
                    while socket.write_all(&chunk).await.is_ok() {}
                } else {
                    // Holds the connection open and says nothing.
                    let mut buf = [0u8; 1024];
                    use tokio::io::AsyncReadExt;
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    port
}

async fn a_silent_or_endless_smtp_server_defers_the_message_and_holds_nothing(b: Backend) {
    for (endless, why) in [
        (false, "did not complete the session setup in time"),
        (true, "without a line end"),
    ] {
        let port = hostile_smtp(endless).await;
        let url = format!("smtp://127.0.0.1:{port}");
        let app = spawn_app_with(
            b.clone(),
            &[
                ("ABM_EMAIL__SMTP_URL", url.as_str()),
                ("ABM_EMAIL__TIMEOUT_SECONDS", "1"),
            ],
        )
        .await;
        enqueue(
            &app.db,
            &[email("h1", "a@acme.example")],
            app.clock.now_utc(),
        )
        .await
        .expect("enqueue");
        let r = send_due(&app.ctx).await.expect("send");
        assert_eq!((r.sent, r.deferred), (0, 1), "{r:?}");
        let m = row(&app, "h1").await;
        assert_eq!(m.status, "deferred");
        let error = m.last_error.unwrap_or_default();
        assert!(error.contains(why), "{why}: {error}");
    }
}

/// `abm serve` as its own process on the test's database, its environment cleared of the
/// caller's `ABM_*` and set from `env`. Returns once it logged that it started.
fn serve_process(app: &TestApp, roles: &str, env: &[(&str, &str)]) -> std::process::Child {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_abm"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ABM_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ABM_DATABASE__URL", &app.database_url)
        .env("ABM_SERVER__PORT", "0")
        .env("ABM_LOG__LEVEL", "info")
        .env("ABM_JOBS__ANALYSIS", "")
        .env("ABM_JOBS__IDEMPOTENCY_PURGE", "");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["serve", "--role", roles])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start abm serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    for line in lines.by_ref() {
        let line = line.expect("log line");
        if line.contains("starting") {
            break;
        }
    }
    // Keep reading, so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Stops a child with SIGTERM and waits for it.
fn terminate(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn three_app_processes_share_the_outbox_and_fire_each_tick_once(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = smtp_app(b, &server).await;
    let smtp = format!("smtp://127.0.0.1:{}", server.port);
    let env = [
        ("ABM_EMAIL__SMTP_URL", smtp.as_str()),
        ("ABM_DELIVERY__BATCH_SIZE", "50"),
        ("ABM_DELIVERY__POLL_INTERVAL_MS", "50"),
        ("ABM_CAMPAIGNS__TICK", "* * * * * *"),
        ("ABM_JOBS__POLL_INTERVAL_MS", "100"),
    ];
    let children: Vec<_> = (0..3)
        .map(|_| serve_process(&app, "worker,scheduler", &env))
        .collect();
    // All three are up and looking; then the outbox fills.
    let n = 3000;
    let rows: Vec<MessageValues> = (0..n)
        .map(|i| email(&format!("p{i}"), &format!("p{i}@acme.example")))
        .collect();
    enqueue(&app.db, &rows, app.clock.now_utc())
        .await
        .expect("enqueue");
    server.wait_for(n).await;
    // Two ticks done besides, fired by three schedulers each.
    let ticks = || async {
        abm::entities::job_run::Entity::find()
            .filter(abm::entities::job_run::Column::Job.eq("campaigns_tick"))
            .filter(abm::entities::job_run::Column::Status.eq("succeeded"))
            .all(&app.db)
            .await
            .expect("runs")
    };
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            let runs = ticks().await;
            if runs.len() >= 2 {
                return runs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the tick runs");
    for child in children {
        terminate(child);
    }
    let mut moments: Vec<_> = done.iter().map(|r| r.scheduled_for).collect();
    let all = moments.len();
    moments.sort();
    moments.dedup();
    assert_eq!(moments.len(), all, "a tick ran twice: {moments:?}");

    let mut ids = server.message_ids();
    assert_eq!(ids.len(), n, "exactly {n} deliveries");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message was sent twice");
    let sent = message::Entity::find()
        .filter(message::Column::Status.eq("sent"))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(sent, n as u64);
    let attempts = abm::entities::delivery_attempt::Entity::find()
        .all(&app.db)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), n, "one attempt per message");
    let mut by_instance = std::collections::BTreeMap::<String, usize>::new();
    for a in &attempts {
        *by_instance.entry(a.instance.clone()).or_default() += 1;
    }
    eprintln!("sent per instance: {by_instance:?}");
    assert!(
        by_instance.len() >= 2,
        "the instances shared the work: {by_instance:?}"
    );
}

async fn smtp_over_tls_with_authentication_in_both_modes(b: Backend) {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let server = SmtpServer::start_tls(mode, "abm", "s3cret:/@").await;
        server.set_busy(false);
        let ca = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(ca.path(), server.ca_pem.as_deref().expect("ca")).expect("write ca");
        let url = |password: &str| match mode {
            TlsMode::StartTls => format!(
                "smtp://abm:{password}@localhost:{}?tls=required",
                server.port
            ),
            TlsMode::Implicit => format!("smtps://abm:{password}@localhost:{}", server.port),
        };
        let good = url("s3cret%3A%2F%40");
        let ca_path = ca.path().to_str().expect("path");
        let app = spawn_app_with(
            b.clone(),
            &[
                ("ABM_EMAIL__SMTP_URL", good.as_str()),
                ("ABM_EMAIL__TLS_CA_FILE", ca_path),
                ("ABM_DELIVERY__RETRY_SCHEDULE", "1m,5m"),
            ],
        )
        .await;
        enqueue(
            &app.db,
            &[
                email("tls1", "a@acme.example"),
                email("tls2", "b@acme.example"),
            ],
            app.clock.now_utc(),
        )
        .await
        .expect("enqueue");
        let r = send_due(&app.ctx).await.expect("send");
        assert_eq!(r.sent, 2, "{mode:?}: {r:?}");
        let got = server.messages();
        assert_eq!(got.len(), 2);
        assert!(
            got.iter()
                .all(|m| m.tls && m.user.as_deref() == Some("abm")),
            "{mode:?}: {got:?}"
        );
        assert!(got[0].data.contains("Message-ID: <tls"), "{}", got[0].data);

        // A server whose certificate is not trusted is never given the message or the
        // password: a transient failure naming the certificate.
        let mut untrusted = app.settings.clone();
        untrusted.email.tls_ca_file = String::new();
        let ctx = Arc::new(abm::context::AppContext::new(
            app.db.clone(),
            untrusted.clone(),
            Arc::new(app.clock.clone()),
        ));
        enqueue(
            &app.db,
            &[email("tls3", "c@acme.example")],
            app.clock.now_utc(),
        )
        .await
        .expect("enqueue");
        let r = send_due(&ctx).await.expect("send");
        assert_eq!(r.deferred, 1, "{mode:?}: {r:?}");
        let m = row(&app, "tls3").await;
        let error = m.last_error.unwrap_or_default().to_lowercase();
        assert!(error.contains("certificate"), "{mode:?}: {error}");
        // A wrong password: transient too (the setup failed, not the message).
        let mut wrong = app.settings.clone();
        wrong.email.smtp_url = url("nope");
        let ctx = Arc::new(abm::context::AppContext::new(
            app.db.clone(),
            wrong,
            Arc::new(app.clock.clone()),
        ));
        app.clock.advance(Duration::minutes(2));
        let r = send_due(&ctx).await.expect("send");
        assert_eq!(r.deferred, 1, "{mode:?}: {r:?}");
        let error = row(&app, "tls3").await.last_error.unwrap_or_default();
        assert!(error.contains("535"), "{mode:?}: {error}");
        assert_eq!(server.messages().len(), 2, "nothing more arrived");
    }
}

fn webhook(key: &str, endpoint: i64, body: &str) -> MessageValues {
    MessageValues {
        idempotency_key: key.into(),
        message_id: format!("msg_{key}"),
        campaign_id: None,
        enrolment_id: None,
        step: Some("notify".into()),
        account_id: 1,
        stakeholder_id: None,
        task_id: None,
        channel: "webhook".into(),
        recipient: format!("endpoint:{endpoint}"),
        template_id: None,
        subject: None,
        parts: json!({ "body.json": body }),
        reason: Some("test".into()),
    }
}

/// An app that may post to this host and retries after 1m and 5m, with an endpoint for `url`:
/// the app, the endpoint's id and its secret.
async fn webhook_app(b: Backend, url: &str) -> (TestApp, i64, String) {
    let app = spawn_app_with(
        b,
        &[
            ("ABM_WEBHOOKS__ALLOW_PRIVATE", "true"),
            // Webhook messages follow webhooks.retry_schedule, not delivery.retry_schedule.
            ("ABM_DELIVERY__RETRY_SCHEDULE", "1d"),
            ("ABM_WEBHOOKS__RETRY_SCHEDULE", "1m,5m"),
        ],
    )
    .await;
    let created = json_of(
        app.post("/api/v1/webhooks/endpoints", &json!({ "url": url }))
            .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    let secret = created["secret"].as_str().expect("secret").to_string();
    (app, id, secret)
}

async fn webhooks_are_signed_posts_and_statuses_decide_retry_or_failure(b: Backend) {
    let receiver = Receiver::start().await;
    let (app, ep, secret) = webhook_app(b, &receiver.url("/in")).await;
    let t0 = app.clock.now_utc();
    // ok: 200; later: 503 with Retry-After 120; bad: 400; moved: 302 (not followed).
    receiver.answer(200, &[]);
    receiver.answer(503, &[("Retry-After", "120")]);
    receiver.answer(400, &[]);
    receiver.answer(302, &[("Location", &receiver.url("/elsewhere"))]);
    let body = r#"{"event":"message.sent","n":1}"#;
    let mut rows = Vec::new();
    for key in ["ok", "later", "bad", "moved"] {
        rows.push(webhook(key, ep, body));
    }
    rows.push(webhook("nowhere", 999_999, body));
    enqueue(&app.db, &rows, t0).await.expect("enqueue");
    // One at a time, so the scripted answers meet the messages in order.
    let mut settings = app.settings.clone();
    settings.delivery.concurrency = 1;
    let ctx = Arc::new(abm::context::AppContext::new(
        app.db.clone(),
        settings,
        Arc::new(app.clock.clone()),
    ));
    let r = send_due(&ctx).await.expect("send");
    assert_eq!((r.sent, r.deferred, r.failed), (1, 1, 3), "{r:?}");

    let got = receiver.requests();
    assert_eq!(
        got.len(),
        4,
        "the redirect was not followed, the unknown endpoint not called"
    );
    assert!(got.iter().all(|q| q.path == "/in" && q.method == "POST"));
    let first = &got[0];
    assert_eq!(first.body, body.as_bytes());
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(first.headers["webhook-id"], "msg_ok");
    assert_eq!(
        first.headers["webhook-timestamp"],
        t0.timestamp().to_string()
    );
    let expected =
        abm::delivery::webhooks::sign(&secret, "msg_ok", t0.timestamp(), body.as_bytes())
            .expect("sig");
    assert_eq!(first.headers["webhook-signature"], expected);

    let states: Vec<(String, i32, Option<String>)> = {
        let mut v = Vec::new();
        for key in ["ok", "later", "bad", "moved", "nowhere"] {
            let m = row(&app, key).await;
            v.push((m.status, m.attempts, m.last_error));
        }
        v
    };
    assert_eq!(states[0].0, "sent");
    assert_eq!(states[1].0, "deferred");
    assert_eq!(states[2].0, "failed");
    assert_eq!(states[3].0, "failed");
    assert!(
        states[3]
            .2
            .as_deref()
            .unwrap_or_default()
            .contains("redirects"),
        "{states:?}"
    );
    assert_eq!(states[4].0, "failed");
    assert!(
        states[4]
            .2
            .as_deref()
            .unwrap_or_default()
            .contains("endpoint"),
        "{states:?}"
    );
    // Retry-After beats the schedule's jittered minute.
    assert_eq!(
        row(&app, "later").await.next_attempt_at,
        Some(t0 + Duration::seconds(120))
    );
    app.clock.advance(Duration::seconds(121));
    let r = send_due(&ctx).await.expect("send");
    assert_eq!(r.sent, 1, "{r:?}");
    let later = receiver.requests().pop().expect("retry");
    assert_eq!(
        later.headers["webhook-id"], "msg_later",
        "the same id on every attempt"
    );
}

async fn a_name_that_resolves_to_a_private_address_is_refused_at_send_time(b: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app(b).await;
    // "localhost" spelled so that the input check cannot see it: the machine's own name,
    // which resolves to one of its own (private or loopback) addresses.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let resolves = !host.is_empty()
        && tokio::net::lookup_host((host.as_str(), receiver.port))
            .await
            .map(|mut a| a.all(|a| abm::domain::webhook_url::is_internal(a.ip())))
            .unwrap_or(false);
    if !resolves {
        eprintln!("this machine's name does not resolve to its own addresses; skipped");
        return;
    }
    let now = app.clock.now_utc();
    let id = abm::entities::webhook_endpoint::Entity::insert(
        abm::entities::webhook_endpoint::ActiveModel {
            url: sea_orm::Set(format!("http://{host}:{}/in", receiver.port)),
            description: sea_orm::Set(None),
            secret: sea_orm::Set(abm::delivery::webhooks::new_secret()),
            previous_secret: sea_orm::Set(None),
            previous_secret_until: sea_orm::Set(None),
            created_at: sea_orm::Set(now),
            updated_at: sea_orm::Set(now),
            ..Default::default()
        },
    )
    .exec(&app.db)
    .await
    .expect("endpoint")
    .last_insert_id;
    enqueue(&app.db, &[webhook("rebind", id, "{}")], now)
        .await
        .expect("enqueue");
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.failed, 1, "{r:?}");
    assert!(
        receiver.requests().is_empty(),
        "nothing reached the private address"
    );
    let m = row(&app, "rebind").await;
    assert!(
        m.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("private"),
        "{:?}",
        m.last_error
    );
}

async fn a_sender_killed_mid_send_loses_nothing_and_repeats_only_what_was_in_flight(b: Backend) {
    let server = SmtpServer::start().await;
    server.set_busy(false);
    let app = smtp_app(b, &server).await;
    let n = 2000;
    let rows: Vec<MessageValues> = (0..n)
        .map(|i| email(&format!("k{i}"), &format!("p{i}@acme.example")))
        .collect();
    enqueue(&app.db, &rows, app.clock.now_utc())
        .await
        .expect("enqueue");
    // A real process sends them (on the system clock) and is killed with SIGKILL midway.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_abm"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ABM_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("ABM_DATABASE__URL", &app.database_url)
        .env(
            "ABM_EMAIL__SMTP_URL",
            format!("smtp://127.0.0.1:{}", server.port),
        )
        .env("ABM_DELIVERY__BATCH_SIZE", "100")
        .env("ABM_DELIVERY__LEASE_SECONDS", "60")
        .env("ABM_LOG__LEVEL", "error")
        .args(["jobs", "run", "delivery_send"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start abm");
    server.wait_for(n / 4).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let killed_at = server.messages().len();
    assert!(killed_at < n, "the sender was killed before it finished");

    // Restarted: a sender whose clock is past the dead one's leases delivers the rest.
    app.clock.set(chrono::Utc::now() + Duration::seconds(61));
    let r = send_due(&app.ctx).await.expect("send after the restart");
    assert_eq!(r.claimed, r.sent, "{r:?}");
    let mut ids = server.message_ids();
    assert!(
        ids.iter().all(|id| !id.is_empty()),
        "every message has a Message-ID"
    );
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "every message was delivered");
    // Only what was in flight when it died can have gone twice, each with its one Message-ID:
    // at most `delivery.concurrency` (8) being sent plus two record groups (2 × 64) whose
    // outcomes were not written yet.
    eprintln!("killed after {killed_at} of {n}; {} sent twice", total - n);
    assert!(total - n <= 8 + 2 * 64, "{} duplicates", total - n);
    let sent = message::Entity::find()
        .filter(message::Column::Status.eq("sent"))
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(sent.len(), n);
}

async fn an_unreachable_receiver_is_retried_until_the_message_is_dead(b: Backend) {
    // A port nobody listens on: connection refused, a transient failure every time.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (app, ep, _) = webhook_app(b, &format!("http://127.0.0.1:{port}/in")).await;
    enqueue(&app.db, &[webhook("void", ep, "{}")], app.clock.now_utc())
        .await
        .expect("enqueue");
    let mut outcomes = Vec::new();
    for wait in [0, 2, 6] {
        app.clock.advance(Duration::minutes(wait));
        send_due(&app.ctx).await.expect("send");
        let m = row(&app, "void").await;
        outcomes.push((m.status, m.attempts));
    }
    assert_eq!(
        outcomes,
        [
            ("deferred".to_string(), 1),
            ("deferred".to_string(), 2),
            ("dead".to_string(), 3)
        ]
    );
    let m = row(&app, "void").await;
    assert!(
        m.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("after 3 attempts"),
        "{:?}",
        m.last_error
    );
}

db_tests!(
    an_unreachable_receiver_is_retried_until_the_message_is_dead,
    three_app_processes_share_the_outbox_and_fire_each_tick_once,
    a_silent_or_endless_smtp_server_defers_the_message_and_holds_nothing,
    outcomes_of_messages_taken_over_mid_send_are_not_written,
    smtp_over_tls_with_authentication_in_both_modes,
    emails_go_by_smtp_and_failures_retry_fail_bounce_and_die_as_configured,
    without_smtp_emails_become_eml_files_and_a_crashed_senders_messages_go_once,
    three_instances_deliver_each_message_once_and_fire_each_tick_once,
    webhooks_are_signed_posts_and_statuses_decide_retry_or_failure,
    a_name_that_resolves_to_a_private_address_is_refused_at_send_time,
    a_sender_killed_mid_send_loses_nothing_and_repeats_only_what_was_in_flight,
);

/// Against an independent SMTP server (aiosmtpd storing a Maildir), when `.ci/run` started one:
/// `TEST_SMTP_URL` and `TEST_SMTP_MAILDIR`. Skipped otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_smtp_server_stores_what_was_sent() {
    let (Ok(url), Ok(maildir)) = (
        std::env::var("TEST_SMTP_URL"),
        std::env::var("TEST_SMTP_MAILDIR"),
    ) else {
        eprintln!("TEST_SMTP_URL / TEST_SMTP_MAILDIR are not set; skipped");
        return;
    };
    let app = spawn_app_with(Backend::Sqlite, &[("ABM_EMAIL__SMTP_URL", url.as_str())]).await;
    let tag: u64 = rand::random();
    let rows: Vec<MessageValues> = (0..3)
        .map(|i| email(&format!("ind{tag:x}n{i}"), &format!("p{i}@acme.example")))
        .collect();
    enqueue(&app.db, &rows, app.clock.now_utc())
        .await
        .expect("enqueue");
    let r = send_due(&app.ctx).await.expect("send");
    assert_eq!(r.sent, 3, "{r:?}");
    let stored: Vec<String> = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
        .expect("maildir")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    for m in &rows {
        let mail = stored
            .iter()
            .find(|s| s.contains(&format!("Message-ID: {}", m.message_id)))
            .unwrap_or_else(|| panic!("{} is not in the Maildir", m.message_id));
        assert!(mail.contains("multipart/alternative"), "{mail}");
        assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }
}
