//! The jobs abm ships: each names the part's service it runs. Stages hand over through
//! tables and queued runs: the end of an analysis run queues the segment recompute.

use std::sync::Arc;

use super::{JobDef, JobScope, Registry, job_fn};
use crate::config::Settings;
use crate::context::AppContext;

pub use super::names::{
    ANALYSIS, CAMPAIGNS_TICK, DELIVERY_SEND, IDEMPOTENCY_PURGE, SEGMENTS_RECOMPUTE,
};

/// The registry of shipped jobs with their schedules from `[jobs]`.
pub fn registry(settings: &Settings) -> Registry {
    let mut r = Registry::default();
    r.register(JobDef {
        name: ANALYSIS.into(),
        description: "Analysis run: ABC/XYZ, account types, three P and churn for every account; \
                      queues the segment recompute when it succeeds"
            .into(),
        schedule: settings.jobs.analysis.clone(),
        run: job_fn(analysis),
    });
    r.register(JobDef {
        name: SEGMENTS_RECOMPUTE.into(),
        description: "Recompute the membership of every segment, with entered/left events".into(),
        schedule: settings.jobs.segments_recompute.clone(),
        run: job_fn(segments_recompute),
    });
    r.register(JobDef {
        name: IDEMPOTENCY_PURGE.into(),
        description: "Forget Idempotency-Key records older than api.idempotency_ttl_hours".into(),
        schedule: settings.jobs.idempotency_purge.clone(),
        run: job_fn(idempotency_purge),
    });
    r.register(JobDef {
        name: CAMPAIGNS_TICK.into(),
        description: "Campaign dispatcher: enrol audiences, apply exit conditions, advance every \
                      due enrolment and write its messages and tasks to the outbox"
            .into(),
        schedule: settings.campaigns.tick.clone(),
        run: job_fn(campaigns_tick),
    });
    r.register(JobDef {
        name: DELIVERY_SEND.into(),
        description: "Delivery: send the due emails of the outbox by SMTP (or to .eml files), \
                      retry transient failures, return the messages of crashed senders"
            .into(),
        schedule: settings.delivery.send.clone(),
        run: job_fn(delivery_send),
    });
    r
}

async fn delivery_send(ctx: Arc<AppContext>, _: JobScope) -> super::JobResult {
    let report = crate::delivery::sender::send_due(&ctx).await?;
    Ok(Some(serde_json::to_value(report)?))
}

async fn campaigns_tick(ctx: Arc<AppContext>, _: JobScope) -> super::JobResult {
    let report = crate::campaigns::dispatch::tick(&ctx)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Some(serde_json::to_value(report)?))
}

async fn analysis(ctx: Arc<AppContext>, scope: JobScope) -> super::JobResult {
    let run = crate::analytics::service::run(
        &ctx.db,
        ctx.clock.as_ref(),
        &ctx.settings.analytics,
        &ctx.settings.winback,
        scope.trigger.as_str(),
    )
    .await?;
    // Hand over to the next stage: segments follow the new classes.
    super::hand_over(&ctx, SEGMENTS_RECOMPUTE).await?;
    Ok(Some(serde_json::json!({ "analysis_run_id": run.id })))
}

async fn segments_recompute(ctx: Arc<AppContext>, _: JobScope) -> super::JobResult {
    let changes = crate::segments::recompute_held(&ctx.db, ctx.clock.as_ref(), None).await?;
    let entered: u64 = changes.iter().map(|c| c.entered).sum();
    let left: u64 = changes.iter().map(|c| c.left).sum();
    Ok(Some(serde_json::json!({
        "segments": changes.len(), "entered": entered, "left": left
    })))
}

async fn idempotency_purge(ctx: Arc<AppContext>, _: JobScope) -> super::JobResult {
    let ttl = chrono::Duration::hours(i64::from(ctx.settings.api.idempotency_ttl_hours));
    use crate::entities::idempotency_key as idem;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let purged = idem::Entity::delete_many()
        .filter(idem::Column::CreatedAt.lt(ctx.clock.now() - ttl))
        .exec(&ctx.db)
        .await?
        .rows_affected;
    Ok(Some(serde_json::json!({ "purged": purged })))
}
