//! Durable background jobs that run once across instances.
//!
//! Every periodic or triggered piece of background work is a registered job: a name, a cron
//! schedule from config (or none) and an async function over the [`AppContext`]. A run is a row
//! in `job_runs`; it is queued (by the scheduler, an API call, the CLI or another stage), then
//! claimed by one worker with a conditional update. The running row is the job's lock: a
//! partial unique index allows one running run per job across every instance, and its
//! `lease_until` is renewed while the run works. A holder that stops renewing (it crashed, or
//! lost the database) is taken over once the lease has passed: its run is marked `abandoned`
//! and a new run is queued with `taken_over_from`. Graceful shutdown marks unfinished runs
//! `interrupted` and queues them again, so another instance picks them up at once.
//!
//! Tests drive all of it without sleeping: [`worker::run_once`] claims and runs one queued run,
//! [`schedule::fire`] is what a cron tick does, and the lease is measured with the injectable
//! clock.

pub mod builtin;
pub mod names;
pub mod routes;
pub mod runs;
pub mod schedule;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::AppContext;

/// Where a run is in its life. Only `queued` and `running` can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// The holder stopped renewing its lease and another instance took the job over.
    Abandoned,
    /// Stopped by a graceful shutdown before it finished; queued again.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Abandoned => "abandoned",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The status stored in a row; unknown text (a newer version's) reads as failed.
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "abandoned" => RunStatus::Abandoned,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Failed,
        }
    }
}

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A cron tick of the scheduler role.
    Schedule,
    /// An API call.
    Api,
    /// A command line call.
    Cli,
    /// Another stage handed over (e.g. the end of an analysis run queues the recompute).
    Event,
    /// Queued again because the previous holder stopped renewing its lease.
    Takeover,
    /// Queued again after a graceful shutdown interrupted it.
    Requeue,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
            Trigger::Event => "event",
            Trigger::Takeover => "takeover",
            Trigger::Requeue => "requeue",
        }
    }

    pub fn parse(s: &str) -> Trigger {
        match s {
            "schedule" => Trigger::Schedule,
            "cli" => Trigger::Cli,
            "event" => Trigger::Event,
            "takeover" => Trigger::Takeover,
            "requeue" => Trigger::Requeue,
            _ => Trigger::Api,
        }
    }
}

/// What a running job gets besides the context.
#[derive(Debug, Clone)]
pub struct JobScope {
    pub run_id: i64,
    pub trigger: Trigger,
    /// Cancelled when the run must stop: its lease was lost, or shutdown's grace ran out.
    pub cancel: CancellationToken,
}

/// A job's result: an optional JSON detail stored with the run (e.g. the analysis run id).
pub type JobResult = anyhow::Result<Option<serde_json::Value>>;
/// The body of a job.
pub type JobFn =
    Arc<dyn Fn(Arc<AppContext>, JobScope) -> BoxFuture<'static, JobResult> + Send + Sync>;

/// Wraps an async function as a [`JobFn`].
pub fn job_fn<F, Fut>(f: F) -> JobFn
where
    F: Fn(Arc<AppContext>, JobScope) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = JobResult> + Send + 'static,
{
    Arc::new(move |ctx, scope| Box::pin(f(ctx, scope)))
}

/// One registered job.
#[derive(Clone)]
pub struct JobDef {
    pub name: String,
    pub description: String,
    /// Cron expression with seconds in `jobs.timezone`; empty: only on demand.
    pub schedule: String,
    pub run: JobFn,
}

impl std::fmt::Debug for JobDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDef")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

/// The jobs this process knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: Vec<JobDef>,
}

impl Registry {
    /// Adds (or replaces) a job.
    pub fn register(&mut self, def: JobDef) {
        self.defs.retain(|d| d.name != def.name);
        self.defs.push(def);
    }

    pub fn get(&self, name: &str) -> Option<&JobDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &JobDef> {
        self.defs.iter()
    }
}

/// Why a job could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("there is no job named `{0}`")]
    UnknownJob(String),
    #[error("job `{0}` is already queued or running")]
    AlreadyActive(String),
    #[error("job `{0}` is running elsewhere")]
    Busy(String),
    #[error("job run {run_id} failed: {message}")]
    Failed { run_id: i64, message: String },
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// The in-process side of the jobs: which runs this process holds, how to wake its worker,
/// and the tokens that drain it on shutdown. Nothing here is needed for correctness across
/// instances; that lives in the database.
#[derive(Debug, Default)]
pub struct Runtime {
    /// Wakes this process's worker loop when this process queues a run.
    pub wake: tokio::sync::Notify,
    /// Set when shutdown begins: no new run is claimed.
    pub stopping: CancellationToken,
    /// Set when shutdown's grace has run out: running jobs are interrupted.
    pub interrupt: CancellationToken,
    /// Runs executing in this process (worker-claimed or inline), for the shutdown drain.
    pub tracker: TaskTracker,
    /// Cancellation tokens of the runs this process holds, by run id.
    pub(crate) held: Mutex<HashMap<i64, CancellationToken>>,
}

impl Runtime {
    /// Run ids this process holds right now.
    pub fn held_runs(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// One run as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = JobRunView)]
pub struct RunView {
    pub id: i64,
    pub job: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// The instance that ran (or runs) it.
    pub instance_id: Option<String>,
    /// The cron moment of a scheduled run.
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
    pub queued_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Until when the holder's lease runs (running runs only).
    pub lease_until: Option<chrono::DateTime<chrono::Utc>>,
    pub error: Option<String>,
    /// What the run produced, e.g. `{"analysis_run_id": 7}`.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The abandoned run this one took over.
    pub taken_over_from: Option<i64>,
}

impl RunView {
    pub fn status_str(&self) -> &'static str {
        self.status.as_str()
    }
}

impl From<crate::entities::job_run::Model> for RunView {
    fn from(m: crate::entities::job_run::Model) -> Self {
        RunView {
            id: m.id,
            job: m.job,
            trigger: Trigger::parse(&m.trigger),
            status: RunStatus::parse(&m.status),
            instance_id: m.instance_id,
            scheduled_for: m.scheduled_for,
            queued_at: m.queued_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
            lease_until: m.lease_until,
            error: m.error,
            detail: m.detail,
            taken_over_from: m.taken_over_from,
        }
    }
}

/// A registered job with its schedule, last run and next run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobInfo {
    pub name: String,
    pub description: String,
    /// Cron expression with seconds; null when the job runs only on demand.
    pub schedule: Option<String>,
    /// Timezone of the schedule.
    pub timezone: String,
    /// The newest run that started.
    pub last_run: Option<RunView>,
    /// The queued or running run, if any.
    pub active_run: Option<RunView>,
    /// When the schedule fires next.
    pub next_run: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every registered job, by name.
pub async fn list(ctx: &AppContext) -> Result<Vec<JobInfo>, sea_orm::DbErr> {
    let tz = ctx.settings.jobs.timezone.0;
    let now = ctx.clock.now();
    let mut defs: Vec<&JobDef> = ctx.jobs.iter().collect();
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::with_capacity(defs.len());
    for def in defs {
        let schedule = Some(def.schedule.trim().to_string()).filter(|s| !s.is_empty());
        out.push(JobInfo {
            name: def.name.clone(),
            description: def.description.clone(),
            next_run: schedule
                .as_deref()
                .and_then(|s| schedule::next_after(s, tz, now)),
            schedule,
            timezone: ctx.settings.jobs.timezone.name().to_string(),
            last_run: runs::last_started(&ctx.db, &def.name)
                .await?
                .map(RunView::from),
            active_run: runs::active(&ctx.db, &def.name).await?.map(RunView::from),
        });
    }
    Ok(out)
}

/// Hands work over to another stage: queues a run of `name` (nothing when one is already
/// queued: it will see the same data) and wakes this process's worker. This is how one stage
/// starts the next; it never calls the next stage itself.
pub async fn hand_over(
    ctx: &AppContext,
    name: &str,
) -> Result<Option<crate::entities::job_run::Model>, sea_orm::DbErr> {
    let queued = runs::enqueue(&ctx.db, name, Trigger::Event, None, None, ctx.clock.now()).await?;
    if queued.is_some() {
        ctx.jobs_rt.wake.notify_one();
    }
    Ok(queued)
}

/// Queues a run of `name` now for a worker. `AlreadyActive` while a run of it is queued or
/// running anywhere.
pub async fn trigger(
    ctx: &AppContext,
    name: &str,
    trigger: Trigger,
) -> Result<crate::entities::job_run::Model, JobError> {
    if ctx.jobs.get(name).is_none() {
        return Err(JobError::UnknownJob(name.to_string()));
    }
    let run = runs::enqueue_if_idle(&ctx.db, name, trigger, ctx.clock.now())
        .await?
        .ok_or_else(|| JobError::AlreadyActive(name.to_string()))?;
    ctx.jobs_rt.wake.notify_one();
    Ok(run)
}

/// One page of a job's runs, newest first.
pub async fn runs_of(
    ctx: &AppContext,
    name: &str,
    limit: u64,
    offset: u64,
    newest_first: bool,
) -> Result<(Vec<RunView>, u64), JobError> {
    if ctx.jobs.get(name).is_none() {
        return Err(JobError::UnknownJob(name.to_string()));
    }
    let (items, total) = runs::page(&ctx.db, name, limit, offset, newest_first).await?;
    Ok((items.into_iter().map(RunView::from).collect(), total))
}
