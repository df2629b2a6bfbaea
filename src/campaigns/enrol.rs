//! Enrolment: who enters an active campaign, and when. A segment or an account list enrols
//! its accounts (new members as they arrive); a `schedule` enrols the audience at each cron
//! moment in each account's own timezone; a trigger reads the event tables that analytics,
//! segments and orders already write, from a cursor kept with the campaign. The re-entry
//! policy decides about accounts enrolled before; a partial unique index keeps one active
//! enrolment per account and campaign, however many ticks race.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::model::{
    Audience, CampaignStatus, ClassKind, EnrolmentStatus, Plan, Reentry, Trigger, zone,
};
use super::service::{definition_of, status_of};
use crate::context::AppContext;
use crate::entities::{
    account, account_class_event, account_snapshot, campaign, enrolment, order, segment,
    segment_event, segment_membership,
};

/// The newest id of each event table: where a trigger campaign starts reading.
pub async fn cursors_now(db: &impl ConnectionTrait) -> Result<serde_json::Value, DbErr> {
    Ok(json!({
        "segment_events": max_id::<segment_event::Entity>(db, segment_event::Column::Id).await?,
        "class_events":
            max_id::<account_class_event::Entity>(db, account_class_event::Column::Id).await?,
        "orders": max_id::<order::Entity>(db, order::Column::Id).await?,
    }))
}

/// The largest `id` of a table (0 when it is empty).
async fn max_id<E: EntityTrait>(db: &impl ConnectionTrait, id: E::Column) -> Result<i64, DbErr> {
    let max: Option<i64> = E::find()
        .select_only()
        .expr(Expr::col(id).max())
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(max.unwrap_or(0))
}

fn cursor(c: &campaign::Model, name: &str) -> i64 {
    c.cursors
        .as_ref()
        .and_then(|v| v.get(name))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
}

/// Account ids by external id (trimmed), for the ids that exist.
pub async fn account_ids(
    db: &impl ConnectionTrait,
    external: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    let mut out = HashMap::with_capacity(external.len());
    let wanted: Vec<String> = external.iter().map(|e| e.trim().to_string()).collect();
    for chunk in wanted.chunks(900) {
        let rows: Vec<(i64, String)> = account::Entity::find()
            .select_only()
            .columns([account::Column::Id, account::Column::ExternalId])
            .filter(account::Column::ExternalId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|(id, e)| (e, id)));
    }
    Ok(out)
}

/// How many accounts one pass enrolled, per campaign key.
pub type Enrolled = BTreeMap<String, u64>;

/// Enrols the audiences of every active campaign at `now`.
pub async fn enrol_all(
    ctx: &AppContext,
    now: DateTime<Utc>,
    plans: &HashMap<i64, (campaign::Model, Plan)>,
) -> Result<Enrolled, DbErr> {
    let mut out = Enrolled::new();
    for (c, plan) in plans.values() {
        if status_of(c) != CampaignStatus::Active {
            continue;
        }
        let n = enrol_campaign(ctx, c, plan, now).await?;
        if n > 0 {
            out.insert(c.key.clone(), n);
        }
    }
    Ok(out)
}

/// Enrols what is due of one campaign's audience; returns how many entered.
pub async fn enrol_campaign(
    ctx: &AppContext,
    c: &campaign::Model,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let Some(first) = plan.first() else {
        return Ok(0);
    };
    let def = definition_of(c);
    let Some(audience) = def.audience else {
        return Ok(0);
    };
    let db = &ctx.db;
    // (account id, source) candidates.
    let mut candidates: Vec<(i64, String)> = Vec::new();
    let mut new_cursors: Option<serde_json::Value> = None;
    match &audience {
        Audience::Trigger(t) => {
            let (mut found, cursors) = triggered(db, c, t).await?;
            if matches!(t, Trigger::BecameLost) && ctx.settings.winback.routes_to(&c.key) {
                found = routed_here(db, &ctx.settings.winback, &c.key, found).await?;
            }
            candidates = found;
            new_cursors = cursors;
        }
        _ => match &plan.schedule {
            Some(expr) => {
                let since = c.schedule_checked_at.or(c.activated_at).unwrap_or(now);
                // Most ticks fall between a monthly schedule's moments in every timezone:
                // they skip reading the audience.
                if since < now && crate::jobs::schedule::may_fire_anywhere(expr, since, now) {
                    let members = audience_members(db, &audience).await?;
                    candidates = scheduled(db, &members, expr, since, now).await?;
                }
            }
            None => {
                // The whole audience once per version; then a segment's new members as they
                // enter it (an account list does not change within a version).
                let enrolled_version = c
                    .cursors
                    .as_ref()
                    .and_then(|v| v.get("audience_version"))
                    .and_then(serde_json::Value::as_i64);
                let mut cursors = c.cursors.clone().unwrap_or_else(|| json!({}));
                if enrolled_version == Some(i64::from(c.version)) {
                    if let Audience::Segment(key) = &audience {
                        let (found, last) =
                            segment_events(db, key, "entered", cursor(c, "segment_events")).await?;
                        candidates = found;
                        if let (Some(last), Some(obj)) = (last, cursors.as_object_mut()) {
                            obj.insert("segment_events".into(), json!(last));
                            new_cursors = Some(cursors);
                        }
                    }
                } else {
                    let last =
                        max_id::<segment_event::Entity>(db, segment_event::Column::Id).await?;
                    let source = match &audience {
                        Audience::Segment(k) => format!("segment {k}"),
                        _ => "account list".to_string(),
                    };
                    candidates = audience_members(db, &audience)
                        .await?
                        .into_iter()
                        .map(|id| (id, source.clone()))
                        .collect();
                    if let Some(obj) = cursors.as_object_mut() {
                        obj.insert("segment_events".into(), json!(last));
                        obj.insert("audience_version".into(), json!(c.version));
                    }
                    new_cursors = Some(cursors);
                }
            }
        },
    }
    let entered = if candidates.is_empty() {
        0
    } else {
        insert_enrolments(db, c.id, first, plan.reentry, &candidates, now).await?
    };
    // A racing tick may write the same cursor; enrolments stay single through the partial
    // unique index and the re-entry check. A campaign changed meanwhile keeps its own cursor.
    if let Some(cursors) = new_cursors {
        campaign::Entity::update_many()
            .col_expr(campaign::Column::Cursors, Expr::value(cursors))
            .filter(campaign::Column::Id.eq(c.id))
            .filter(campaign::Column::UpdatedAt.eq(c.updated_at))
            .exec(db)
            .await?;
    }
    if plan.schedule.is_some() && matches!(audience, Audience::Segment(_) | Audience::Accounts(_)) {
        let mut q = campaign::Entity::update_many()
            .col_expr(campaign::Column::ScheduleCheckedAt, Expr::value(now))
            .filter(campaign::Column::Id.eq(c.id));
        q = match c.schedule_checked_at {
            Some(t) => q.filter(campaign::Column::ScheduleCheckedAt.eq(t)),
            None => q.filter(campaign::Column::ScheduleCheckedAt.is_null()),
        };
        q.exec(db).await?;
    }
    Ok(entered)
}

/// The account ids a segment or account-list audience names now.
pub async fn audience_members(
    db: &impl ConnectionTrait,
    audience: &Audience,
) -> Result<Vec<i64>, DbErr> {
    match audience {
        Audience::Segment(key) => {
            let Some(seg) = segment::Entity::find()
                .filter(segment::Column::Key.eq(key.as_str()))
                .one(db)
                .await?
            else {
                return Ok(Vec::new());
            };
            segment_membership::Entity::find()
                .select_only()
                .column(segment_membership::Column::AccountId)
                .filter(segment_membership::Column::SegmentId.eq(seg.id))
                .filter(segment_membership::Column::LeftAt.is_null())
                .into_tuple()
                .all(db)
                .await
        }
        Audience::Accounts(list) => {
            let ids = account_ids(db, list).await?;
            let mut v: Vec<i64> = ids.into_values().collect();
            v.sort_unstable();
            v.dedup();
            Ok(v)
        }
        Audience::Trigger(_) => Ok(Vec::new()),
    }
}

/// Accounts whose local cron moment fell in `(since, now]`, with the moment as the source.
/// The moment is computed once per timezone.
async fn scheduled(
    db: &impl ConnectionTrait,
    members: &[i64],
    expr: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, DbErr> {
    let Ok(cron) = crate::jobs::schedule::parse(expr) else {
        return Ok(Vec::new());
    };
    let zones = account_texts(db, members, account::Column::Timezone).await?;
    let mut by_zone: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    let mut out = Vec::new();
    for id in members {
        let tz_name = zones.get(id).map(String::as_str).unwrap_or("UTC");
        // The newest moment in (since, now]: one enrolment however many were missed (after a
        // pause, say), found in two searches per timezone.
        let moment = *by_zone
            .entry(tz_name.to_string())
            .or_insert_with(|| crate::jobs::schedule::latest_in(&cron, zone(tz_name), since, now));
        if let Some(m) = moment {
            out.push((
                *id,
                format!(
                    "schedule {}",
                    super::timing::local_rfc3339(zone(tz_name), m)
                ),
            ));
        }
    }
    Ok(out)
}

/// One text column of accounts by id (`Timezone`, `ExternalId`, …), for the ids that exist.
pub(crate) async fn account_texts(
    db: &impl ConnectionTrait,
    ids: &[i64],
    column: account::Column,
) -> Result<HashMap<i64, String>, DbErr> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(900) {
        let rows: Vec<(i64, String)> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(column)
            .filter(account::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// The `candidates` that `[[winback.routes]]` send to campaign `key`, by their classes and
/// types in the latest succeeded run.
async fn routed_here(
    db: &impl ConnectionTrait,
    winback: &crate::config::WinbackSettings,
    key: &str,
    candidates: Vec<(i64, String)>,
) -> Result<Vec<(i64, String)>, DbErr> {
    let Some(run) = crate::analytics::service::latest_succeeded(db, None).await? else {
        return Ok(Vec::new());
    };
    let mut classes: HashMap<i64, (Option<String>, Option<String>, String)> = HashMap::new();
    let ids: Vec<i64> = candidates.iter().map(|(a, _)| *a).collect();
    for chunk in ids.chunks(crate::db::max_bind_params(db) / 2) {
        let rows: Vec<(i64, Option<String>, Option<String>, String)> =
            account_snapshot::Entity::find()
                .select_only()
                .columns([
                    account_snapshot::Column::AccountId,
                    account_snapshot::Column::Abc,
                    account_snapshot::Column::Xyz,
                    account_snapshot::Column::Types,
                ])
                .filter(account_snapshot::Column::RunId.eq(run.id))
                .filter(account_snapshot::Column::AccountId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(db)
                .await?;
        classes.extend(rows.into_iter().map(|(a, abc, xyz, t)| (a, (abc, xyz, t))));
    }
    Ok(candidates
        .into_iter()
        .filter_map(|(a, source)| {
            let (abc, xyz, types) = classes.get(&a)?;
            let types: Vec<&str> = types.split(',').filter(|t| !t.is_empty()).collect();
            (winback.route(abc.as_deref(), xyz.as_deref(), &types) == Some(key))
                .then(|| (a, format!("{source}, routed by [winback] to {key}")))
        })
        .collect())
}

/// Most events a trigger reads per pass (the cursor moves on; the rest come next tick).
const TRIGGER_BATCH: u64 = 50_000;

/// The accounts a trigger's new events name, and the cursors after them.
async fn triggered(
    db: &impl ConnectionTrait,
    c: &campaign::Model,
    t: &Trigger,
) -> Result<(Vec<(i64, String)>, Option<serde_json::Value>), DbErr> {
    let mut cursors = c.cursors.clone().unwrap_or_else(|| json!({}));
    let mut out = Vec::new();
    let (table, last) = match t {
        Trigger::EnteredSegment { segment: key } | Trigger::LeftSegment { segment: key } => {
            let kind = if matches!(t, Trigger::EnteredSegment { .. }) {
                "entered"
            } else {
                "left"
            };
            let (found, last) = segment_events(db, key, kind, cursor(c, "segment_events")).await?;
            out = found;
            ("segment_events", last)
        }
        Trigger::ClassChanged { .. } | Trigger::BecameLost => {
            let after = cursor(c, "class_events");
            let rows: Vec<(i64, i64, String, Option<String>)> = account_class_event::Entity::find()
                .select_only()
                .columns([
                    account_class_event::Column::Id,
                    account_class_event::Column::AccountId,
                    account_class_event::Column::Kind,
                    account_class_event::Column::ToValue,
                ])
                .filter(account_class_event::Column::Id.gt(after))
                .order_by_asc(account_class_event::Column::Id)
                .limit(TRIGGER_BATCH)
                .into_tuple()
                .all(db)
                .await?;
            for (id, account, kind, to_value) in &rows {
                let hit = match t {
                    // A manager's hand-add to win-back starts the same work.
                    Trigger::BecameLost => kind == "became_lost" || kind == "winback_added",
                    Trigger::ClassChanged { class, to } => {
                        let kind_ok = match class {
                            Some(ClassKind::Abc) => kind == "abc_changed",
                            Some(ClassKind::Xyz) => kind == "xyz_changed",
                            None => kind == "abc_changed" || kind == "xyz_changed",
                        };
                        kind_ok && to.as_ref().is_none_or(|to| to_value.as_ref() == Some(to))
                    }
                    _ => false,
                };
                if hit {
                    out.push((*account, format!("{kind} (event #{id})")));
                }
            }
            ("class_events", rows.last().map(|r| r.0))
        }
        Trigger::OrderPlaced => {
            let after = cursor(c, "orders");
            let rows: Vec<(i64, i64, String)> = order::Entity::find()
                .select_only()
                .columns([
                    order::Column::Id,
                    order::Column::AccountId,
                    order::Column::ExternalId,
                ])
                .filter(order::Column::Id.gt(after))
                .order_by_asc(order::Column::Id)
                .limit(TRIGGER_BATCH)
                .into_tuple()
                .all(db)
                .await?;
            for (_, account, ext) in &rows {
                out.push((*account, format!("order {ext} placed")));
            }
            ("orders", rows.last().map(|r| r.0))
        }
    };
    let Some(last) = last else {
        return Ok((out, None));
    };
    if let Some(obj) = cursors.as_object_mut() {
        obj.insert(table.into(), json!(last));
    }
    // One enrolment per account per pass: the first event names it.
    let mut seen = HashSet::new();
    out.retain(|(a, _)| seen.insert(*a));
    Ok((out, Some(cursors)))
}

/// Accounts with a `kind` (`entered` or `left`) event of segment `key` after event id
/// `after` (at most [`TRIGGER_BATCH`] events are read), and the last event id read.
async fn segment_events(
    db: &impl ConnectionTrait,
    key: &str,
    kind: &str,
    after: i64,
) -> Result<(Vec<(i64, String)>, Option<i64>), DbErr> {
    let seg: Option<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::Id)
        .filter(segment::Column::Key.eq(key))
        .into_tuple()
        .one(db)
        .await?;
    let rows: Vec<(i64, i64, i64, String)> = segment_event::Entity::find()
        .select_only()
        .columns([
            segment_event::Column::Id,
            segment_event::Column::AccountId,
            segment_event::Column::SegmentId,
            segment_event::Column::Kind,
        ])
        .filter(segment_event::Column::Id.gt(after))
        .order_by_asc(segment_event::Column::Id)
        .limit(TRIGGER_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let out = rows
        .iter()
        .filter(|(_, _, segment_id, k)| Some(*segment_id) == seg && k == kind)
        .map(|(id, account, _, _)| (*account, format!("{kind} segment {key} (event #{id})")))
        .collect();
    Ok((out, rows.last().map(|r| r.0)))
}

/// Inserts the enrolments the re-entry policy allows; returns how many entered.
async fn insert_enrolments(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    first: &str,
    reentry: Reentry,
    candidates: &[(i64, String)],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    // Earlier enrolments: (account, active?, finished_at).
    let earlier: Vec<(i64, String, Option<DateTime<Utc>>)> = enrolment::Entity::find()
        .select_only()
        .columns([
            enrolment::Column::AccountId,
            enrolment::Column::Status,
            enrolment::Column::FinishedAt,
        ])
        .filter(enrolment::Column::CampaignId.eq(campaign_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut blocked: HashSet<i64> = HashSet::with_capacity(earlier.len());
    for (account, status, finished) in earlier {
        let active = status == EnrolmentStatus::Active.as_str();
        let block = active
            || match reentry {
                Reentry::Never => true,
                Reentry::AfterExit => false,
                Reentry::AfterDays(n) => {
                    finished.is_none_or(|f| f > now - Duration::days(i64::from(n)))
                }
            };
        if block {
            blocked.insert(account);
        }
    }
    let allowed: Vec<&(i64, String)> = candidates
        .iter()
        .filter(|(a, _)| blocked.insert(*a))
        .collect();
    let per = (crate::db::max_bind_params(db) / 12).clamp(1, 2000);
    let mut entered = 0;
    // Rows are built a chunk at a time, so memory does not grow with the audience.
    for chunk in allowed.chunks(per) {
        let rows = chunk
            .iter()
            .map(|(account, source)| enrolment::ActiveModel {
                campaign_id: Set(campaign_id),
                account_id: Set(*account),
                status: Set(EnrolmentStatus::Active.as_str().into()),
                step: Set(Some(first.to_string())),
                due_at: Set(Some(now)),
                source: Set(source.chars().take(200).collect()),
                entered_at: Set(now),
                finished_at: Set(None),
                exit_reason: Set(None),
                claim: Set(None),
                lease_until: Set(None),
                ..Default::default()
            });
        entered += enrolment::Entity::insert_many(rows)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(entered)
}
