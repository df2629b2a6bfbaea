//! The `scheduler` role: tokio-cron-scheduler fires each scheduled job at its cron moments, and
//! a firing only queues a run for that moment. Every instance may run a scheduler; the unique
//! `(job, scheduled_for)` row makes the moment run once however many fire it.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use sea_orm::DbErr;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{Trigger, runs};
use crate::context::AppContext;
use crate::entities::job_run;

/// Parses a cron expression with seconds (`sec min hour day-of-month month day-of-week`), as
/// the scheduler reads it.
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr.trim())
        .map_err(|e| format!("not a cron expression with seconds ({e})"))
}

/// The next moment `expr` fires after `now`, in the jobs timezone.
pub fn next_after(expr: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = parse(expr).ok()?;
    cron.find_next_occurrence(&now.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The cron moment a tick at `now` belongs to: the latest fire time at or before `now` (half a
/// second of slack for a tick that arrives early). Two instances ticking a few milliseconds
/// apart name the same moment.
pub fn moment_of(expr: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let probe = (now + chrono::Duration::milliseconds(500)).with_timezone(&tz);
    parse(expr)
        .ok()
        .and_then(|c| c.find_previous_occurrence(&probe, true).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| now.round_subsecs(0))
}

/// What one cron tick does: queue a run of `job` for the moment `at`, and wake this process's
/// worker. `None` when that moment (or a queued run of the job) is already there.
pub async fn fire(
    ctx: &AppContext,
    job: &str,
    at: DateTime<Utc>,
) -> Result<Option<job_run::Model>, DbErr> {
    let queued = runs::enqueue(
        &ctx.db,
        job,
        Trigger::Schedule,
        Some(at),
        None,
        ctx.clock.now(),
    )
    .await?;
    if queued.is_some() {
        ctx.jobs_rt.wake.notify_one();
    }
    Ok(queued)
}

/// Starts the cron scheduler for every job with a schedule; `None` when none has one.
pub async fn start(ctx: Arc<AppContext>) -> anyhow::Result<Option<JobScheduler>> {
    let tz = ctx.settings.jobs.timezone.0;
    let scheduled: Vec<(String, String)> = ctx
        .jobs
        .iter()
        .filter(|d| !d.schedule.trim().is_empty())
        .map(|d| (d.name.clone(), d.schedule.trim().to_string()))
        .collect();
    if scheduled.is_empty() {
        return Ok(None);
    }
    let sched = JobScheduler::new().await?;
    for (name, expr) in scheduled {
        let c = ctx.clone();
        let job_name = name.clone();
        let job_expr = expr.clone();
        sched
            .add(Job::new_async_tz(expr.as_str(), tz, move |_, _| {
                let c = c.clone();
                let name = job_name.clone();
                let expr = job_expr.clone();
                Box::pin(async move {
                    if c.jobs_rt.stopping.is_cancelled() {
                        return;
                    }
                    let at = moment_of(&expr, tz, c.clock.now());
                    match fire(&c, &name, at).await {
                        Ok(Some(run)) => tracing::info!(job = %name, run_id = run.id, "scheduled run queued"),
                        Ok(None) => tracing::debug!(job = %name, "scheduled moment already queued"),
                        Err(e) => tracing::error!(job = %name, error = %e, "could not queue the scheduled run"),
                    }
                })
            })?)
            .await?;
        tracing::info!(job = %name, schedule = %expr, "job scheduled");
    }
    sched.start().await?;
    Ok(Some(sched))
}
