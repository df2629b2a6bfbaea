//! Benchmark of the campaign dispatcher (run by `bench/campaigns.sh`): one tick enrols N
//! accounts of an `abm demo` database (an explicit `audience.accounts` list) and writes their
//! first step's rendered email to the outbox. Prints the wall time, messages/s and the peak
//! RSS of this process.
//!
//! usage: ABM_DATABASE__URL=... cargo run --release --example bench_campaigns -- N
//! The database must hold `abm demo` data with at least N accounts; earlier campaign rows are
//! removed first (truncated on PostgreSQL).

use std::sync::Arc;
use std::time::Instant;

use abm::clock::SystemClock;
use abm::config::{ConfigSource, Settings};

#[path = "support/bench.rs"]
mod support;
use support::peak_rss_mib;

/// The allocator the service uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    if std::env::var("BENCH_TRACE").is_ok() {
        // Per-batch timings of the dispatcher (load, machine, render, write).
        tracing_subscriber::fmt()
            .with_env_filter(
                std::env::var("BENCH_FILTER").unwrap_or_else(|_| "abm::campaigns=debug".into()),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let mut settings = Settings::load(&ConfigSource::default())?;
    settings.delivery.account_cap = String::new();
    settings.delivery.stakeholder_cap = String::new();
    settings.log.level = "warn".into();
    let db = abm::db::connect(&settings.database).await?;
    abm::db::migrate(&db).await?;
    support::empty(
        &db,
        "messages, tasks, step_executions, enrolments, campaign_versions, campaigns",
    )
    .await?;
    let ctx = Arc::new(abm::context::AppContext::new(
        db.clone(),
        settings,
        Arc::new(SystemClock),
    ));
    support::bench_campaign(
        &ctx,
        n,
        serde_json::json!([
            {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
            {"id": "later", "wait": {"days": 7}},
            {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
        ]),
    )
    .await?;
    let before = peak_rss_mib();
    let started = Instant::now();
    let report = abm::campaigns::dispatch::tick(&ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "accounts {n}: enrolled {}, messages {}, executions {} in {secs:.2} s = {:.0} messages/s; \
         peak RSS {:.0} MiB (before the tick {before:.0} MiB)",
        report.enrolled,
        report.messages,
        report.executions,
        report.messages as f64 / secs,
        peak_rss_mib()
    );
    Ok(())
}
