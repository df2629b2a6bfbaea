//! What the campaign and delivery benchmarks share: peak RSS, emptying the tables a run
//! writes, and a campaign that sends one email to each of the first N demo accounts.

use abm::campaigns::service::{CampaignDraft, activate, create};
use abm::context::AppContext;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};

/// Peak resident memory of this process, in MiB.
pub fn peak_rss_mib() -> f64 {
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

/// Empties `tables` (comma-separated). On PostgreSQL with TRUNCATE, which leaves no dead rows
/// behind (DELETE would, and with autovacuum off every later run would scan them): each run
/// starts from the same tables.
pub async fn empty(db: &DatabaseConnection, tables: &str) -> anyhow::Result<()> {
    if abm::db::is_postgres(db) {
        db.execute_unprepared(&format!("TRUNCATE {tables}")).await?;
    } else {
        for table in tables.split(',').map(str::trim) {
            db.execute_unprepared(&format!("DELETE FROM {table}"))
                .await?;
        }
    }
    Ok(())
}

/// Creates and activates campaign `bench`: the first `n` demo accounts (an explicit list),
/// one stakeholder each, window `always`, and `steps`.
pub async fn bench_campaign(
    ctx: &AppContext,
    n: usize,
    steps: serde_json::Value,
) -> anyhow::Result<()> {
    let ids: Vec<String> = abm::entities::account::Entity::find()
        .select_only()
        .column(abm::entities::account::Column::ExternalId)
        .order_by_asc(abm::entities::account::Column::Id)
        .limit(n as u64)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    anyhow::ensure!(
        ids.len() == n,
        "the database holds only {} accounts",
        ids.len()
    );
    let draft = CampaignDraft {
        key: Some("bench".into()),
        name: Some("Bench".into()),
        audience: Some(Some(abm::campaigns::model::Audience::Accounts(ids))),
        recipients: Some(Some(abm::campaigns::model::Recipients {
            roles: None,
            max_per_account: Some(1),
        })),
        send_window: Some(Some("always".into())),
        steps: Some(serde_json::from_value(steps)?),
        ..Default::default()
    };
    create(ctx, draft)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    activate(ctx, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}
