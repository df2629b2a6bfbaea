//! Benchmark support for the tracking endpoints (run by `bench/tracking.sh`).
//!
//! `bench_tracking prepare N FILE`: migrates the database of `ABM_DATABASE__URL`, empties its
//! messages and events, writes one account with N delivered emails, and writes to FILE the path
//! of each message's open link and of a click link, signed with `ABM_TRACKING__SECRET`.
//!
//! `bench_tracking count`: prints how many opens and clicks the events table holds.
//!
//! usage: ABM_DATABASE__URL=... ABM_TRACKING__SECRET=... \
//!        cargo run --release --example bench_tracking -- prepare 1000 bench-out/links.txt

use std::io::Write;

use abm::config::{ConfigSource, Settings};
use abm::entities::{account, event, message};
use abm::tracking::{LinkKind, Links};
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

#[path = "support/bench.rs"]
#[allow(dead_code)]
mod support;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let settings = Settings::load(&ConfigSource::default())?;
    let db = abm::db::connect(&settings.database).await?;
    abm::db::migrate(&db).await?;
    match mode.as_str() {
        "prepare" => {
            let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
            let file = args.next().unwrap_or_else(|| "bench-out/links.txt".into());
            anyhow::ensure!(
                !settings.tracking.secret.is_empty(),
                "set ABM_TRACKING__SECRET so the server signs alike"
            );
            support::empty(&db, "events, delivery_attempts, messages").await?;
            let now = Utc::now();
            let account_id = match account::Entity::find()
                .filter(account::Column::ExternalId.eq("BENCH-TRACK"))
                .one(&db)
                .await?
            {
                Some(a) => a.id,
                None => {
                    abm::accounts::service::create_bare_account(
                        &db,
                        "BENCH-TRACK",
                        "EUR",
                        "UTC",
                        now,
                    )
                    .await?
                }
            };
            // Delivered a day ago: no open counts as "right after delivery".
            let sent = now - Duration::days(1);
            let ids: Vec<String> = (0..n)
                .map(|i| format!("<bench-{i}-{}@abm.bench>", now.timestamp()))
                .collect();
            for chunk in ids.chunks(500) {
                message::Entity::insert_many(chunk.iter().map(|mid| message::ActiveModel {
                    idempotency_key: Set(format!("bench:{mid}")),
                    message_id: Set(mid.clone()),
                    account_id: Set(account_id),
                    channel: Set("email".into()),
                    recipient: Set("reader@bench.example".into()),
                    parts: Set(serde_json::json!({})),
                    status: Set("sent".into()),
                    attempts: Set(1),
                    created_at: Set(sent),
                    updated_at: Set(sent),
                    sent_at: Set(Some(sent)),
                    ..Default::default()
                }))
                .exec_without_returning(&db)
                .await?;
            }
            let links = Links::new(settings.tracking.secret.as_bytes(), "", None);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
            for (i, mid) in ids.iter().enumerate() {
                writeln!(out, "{}", links.link(LinkKind::Open, mid, None))?;
                let target = format!("https://shop.example/offer/{i}?utm_source=abm");
                writeln!(out, "{}", links.link(LinkKind::Click, mid, Some(&target)))?;
            }
            out.flush()?;
            println!("{n} messages, {} links in {file}", 2 * n);
        }
        "count" => {
            let opens = event::Entity::find()
                .filter(event::Column::Kind.eq("opened"))
                .count(&db)
                .await?;
            let clicks = event::Entity::find()
                .filter(event::Column::Kind.eq("clicked"))
                .count(&db)
                .await?;
            println!("{opens} {clicks}");
        }
        _ => anyhow::bail!("usage: bench_tracking prepare N FILE | count"),
    }
    Ok(())
}
