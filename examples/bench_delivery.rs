//! Benchmark of delivery (run by `bench/delivery.sh`).
//!
//! `bench_delivery email N`: end to end — one campaign tick enrols N accounts of an `abm demo`
//! database and renders their first email into the outbox, then `delivery_send` passes send
//! them all to the SMTP server of `email.smtp_url` (Postfix `smtp-sink` in the bench). Prints
//! the tick, the send and the whole, in messages/s, and the peak RSS.
//!
//! `bench_delivery webhook N`: N webhook messages queued for one endpoint on a local receiver
//! started here (answers 204 at once), then sent; deliveries/s.
//!
//! usage: ABM_DATABASE__URL=... [ABM_EMAIL__SMTP_URL=smtp://127.0.0.1:PORT] \
//!        cargo run --release --example bench_delivery -- email|webhook N

use std::sync::Arc;
use std::time::Instant;

use abm::clock::SystemClock;
use abm::config::{ConfigSource, Settings};
use abm::delivery::outbox::{MessageValues, enqueue};

#[path = "support/bench.rs"]
mod support;
use support::peak_rss_mib;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends until nothing is due; returns the messages sent.
async fn drain(ctx: &abm::context::AppContext) -> anyhow::Result<u64> {
    let mut sent = 0;
    loop {
        let r = abm::delivery::sender::send_due(ctx)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sent += r.sent;
        anyhow::ensure!(
            r.failed + r.dead == 0,
            "delivery failed: {r:?} (is the receiver running?)"
        );
        if r.claimed == 0 {
            return Ok(sent);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "email".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut settings = Settings::load(&ConfigSource::default())?;
    settings.delivery.account_cap = String::new();
    settings.delivery.stakeholder_cap = String::new();
    settings.delivery.batch_size = 1000;
    if let Some(c) = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
    {
        settings.delivery.concurrency = c;
    }
    settings.webhooks.allow_private = true;
    settings.log.level = "warn".into();
    let db = abm::db::connect(&settings.database).await?;
    abm::db::migrate(&db).await?;
    support::empty(
        &db,
        "messages, tasks, step_executions, enrolments, campaign_versions, campaigns, \
         delivery_attempts, webhook_endpoints",
    )
    .await?;
    let ctx = Arc::new(abm::context::AppContext::new(
        db.clone(),
        settings,
        Arc::new(SystemClock),
    ));
    let started = Instant::now();
    if mode == "webhook" {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(|| async {
                actix_web::HttpResponse::NoContent().finish()
            }))
        })
        .workers(1)
        .listen(listener)?
        .run();
        tokio::spawn(server);
        let ep = abm::delivery::webhooks::create(
            &ctx,
            abm::delivery::webhooks::EndpointInput {
                url: Some(format!("http://127.0.0.1:{port}/in")),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let now = chrono::Utc::now();
        let rows: Vec<MessageValues> = (0..n)
            .map(|i| MessageValues {
                idempotency_key: format!("bench-{i}"),
                message_id: format!("msg_bench{i:08}"),
                campaign_id: None,
                enrolment_id: None,
                step: None,
                account_id: 1,
                stakeholder_id: None,
                task_id: None,
                channel: "webhook".into(),
                recipient: format!("endpoint:{}", ep.endpoint.id),
                template_id: None,
                subject: None,
                parts: serde_json::json!({"body.json": format!(r#"{{"event":"bench","n":{i}}}"#)}),
                reason: None,
            })
            .collect();
        for chunk in rows.chunks(1000) {
            enqueue(&db, chunk, now).await?;
        }
        let queued = started.elapsed().as_secs_f64();
        let t = Instant::now();
        let sent = drain(&ctx).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "webhooks {n}: queued in {queued:.2} s; {sent} delivered in {secs:.2} s = {:.0} deliveries/s; \
             peak RSS {:.0} MiB",
            sent as f64 / secs,
            peak_rss_mib()
        );
        return Ok(());
    }
    support::bench_campaign(
        &ctx,
        n,
        serde_json::json!([{"id": "hello", "send": {"channel": "email", "purpose": "outreach"}}]),
    )
    .await?;
    let before = peak_rss_mib();
    let t = Instant::now();
    let report = abm::campaigns::dispatch::tick(&ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let tick = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sent = drain(&ctx).await?;
    let send = t.elapsed().as_secs_f64();
    let whole = tick + send;
    println!(
        "email, {n} accounts: {} messages rendered in {tick:.2} s, {sent} sent in {send:.2} s \
         ({:.0}/s); end to end {whole:.2} s = {:.0} messages/s; peak RSS {:.0} MiB (before {before:.0})",
        report.messages,
        sent as f64 / send,
        sent as f64 / whole,
        peak_rss_mib()
    );
    Ok(())
}
