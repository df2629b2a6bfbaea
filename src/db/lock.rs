//! Job locks: "only one instance runs this job at a time", on both databases, with a lease so
//! a crashed holder does not block the job forever. A lock is a row in `job_locks`; taking it
//! is one conditional upsert whose affected-row count says who won.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::entities::job_lock;

/// Tries to take `name` for `holder` until `now + lease`. Returns whether it was taken: free,
/// expired, or already held by the same holder.
pub async fn try_lock(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, DbErr> {
    use job_lock::Column as C;
    let mut insert = Query::insert();
    insert
        .into_table(job_lock::Entity)
        .columns([C::Name, C::Holder, C::LockedUntil])
        .values([name.into(), holder.into(), (now + lease).into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::column(C::Name)
                .update_columns([C::Holder, C::LockedUntil])
                .action_and_where(
                    Expr::col((job_lock::Entity, C::LockedUntil))
                        .lt(now)
                        .or(Expr::col((job_lock::Entity, C::Holder)).eq(holder)),
                )
                .to_owned(),
        );
    Ok(db.execute(&insert).await?.rows_affected() > 0)
}

/// Releases `name` if `holder` still holds it.
pub async fn unlock(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
    use job_lock::Column as C;
    let delete = Query::delete()
        .from_table(job_lock::Entity)
        .and_where(Expr::col(C::Name).eq(name))
        .and_where(Expr::col(C::Holder).eq(holder))
        .to_owned();
    db.execute(&delete).await?;
    Ok(())
}
