//! Membership: evaluates every segment's rule over all accounts and writes what changed (new
//! and ended stays, `entered`/`left` events, the member count) in one transaction. Runs one at
//! a time per database under the `segments_recompute` job (see `crate::jobs`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use super::builtins::ensure_builtins;
use super::facts;
use crate::clock::Clock;
use crate::context::AppContext;
use crate::entities::{account, segment, segment_event, segment_membership};
use crate::jobs::{JobError, Trigger};
use crate::segments::rules::{Compiled, Rule};

/// Accounts read at a time when evaluating rules over all of them.
pub const SLICE: usize = 5_000;

/// What a recomputation changed for one segment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentChange {
    pub key: String,
    pub members: u64,
    pub entered: u64,
    pub left: u64,
}

/// Recomputes now, in the caller's task, under the `segments_recompute` job (recorded as its
/// run). `JobError::Busy` when a recomputation is running elsewhere; nothing waits.
pub async fn recompute_now(
    ctx: &Arc<AppContext>,
    trigger: Trigger,
    only: Option<Vec<i64>>,
) -> Result<Vec<SegmentChange>, JobError> {
    let body = crate::jobs::job_fn(move |ctx, _| {
        let only = only.clone();
        async move {
            let changes = recompute_held(&ctx.db, ctx.clock.as_ref(), only.as_deref()).await?;
            Ok(Some(serde_json::json!({ "segments": changes })))
        }
    });
    let run = crate::jobs::worker::outcome(
        crate::jobs::worker::run_inline(
            ctx,
            crate::jobs::names::SEGMENTS_RECOMPUTE,
            trigger,
            Some(body),
        )
        .await?,
    )?;
    Ok(run
        .detail
        .and_then(|mut d| serde_json::from_value(d["segments"].take()).ok())
        .unwrap_or_default())
}

/// Recomputes `only` these segments now; when a recomputation is running elsewhere, queues a
/// full one instead (it will see this change) and returns `false`.
pub async fn recompute_or_queue(ctx: &Arc<AppContext>, only: Vec<i64>) -> Result<bool, JobError> {
    match recompute_now(ctx, Trigger::Api, Some(only)).await {
        Ok(_) => Ok(true),
        Err(JobError::Busy(_)) => {
            crate::jobs::hand_over(ctx, crate::jobs::names::SEGMENTS_RECOMPUTE).await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Recomputes the membership of every segment (`only`: of these segment ids) and writes the
/// changes, with their events, in one transaction. The caller holds the `segments_recompute`
/// job (see `crate::jobs`), so recomputations run one at a time per database and nothing
/// waits for a lock: a caller that finds the job running elsewhere queues it or answers 503.
pub async fn recompute_held(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    only: Option<&[i64]>,
) -> Result<Vec<SegmentChange>, DbErr> {
    let now = clock.now();
    ensure_builtins(db, now).await?;
    let mut segments = segment::Entity::find();
    if let Some(ids) = only {
        segments = segments.filter(segment::Column::Id.is_in(ids.iter().copied()));
    }
    let segments = segments.all(db).await?;
    // Accounts are read a slice at a time, so memory stays flat however many there are.
    let rules: Vec<Option<Rule>> = segments
        .iter()
        .map(|s| match Rule::from_json(&s.rule) {
            Ok(r) => Some(r),
            Err(e) => {
                // Stored rules were checked when saved; a registry change could still
                // invalidate one. Keep its members and say so.
                tracing::warn!(segment = %s.key, error = %e, "segment rule no longer valid; skipped");
                None
            }
        })
        .collect();
    let compiled: Vec<Option<Compiled>> = rules
        .iter()
        .map(|r| r.as_ref().map(Compiled::new))
        .collect();
    let loader = facts::Loader::new(db, now, facts::Needs::of(rules.iter().flatten())).await?;
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); segments.len()];
    for (from, to) in facts::id_ranges(db, SLICE).await? {
        let accounts = loader.load(db, facts::Span::Range(from, to)).await?;
        for (rule, list) in compiled.iter().zip(&mut members) {
            if let Some(rule) = rule {
                list.extend(
                    accounts
                        .iter()
                        .filter(|a| rule.matches(&a.facts))
                        .map(|a| a.account_id),
                );
            }
        }
    }

    let txn = crate::db::begin_write(db).await?;
    let mut changes = Vec::with_capacity(segments.len());
    for ((s, rule), now_in) in segments.iter().zip(&compiled).zip(&members) {
        // A segment deleted while the rules were evaluated is skipped.
        if rule.is_some() && segment::Entity::find_by_id(s.id).one(&txn).await?.is_some() {
            changes.push(apply(&txn, s, now_in, now).await?);
        }
    }
    txn.commit().await?;
    Ok(changes)
}

/// Accounts in the segment now, counted in the transaction (so concurrent deletions count).
pub async fn open_count(txn: &impl ConnectionTrait, segment_id: i64) -> Result<u64, DbErr> {
    segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(segment_id))
        .filter(segment_membership::Column::LeftAt.is_null())
        .count(txn)
        .await
}

/// Writes one segment's new member list: new stays, ended stays, events and the count.
async fn apply(
    txn: &impl ConnectionTrait,
    s: &segment::Model,
    now_in: &[i64],
    now: DateTime<Utc>,
) -> Result<SegmentChange, DbErr> {
    let current: HashSet<i64> = segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(s.id))
        .filter(segment_membership::Column::LeftAt.is_null())
        .select_only()
        .column(segment_membership::Column::AccountId)
        .into_tuple::<i64>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let target: HashSet<i64> = now_in.iter().copied().collect();
    let mut entered: Vec<i64> = now_in
        .iter()
        .copied()
        .filter(|a| !current.contains(a))
        .collect();
    // Accounts deleted while the rules were evaluated do not enter.
    let mut existing = HashSet::with_capacity(entered.len());
    for chunk in entered.chunks(500) {
        existing.extend(
            account::Entity::find()
                .filter(account::Column::Id.is_in(chunk.iter().copied()))
                .select_only()
                .column(account::Column::Id)
                .into_tuple::<i64>()
                .all(txn)
                .await?,
        );
    }
    entered.retain(|a| existing.contains(a));
    let mut left: Vec<i64> = current.difference(&target).copied().collect();
    entered.sort_unstable();
    left.sort_unstable();

    for chunk in entered.chunks(500) {
        segment_membership::Entity::insert_many(chunk.iter().map(|&a| {
            segment_membership::ActiveModel {
                segment_id: Set(s.id),
                account_id: Set(a),
                entered_at: Set(now),
                left_at: Set(None),
                ..Default::default()
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    for chunk in left.chunks(500) {
        segment_membership::Entity::update_many()
            .col_expr(segment_membership::Column::LeftAt, Expr::value(now))
            .filter(segment_membership::Column::SegmentId.eq(s.id))
            .filter(segment_membership::Column::LeftAt.is_null())
            .filter(segment_membership::Column::AccountId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    let events = entered
        .iter()
        .map(|&a| (a, "entered"))
        .chain(left.iter().map(|&a| (a, "left")))
        .collect::<Vec<_>>();
    for chunk in events.chunks(500) {
        segment_event::Entity::insert_many(chunk.iter().map(|&(a, kind)| {
            segment_event::ActiveModel {
                segment_id: Set(s.id),
                account_id: Set(a),
                kind: Set(kind.into()),
                occurred_at: Set(now),
                ..Default::default()
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let members = open_count(txn, s.id).await?;
    let mut m: segment::ActiveModel = s.clone().into();
    m.member_count = Set(i32::try_from(members).unwrap_or(i32::MAX));
    m.computed_at = Set(Some(now));
    m.update(txn).await?;
    Ok(SegmentChange {
        key: s.key.clone(),
        members,
        entered: entered.len() as u64,
        left: left.len() as u64,
    })
}
