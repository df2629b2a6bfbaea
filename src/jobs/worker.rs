//! The worker side of the jobs: claim a queued run, execute it while renewing its lease, record
//! how it ended. [`run_once`] is one deterministic step (tests drain the queue with it),
//! [`spawn_loop`] is the `worker` role, [`run_inline`] runs a job inside a request or command
//! under the same record and lease, and [`shutdown`] drains this process.

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use futures_util::FutureExt;
use sea_orm::{DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;

use super::{JobError, JobFn, JobScope, RunStatus, Trigger, runs};
use crate::context::AppContext;
use crate::entities::job_run;

fn lease(ctx: &AppContext) -> Duration {
    Duration::seconds(i64::from(ctx.settings.jobs.lease_seconds))
}

/// Claims the oldest claimable queued run of a registered job (after taking over runs whose
/// holder stopped renewing). `None` when there is nothing to do.
pub async fn claim_next(ctx: &AppContext) -> Result<Option<job_run::Model>, DbErr> {
    if ctx.jobs_rt.stopping.is_cancelled() {
        return Ok(None);
    }
    let now = ctx.clock.now();
    runs::take_over_expired(&ctx.db, &ctx.instance_id, now).await?;
    for run in runs::queued(&ctx.db, 50).await? {
        if ctx.jobs.get(&run.job).is_none() {
            continue;
        }
        if let Some(claimed) =
            runs::claim(&ctx.db, run.id, &ctx.instance_id, now, lease(ctx)).await?
        {
            // Shutdown began while this claim was in flight: hand the run straight back, so
            // another instance takes it without waiting out a lease.
            if ctx.jobs_rt.stopping.is_cancelled() {
                runs::release(&ctx.db, claimed.id, &ctx.instance_id).await?;
                return Ok(None);
            }
            return Ok(Some(claimed));
        }
    }
    Ok(None)
}

/// Claims and runs one queued run to its end, in this task. Returns the finished row.
pub async fn run_once(ctx: &Arc<AppContext>) -> Result<Option<job_run::Model>, DbErr> {
    let Some(run) = claim_next(ctx).await? else {
        return Ok(None);
    };
    let Some(def) = ctx.jobs.get(&run.job).cloned() else {
        return Ok(None);
    };
    execute(ctx, run, def.run).await.map(Some)
}

/// Runs queued runs one after another until none is left (tests; `abm jobs run`).
pub async fn drain(ctx: &Arc<AppContext>) -> Result<Vec<job_run::Model>, DbErr> {
    let mut done = Vec::new();
    while let Some(run) = run_once(ctx).await? {
        done.push(run);
        if done.len() > 10_000 {
            break;
        }
    }
    Ok(done)
}

/// Runs `job` now in the caller's task, recorded as a run with a renewed lease, with `body`
/// instead of the job's registered function when given (e.g. recompute one segment under the
/// recompute job's lock). `Busy` when a run of the job is running anywhere.
pub async fn run_inline(
    ctx: &Arc<AppContext>,
    job: &str,
    trigger: Trigger,
    body: Option<JobFn>,
) -> Result<job_run::Model, JobError> {
    if ctx.jobs_rt.stopping.is_cancelled() {
        return Err(JobError::ShuttingDown);
    }
    let (f, own_body) = match body {
        Some(f) => (f, false),
        None => (
            ctx.jobs
                .get(job)
                .ok_or_else(|| JobError::UnknownJob(job.to_string()))?
                .run
                .clone(),
            true,
        ),
    };
    let now = ctx.clock.now();
    // Running the job's own work while a run of it waits in the queue: take that run, so the
    // work is done once (a different body, e.g. one segment, leaves the queued run alone).
    let mut run = None;
    if own_body
        && let Some(queued) = runs::active(&ctx.db, job).await?
        && queued.status == RunStatus::Queued.as_str()
    {
        run = runs::claim(&ctx.db, queued.id, &ctx.instance_id, now, lease(ctx)).await?;
    }
    let run = match run {
        Some(r) => r,
        None => runs::start_running(&ctx.db, job, trigger, &ctx.instance_id, now, lease(ctx))
            .await?
            .ok_or_else(|| JobError::Busy(job.to_string()))?,
    };
    let token = ctx.jobs_rt.tracker.token();
    // On the main runtime, not the caller's: an HTTP worker thread is single-threaded, and a
    // job that computes for a while there would stall its other requests and the renewal.
    let done = match &ctx.runtime {
        Some(handle) => {
            let c = ctx.clone();
            handle
                .spawn(async move { execute(&c, run, f).await })
                .await
                .map_err(|e| JobError::Database(DbErr::Custom(format!("job task failed: {e}"))))??
        }
        None => execute(ctx, run, f).await?,
    };
    drop(token);
    Ok(done)
}

/// The outcome of a finished run as a result: interrupted by shutdown is `ShuttingDown` (retry
/// elsewhere), taken over is `Busy`, failed is `Failed`.
pub fn outcome(run: job_run::Model) -> Result<job_run::Model, JobError> {
    match RunStatus::parse(&run.status) {
        RunStatus::Succeeded => Ok(run),
        RunStatus::Interrupted => Err(JobError::ShuttingDown),
        RunStatus::Abandoned => Err(JobError::Busy(run.job)),
        _ => Err(JobError::Failed {
            run_id: run.id,
            message: run.error.unwrap_or_else(|| "the job did not finish".into()),
        }),
    }
}

/// Executes a run this instance holds: renews the lease every third of it, stops the body when
/// the lease is lost or shutdown's grace runs out, records the outcome, and updates metrics.
pub async fn execute(
    ctx: &Arc<AppContext>,
    run: job_run::Model,
    f: JobFn,
) -> Result<job_run::Model, DbErr> {
    let cancel = CancellationToken::new();
    ctx.jobs_rt
        .held
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(run.id, cancel.clone());
    let scope = JobScope {
        run_id: run.id,
        trigger: Trigger::parse(&run.trigger),
        cancel: cancel.clone(),
    };
    tracing::info!(job = %run.job, run_id = run.id, trigger = %run.trigger, "job run started");
    let started = Instant::now();
    let renew_every = std::time::Duration::from_millis(
        (u64::from(ctx.settings.jobs.lease_seconds) * 1000 / 3).max(50),
    );
    // A panicking job is a failed run, not a dead worker and a run stuck until its lease
    // passes (after which the takeover would panic again).
    let body = std::panic::AssertUnwindSafe(f(ctx.clone(), scope))
        .catch_unwind()
        .map(|r| {
            r.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(anyhow::anyhow!("the job panicked: {what}"))
            })
        });
    let mut body = Box::pin(body);
    // Renewal runs in a task of its own, so a job body that computes for a while, or that
    // holds SQLite's write lock the renewal waits for, cannot starve it: it only ever cancels
    // the run when the lease is lost.
    let lease_lost = CancellationToken::new();
    let renewal = {
        let ctx = ctx.clone();
        let lease_lost = lease_lost.clone();
        let done = cancel.clone();
        let (run_id, job) = (run.id, run.job.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(renew_every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = done.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let until = ctx.clock.now() + lease(&ctx);
                match runs::renew(&ctx.db, run_id, &ctx.instance_id, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(%job, run_id, "lease lost: another instance took the job over");
                        lease_lost.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, run_id, "could not renew the job lease"),
                }
            }
        })
    };
    let outcome: Option<super::JobResult> = tokio::select! {
        biased;
        r = &mut body => Some(r),
        _ = lease_lost.cancelled() => None,
        _ = ctx.jobs_rt.interrupt.cancelled() => None,
    };
    // Stop the body (and the renewal) before recording: a dropped body rolls back its open
    // transaction, which on SQLite would otherwise hold the write lock the record needs.
    cancel.cancel();
    drop(body);
    renewal.abort();
    ctx.jobs_rt
        .held
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&run.id);
    let now = ctx.clock.now();
    let elapsed = started.elapsed().as_secs_f64();
    let (status, error, detail) = match outcome {
        Some(Ok(detail)) => (RunStatus::Succeeded, None, detail),
        Some(Err(e)) => (RunStatus::Failed, Some(format!("{e:#}")), None),
        None if !lease_lost.is_cancelled() => (
            RunStatus::Interrupted,
            Some("interrupted by shutdown; queued again".to_string()),
            None,
        ),
        None => (RunStatus::Abandoned, Some("lease lost".to_string()), None),
    };
    // An interrupted run is queued again in the same transaction that records it, so no
    // crash in between can lose the work.
    let txn = ctx.db.begin().await?;
    let recorded = runs::finish(
        &txn,
        run.id,
        &ctx.instance_id,
        status,
        now,
        error.clone(),
        detail,
    )
    .await?;
    if recorded && status == RunStatus::Interrupted {
        // A savepoint: a run of the job already queued makes this a no-op, not an abort.
        let sp = txn.begin().await?;
        if runs::enqueue(&sp, &run.job, Trigger::Requeue, None, None, now)
            .await?
            .is_some()
        {
            sp.commit().await?;
        } else {
            sp.rollback().await?;
        }
    }
    txn.commit().await?;
    ctx.metrics.job_finished(&run.job, status.as_str(), elapsed);
    match &error {
        Some(e) => {
            tracing::warn!(job = %run.job, run_id = run.id, status = status.as_str(), error = %e, "job run ended")
        }
        None => {
            tracing::info!(job = %run.job, run_id = run.id, seconds = elapsed, "job run succeeded")
        }
    }
    Ok(runs::get(&ctx.db, run.id).await?.unwrap_or(run))
}

/// The `worker` role: claims queued runs (woken by this process's own queueing, or every
/// `jobs.poll_interval_ms`) and runs each in its own task until shutdown begins.
pub fn spawn_loop(ctx: Arc<AppContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = std::time::Duration::from_millis(ctx.settings.jobs.poll_interval_ms.max(10));
        loop {
            // Held while claiming, so shutdown's drain also waits for a claim in flight.
            let claiming = ctx.jobs_rt.tracker.token();
            loop {
                match claim_next(&ctx).await {
                    Ok(Some(run)) => {
                        let Some(def) = ctx.jobs.get(&run.job).cloned() else {
                            break;
                        };
                        let c = ctx.clone();
                        ctx.jobs_rt.tracker.spawn(async move {
                            if let Err(e) = execute(&c, run, def.run).await {
                                tracing::error!(error = %e, "could not record a job run");
                            }
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim job runs");
                        break;
                    }
                }
            }
            drop(claiming);
            tokio::select! {
                _ = ctx.jobs_rt.stopping.cancelled() => break,
                _ = ctx.jobs_rt.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    })
}

/// Stops claiming, lets running runs finish within `grace`, then interrupts the rest (each is
/// recorded `interrupted` and queued again, which frees its lease at once). Returns the ids of
/// the runs that had to be interrupted.
pub async fn shutdown(ctx: &AppContext, grace: std::time::Duration) -> Vec<i64> {
    ctx.jobs_rt.stopping.cancel();
    ctx.jobs_rt.tracker.close();
    if tokio::time::timeout(grace, ctx.jobs_rt.tracker.wait())
        .await
        .is_ok()
    {
        return Vec::new();
    }
    let held = ctx.jobs_rt.held_runs();
    ctx.jobs_rt.interrupt.cancel();
    // Recording the interruption is one short transaction per run; the bound only guards
    // against a database that no longer answers.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ctx.jobs_rt.tracker.wait(),
    )
    .await;
    // Report what was recorded, not what was asked.
    let mut interrupted = Vec::new();
    for id in held {
        match runs::get(&ctx.db, id).await {
            Ok(Some(r)) if r.status == RunStatus::Interrupted.as_str() => interrupted.push(id),
            Ok(r) => tracing::error!(
                run_id = id,
                status = r.map(|r| r.status).unwrap_or_default(),
                "a run could not be recorded as interrupted; its lease will expire and another instance will take it over"
            ),
            Err(e) => {
                tracing::error!(run_id = id, error = %e, "could not check an interrupted run")
            }
        }
    }
    interrupted
}
