//! Scheduled jobs of `abm serve` (tokio-cron-scheduler with its in-memory job store). What a
//! job does lives in a plain async function that tests call directly; "only one instance runs
//! it" is the job's own database lock, not process memory.

use tokio_cron_scheduler::{Job, JobScheduler};

use crate::api::State;

/// Starts the scheduler with the configured jobs; `None` when no job is scheduled.
pub async fn start(state: State) -> anyhow::Result<Option<JobScheduler>> {
    let schedule = state.settings.analytics.schedule.trim().to_string();
    if schedule.is_empty() {
        return Ok(None);
    }
    let sched = JobScheduler::new().await?;
    let tz = state.settings.analytics.month_timezone.0;
    let job_state = state.clone();
    sched
        .add(Job::new_async_tz(schedule.as_str(), tz, move |_, _| {
            let s = job_state.clone();
            Box::pin(async move {
                scheduled_analysis(&s).await;
            })
        })?)
        .await?;
    sched.start().await?;
    tracing::info!(%schedule, "analysis runs are scheduled");
    Ok(Some(sched))
}

/// The scheduled analysis: runs unless another instance is already running one. Returns the
/// run id when this call ran it.
pub async fn scheduled_analysis(state: &State) -> Option<i64> {
    use crate::analytics::service::{RunError, run_analysis};
    match run_analysis(
        &state.db,
        state.clock.as_ref(),
        &state.settings.analytics,
        "schedule",
    )
    .await
    {
        Ok(run) => {
            tracing::info!(run_id = run.id, "scheduled analysis finished");
            Some(run.id)
        }
        Err(RunError::AlreadyRunning) => {
            tracing::info!("scheduled analysis skipped: another run is in progress");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "scheduled analysis failed");
            None
        }
    }
}
