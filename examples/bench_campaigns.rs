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

use abm::campaigns::service::{CampaignDraft, activate, create};
use abm::clock::SystemClock;
use abm::config::{ConfigSource, Settings};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};

/// The allocator the service uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

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
    let tables = "messages, tasks, step_executions, enrolments, campaign_versions, campaigns";
    if abm::db::is_postgres(&db) {
        // TRUNCATE leaves no dead rows behind (DELETE would, and with autovacuum off every
        // later run would scan them): each run starts from the same tables.
        db.execute_unprepared(&format!("TRUNCATE {tables}")).await?;
    } else {
        for table in tables.split(", ") {
            db.execute_unprepared(&format!("DELETE FROM {table}"))
                .await?;
        }
    }
    let ids: Vec<String> = abm::entities::account::Entity::find()
        .select_only()
        .column(abm::entities::account::Column::ExternalId)
        .order_by_asc(abm::entities::account::Column::Id)
        .limit(n as u64)
        .into_tuple()
        .all(&db)
        .await?;
    anyhow::ensure!(
        ids.len() == n,
        "the database holds only {} accounts",
        ids.len()
    );
    let ctx = Arc::new(abm::context::AppContext::new(
        db.clone(),
        settings,
        Arc::new(SystemClock),
    ));
    let steps: Vec<abm::campaigns::model::StepInput> = serde_json::from_value(serde_json::json!([
        {"id": "hello", "send": {"channel": "email", "purpose": "outreach"}},
        {"id": "later", "wait": {"days": 7}},
        {"id": "again", "send": {"channel": "email", "purpose": "nurture"}}
    ]))?;
    let draft = CampaignDraft {
        key: Some("bench".into()),
        name: Some("Bench".into()),
        audience: Some(Some(abm::campaigns::model::Audience::Accounts(ids))),
        recipients: Some(Some(abm::campaigns::model::Recipients {
            roles: None,
            max_per_account: Some(1),
        })),
        send_window: Some(Some("always".into())),
        steps: Some(steps),
        ..Default::default()
    };
    create(&ctx, draft)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    activate(&ctx, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
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
