//! The `job_runs` table: queueing, claiming, renewing, finishing and listing runs. Every state
//! change is one conditional statement whose affected-row count says whether it happened, so
//! two instances racing for the same row cannot both win; the partial unique indexes (one
//! queued and one running run per job) settle the rest. Portable SQL only.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};

use super::{RunStatus, Trigger};
use crate::entities::job_run::{self, Column as C};

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Queues a run of `job`. `scheduled_for` is the cron moment of a scheduled run: two schedulers
/// firing the same moment queue one run. Returns `None` when a run of the job is already queued
/// (the two would do the same work) or that moment was already queued.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    job: &str,
    trigger: Trigger,
    scheduled_for: Option<DateTime<Utc>>,
    taken_over_from: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<job_run::Model>, DbErr> {
    insert_unless_taken(
        db,
        job_run::ActiveModel {
            job: Set(job.to_string()),
            trigger: Set(trigger.as_str().to_string()),
            status: Set(RunStatus::Queued.as_str().to_string()),
            scheduled_for: Set(scheduled_for),
            queued_at: Set(now),
            taken_over_from: Set(taken_over_from),
            ..Default::default()
        },
    )
    .await
}

/// Inserts a run; `None` when a unique index refuses it (the queued or running slot of the
/// job, or the scheduled moment, is taken).
async fn insert_unless_taken(
    db: &impl ConnectionTrait,
    row: job_run::ActiveModel,
) -> Result<Option<job_run::Model>, DbErr> {
    match row.insert(db).await {
        Ok(m) => Ok(Some(m)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Queues a run of `job` only when none is queued or running, in one statement (an
/// `INSERT … SELECT … WHERE NOT EXISTS`), so a worker claiming the queued run between a check
/// and an insert cannot let a second one in. `None` when the job is busy.
pub async fn enqueue_if_idle(
    db: &impl ConnectionTrait,
    job: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<Option<job_run::Model>, DbErr> {
    use sea_orm::sea_query::{ExprTrait, Query};
    let busy = Query::select()
        .expr(Expr::val(1))
        .from(job_run::Entity)
        .and_where(Expr::col(C::Job).eq(job))
        .and_where(
            Expr::col(C::Status).is_in([RunStatus::Queued.as_str(), RunStatus::Running.as_str()]),
        )
        .to_owned();
    let source = Query::select()
        .exprs([
            Expr::val(job),
            Expr::val(trigger.as_str()),
            Expr::val(RunStatus::Queued.as_str()),
            Expr::val(now),
        ])
        .and_where(Expr::exists(busy).not())
        .to_owned();
    let mut insert = Query::insert();
    insert
        .into_table(job_run::Entity)
        .columns([C::Job, C::Trigger, C::Status, C::QueuedAt])
        .select_from(source)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let inserted = match db.execute(&insert).await {
        Ok(r) => r.rows_affected() == 1,
        Err(e) if is_unique_violation(&e) => false,
        Err(e) => Err(e)?,
    };
    if !inserted {
        return Ok(None);
    }
    job_run::Entity::find()
        .filter(C::Job.eq(job))
        .filter(C::Status.eq(RunStatus::Queued.as_str()))
        .one(db)
        .await
}

/// Starts a run directly as running for `instance` (inline work of a request or a command).
/// Returns `None` when a run of the job is already running somewhere.
pub async fn start_running(
    db: &impl ConnectionTrait,
    job: &str,
    trigger: Trigger,
    instance: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<job_run::Model>, DbErr> {
    insert_unless_taken(
        db,
        job_run::ActiveModel {
            job: Set(job.to_string()),
            trigger: Set(trigger.as_str().to_string()),
            status: Set(RunStatus::Running.as_str().to_string()),
            instance_id: Set(Some(instance.to_string())),
            queued_at: Set(now),
            started_at: Set(Some(now)),
            lease_until: Set(Some(now + lease)),
            ..Default::default()
        },
    )
    .await
}

/// Claims the queued run `id` for `instance`. `None` when another worker claimed it first or a
/// run of the same job is running (the unique index refuses a second running row).
pub async fn claim(
    db: &impl ConnectionTrait,
    id: i64,
    instance: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<job_run::Model>, DbErr> {
    let update = job_run::Entity::update_many()
        .col_expr(C::Status, Expr::value(RunStatus::Running.as_str()))
        .col_expr(C::InstanceId, Expr::value(instance))
        .col_expr(C::StartedAt, Expr::value(now))
        .col_expr(C::LeaseUntil, Expr::value(now + lease))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(RunStatus::Queued.as_str()))
        .exec(db)
        .await;
    match update {
        Ok(r) if r.rows_affected == 1 => job_run::Entity::find_by_id(id).one(db).await,
        Ok(_) => Ok(None),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives a claimed run back to the queue untouched (the claimer began shutting down before it
/// started the work).
pub async fn release(db: &impl ConnectionTrait, id: i64, instance: &str) -> Result<bool, DbErr> {
    let back = held(id, instance)
        .col_expr(C::Status, Expr::value(RunStatus::Queued.as_str()))
        .col_expr(C::InstanceId, Expr::value(Option::<String>::None))
        .col_expr(C::StartedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .exec(db)
        .await;
    match back {
        Ok(r) => Ok(r.rows_affected == 1),
        // Another run of the job was queued meanwhile and covers the work: close this one.
        Err(e) if is_unique_violation(&e) => {
            let r = held(id, instance)
                .col_expr(C::Status, Expr::value(RunStatus::Interrupted.as_str()))
                .col_expr(
                    C::Error,
                    Expr::value("handed back at shutdown; a queued run of the job covers it"),
                )
                .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .exec(db)
                .await?;
            Ok(r.rows_affected == 1)
        }
        Err(e) => Err(e),
    }
}

/// An update of run `id` that applies only while `instance` still holds it (running).
fn held(id: i64, instance: &str) -> sea_orm::UpdateMany<job_run::Entity> {
    job_run::Entity::update_many()
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(RunStatus::Running.as_str()))
        .filter(C::InstanceId.eq(instance))
}

/// Extends the lease of a run `instance` still holds; false when it no longer holds it.
pub async fn renew(
    db: &impl ConnectionTrait,
    id: i64,
    instance: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = held(id, instance)
        .col_expr(C::LeaseUntil, Expr::value(until))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Records how a run `instance` holds ended; false when it was taken over meanwhile (the
/// takeover's record stands).
pub async fn finish(
    db: &impl ConnectionTrait,
    id: i64,
    instance: &str,
    status: RunStatus,
    now: DateTime<Utc>,
    error: Option<String>,
    detail: Option<serde_json::Value>,
) -> Result<bool, DbErr> {
    let r = held(id, instance)
        .col_expr(C::Status, Expr::value(status.as_str()))
        .col_expr(C::FinishedAt, Expr::value(now))
        .col_expr(C::Error, Expr::value(error))
        .col_expr(C::Detail, Expr::value(detail))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Marks running runs whose lease has passed as abandoned, and queues each job again (trigger
/// `takeover`, `taken_over_from` naming the abandoned run). Returns the abandoned runs.
pub async fn take_over_expired(
    db: &sea_orm::DatabaseConnection,
    taker: &str,
    now: DateTime<Utc>,
) -> Result<Vec<job_run::Model>, DbErr> {
    let expired = job_run::Entity::find()
        .filter(C::Status.eq(RunStatus::Running.as_str()))
        .filter(C::LeaseUntil.lt(now))
        .order_by_asc(C::Id)
        .limit(100)
        .all(db)
        .await?;
    let mut taken = Vec::new();
    for run in expired {
        let holder = run.instance_id.clone().unwrap_or_default();
        let until = run.lease_until.map(|t| t.to_rfc3339()).unwrap_or_default();
        // Abandon and queue again in one transaction, so no failure in between loses the work.
        let txn = db.begin().await?;
        let r = job_run::Entity::update_many()
            .col_expr(C::Status, Expr::value(RunStatus::Abandoned.as_str()))
            .col_expr(C::FinishedAt, Expr::value(now))
            .col_expr(
                C::Error,
                Expr::value(format!(
                    "lease expired at {until}: holder {holder} stopped renewing; taken over by {taker}"
                )),
            )
            .filter(C::Id.eq(run.id))
            .filter(C::Status.eq(RunStatus::Running.as_str()))
            .filter(C::LeaseUntil.lt(now))
            .exec(&txn)
            .await?;
        if r.rows_affected == 1 {
            tracing::warn!(job = %run.job, run_id = run.id, %holder, "lease expired; taking the job over");
            // A savepoint: a run of the job already queued covers the work.
            let sp = txn.begin().await?;
            if enqueue(&sp, &run.job, Trigger::Takeover, None, Some(run.id), now)
                .await?
                .is_some()
            {
                sp.commit().await?;
            } else {
                sp.rollback().await?;
            }
            txn.commit().await?;
            taken.push(run);
        } else {
            txn.rollback().await?;
        }
    }
    Ok(taken)
}

/// Queued runs, oldest first.
pub async fn queued(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<job_run::Model>, DbErr> {
    job_run::Entity::find()
        .filter(C::Status.eq(RunStatus::Queued.as_str()))
        .order_by_asc(C::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The queued or running run of `job`, if any (running first).
pub async fn active(db: &impl ConnectionTrait, job: &str) -> Result<Option<job_run::Model>, DbErr> {
    job_run::Entity::find()
        .filter(C::Job.eq(job))
        .filter(C::Status.is_in([RunStatus::Running.as_str(), RunStatus::Queued.as_str()]))
        .order_by_desc(C::Status)
        .one(db)
        .await
}

/// The newest run of `job` that has started (running or finished).
pub async fn last_started(
    db: &impl ConnectionTrait,
    job: &str,
) -> Result<Option<job_run::Model>, DbErr> {
    job_run::Entity::find()
        .filter(C::Job.eq(job))
        .filter(C::StartedAt.is_not_null())
        .order_by_desc(C::Id)
        .one(db)
        .await
}

/// One page of a job's runs, newest first, with the total.
pub async fn page(
    db: &impl ConnectionTrait,
    job: &str,
    limit: u64,
    offset: u64,
    newest_first: bool,
) -> Result<(Vec<job_run::Model>, u64), DbErr> {
    let q = job_run::Entity::find().filter(C::Job.eq(job));
    let total = q.clone().count(db).await?;
    let items = q
        .order_by(
            C::Id,
            if newest_first {
                sea_orm::Order::Desc
            } else {
                sea_orm::Order::Asc
            },
        )
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((items, total))
}

/// One run by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<job_run::Model>, DbErr> {
    job_run::Entity::find_by_id(id).one(db).await
}
