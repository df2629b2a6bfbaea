//! The engagement score: the weighted sum of an account's (or a stakeholder's) responses,
//! each decaying by half every `engagement.half_life_days`: opens, clicks, replies, meetings,
//! calls and redemptions count for, unsubscribes and complaints against. Machine events never
//! count. The score is explained by the events that made it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::EngagementSettings;
use crate::entities::{event, stakeholder};

static CONFIGURED: std::sync::OnceLock<EngagementSettings> = std::sync::OnceLock::new();

/// Sets the process's weights (the first context built wins; they come from one file).
pub fn configure(w: &EngagementSettings) {
    let _ = CONFIGURED.set(w.clone());
}

/// The process's weights: `[engagement]`, or the defaults before any context exists.
pub fn current() -> EngagementSettings {
    CONFIGURED.get().cloned().unwrap_or_default()
}

/// The weight of an event kind (0 for kinds that do not count).
pub fn weight(w: &EngagementSettings, kind: &str) -> f64 {
    match kind {
        "opened" => w.opened,
        "clicked" => w.clicked,
        "replied" => w.replied,
        "meeting_booked" => w.meeting_booked,
        "call_logged" => w.call_logged,
        "redeemed" => w.redeemed,
        "unsubscribed" => w.unsubscribed,
        "complained" => w.complained,
        _ => 0.0,
    }
}

/// The kinds that count.
pub const COUNTED: &[&str] = &[
    "opened",
    "clicked",
    "replied",
    "meeting_booked",
    "call_logged",
    "redeemed",
    "unsubscribed",
    "complained",
];

/// What an event at `at` weighing `weight` counts for at `now`.
pub fn decayed(weight: f64, at: DateTime<Utc>, now: DateTime<Utc>, half_life_days: f64) -> f64 {
    let age_days = ((now - at).num_seconds().max(0) as f64) / 86_400.0;
    weight * 0.5f64.powf(age_days / half_life_days.max(0.001))
}

/// An account's figures for rules.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub score: f64,
    pub last_opened: Option<NaiveDate>,
    pub last_clicked: Option<NaiveDate>,
    pub last_replied: Option<NaiveDate>,
}

/// A counted event: only the columns a score needs.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct Counted {
    pub id: i64,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub account_id: Option<i64>,
    pub stakeholder_id: Option<i64>,
    pub message_id: Option<i64>,
}

/// The human events of the last `window_days` that count, of the accounts `ids`, up to event
/// `up_to` when given. Opens and clicks of one message count once each (the latest): a
/// recipient reloading a link, or a forwarded email opened again and again, is one response.
async fn counted_events(
    db: &impl ConnectionTrait,
    w: &EngagementSettings,
    accounts: Option<&[i64]>,
    now: DateTime<Utc>,
    up_to: Option<i64>,
) -> Result<Vec<Counted>, DbErr> {
    let mut rows: Vec<Counted> = Vec::new();
    let chunks: Vec<Option<&[i64]>> = match accounts {
        Some(ids) => ids.chunks(500).map(Some).collect(),
        None => vec![None],
    };
    for chunk in chunks {
        let mut q = event::Entity::find()
            .select_only()
            .columns([
                event::Column::Id,
                event::Column::Kind,
                event::Column::OccurredAt,
                event::Column::AccountId,
                event::Column::StakeholderId,
                event::Column::MessageId,
            ])
            .filter(event::Column::Machine.eq(false))
            .filter(event::Column::Kind.is_in(COUNTED.iter().copied()))
            .filter(event::Column::OccurredAt.gte(now - Duration::days(i64::from(w.window_days))))
            .filter(event::Column::OccurredAt.lte(now));
        match chunk {
            Some(ids) => q = q.filter(event::Column::AccountId.is_in(ids.iter().copied())),
            None => q = q.filter(event::Column::AccountId.is_not_null()),
        }
        if let Some(id) = up_to {
            q = q.filter(event::Column::Id.lte(id));
        }
        rows.extend(q.into_model::<Counted>().all(db).await?);
    }
    let mut latest: HashMap<(i64, String), usize> = HashMap::new();
    let mut out: Vec<Counted> = Vec::with_capacity(rows.len());
    for e in rows {
        let link_driven = matches!(e.kind.as_str(), "opened" | "clicked");
        match e.message_id.filter(|_| link_driven) {
            Some(m) => match latest.get(&(m, e.kind.clone())) {
                Some(&i) if out[i].occurred_at >= e.occurred_at => {}
                Some(&i) => out[i] = e,
                None => {
                    latest.insert((m, e.kind.clone()), out.len());
                    out.push(e);
                }
            },
            None => out.push(e),
        }
    }
    Ok(out)
}

/// Scores and last response dates of `accounts` at `now`.
pub async fn summaries(
    db: &impl ConnectionTrait,
    w: &EngagementSettings,
    accounts: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Summary>, DbErr> {
    summaries_up_to(db, w, accounts, now, None).await
}

/// [`summaries`] counting only events up to id `up_to`.
pub async fn summaries_up_to(
    db: &impl ConnectionTrait,
    w: &EngagementSettings,
    accounts: &[i64],
    now: DateTime<Utc>,
    up_to: Option<i64>,
) -> Result<HashMap<i64, Summary>, DbErr> {
    let mut out: HashMap<i64, Summary> = HashMap::new();
    for e in counted_events(db, w, Some(accounts), now, up_to).await? {
        let Some(a) = e.account_id else { continue };
        let s = out.entry(a).or_default();
        s.score += decayed(weight(w, &e.kind), e.occurred_at, now, w.half_life_days);
        let day = Some(e.occurred_at.date_naive());
        let last = match e.kind.as_str() {
            "opened" => &mut s.last_opened,
            "clicked" => &mut s.last_clicked,
            "replied" | "meeting_booked" => &mut s.last_replied,
            _ => continue,
        };
        if day > *last {
            *last = day;
        }
    }
    Ok(out)
}

/// The score of every account with counted events at `now` (the others score 0), read in
/// one pass: what an analysis run keeps in its snapshots.
pub async fn all_scores(
    db: &impl ConnectionTrait,
    w: &EngagementSettings,
    now: DateTime<Utc>,
) -> Result<HashMap<i64, f64>, DbErr> {
    let mut out: HashMap<i64, f64> = HashMap::new();
    for e in counted_events(db, w, None, now, None).await? {
        if let Some(a) = e.account_id {
            *out.entry(a).or_default() +=
                decayed(weight(w, &e.kind), e.occurred_at, now, w.half_life_days);
        }
    }
    Ok(out.into_iter().map(|(a, s)| (a, round(s))).collect())
}

/// One event's part in a score.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contribution {
    pub event_id: i64,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    /// The stakeholder's external id.
    pub stakeholder_id: Option<String>,
    pub weight: f64,
    /// What it counts for now, after decay.
    pub points: f64,
}

/// A stakeholder's score.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StakeholderScore {
    /// The stakeholder's external id.
    pub stakeholder_id: String,
    pub score: f64,
}

/// An account's engagement, explained.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Engagement {
    /// Weighted responses with exponential decay (`engagement.*` in the configuration).
    pub score: f64,
    pub half_life_days: f64,
    /// Per stakeholder, highest first.
    pub stakeholders: Vec<StakeholderScore>,
    /// The events that weigh most now, at most 10, largest part first.
    pub explained_by: Vec<Contribution>,
}

/// The engagement of account `account` at `now`.
pub async fn of_account(
    db: &impl ConnectionTrait,
    w: &EngagementSettings,
    account: i64,
    now: DateTime<Utc>,
) -> Result<Engagement, DbErr> {
    let events = counted_events(db, w, Some(&[account]), now, None).await?;
    let ids: Vec<i64> = {
        let mut v: Vec<i64> = events.iter().filter_map(|e| e.stakeholder_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let names: HashMap<i64, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        stakeholder::Entity::find()
            .select_only()
            .columns([stakeholder::Column::Id, stakeholder::Column::ExternalId])
            .filter(stakeholder::Column::Id.is_in(ids))
            .order_by_asc(stakeholder::Column::Id)
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let mut score = 0.0;
    let mut per: HashMap<String, f64> = HashMap::new();
    let mut parts: Vec<Contribution> = events
        .into_iter()
        .map(|e| {
            let weight = weight(w, &e.kind);
            let points = decayed(weight, e.occurred_at, now, w.half_life_days);
            score += points;
            let who = e.stakeholder_id.and_then(|s| names.get(&s).cloned());
            if let Some(who) = &who {
                *per.entry(who.clone()).or_default() += points;
            }
            Contribution {
                event_id: e.id,
                kind: e.kind,
                occurred_at: e.occurred_at,
                stakeholder_id: who,
                weight,
                points: round(points),
            }
        })
        .collect();
    parts.sort_by(|a, b| {
        b.points
            .abs()
            .total_cmp(&a.points.abs())
            .then(b.event_id.cmp(&a.event_id))
    });
    parts.truncate(10);
    let mut stakeholders: Vec<StakeholderScore> = per
        .into_iter()
        .map(|(stakeholder_id, s)| StakeholderScore {
            stakeholder_id,
            score: round(s),
        })
        .collect();
    stakeholders.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.stakeholder_id.cmp(&b.stakeholder_id))
    });
    Ok(Engagement {
        score: round(score),
        half_life_days: w.half_life_days,
        stakeholders,
        explained_by: parts,
    })
}

/// Two decimals, for people.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The cursor of the hot-account pass in `cursors`.
const HOT_CURSOR: &str = "engagement_hot";
/// Events read per round.
const HOT_ROUND: u64 = 1000;

/// Writes a `became_hot` event for each account whose score crossed
/// `engagement.hot_threshold` with the responses recorded since the last pass (read once they
/// have settled, like the sales webhooks). An account is hot again only after it cooled below
/// the threshold. Returns how many became hot.
pub async fn hot_pass(ctx: &crate::context::AppContext) -> Result<u64, DbErr> {
    let w = &ctx.settings.engagement;
    let now = ctx.clock.now();
    let settled = now - crate::events::SETTLE;
    let position = crate::events::cursor(&ctx.db, HOT_CURSOR).await?;
    let batch = event::Entity::find()
        .filter(event::Column::Id.gt(position))
        .filter(event::Column::RecordedAt.lte(settled))
        .order_by_asc(event::Column::Id)
        .limit(HOT_ROUND)
        .all(&ctx.db)
        .await?;
    let Some(last) = batch.last().map(|e| e.id) else {
        return Ok(0);
    };
    // Accounts with a counted response in this round: their score before it and after it.
    let mut accounts: Vec<i64> = batch
        .iter()
        .filter(|e| !e.machine && weight(w, &e.kind) > 0.0)
        .filter_map(|e| e.account_id)
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    let (before, after) = if accounts.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        (
            summaries_up_to(&ctx.db, w, &accounts, now, Some(position)).await?,
            summaries_up_to(&ctx.db, w, &accounts, now, Some(last)).await?,
        )
    };
    let mut hot = Vec::new();
    for account in accounts {
        let score = after.get(&account).map_or(0.0, |s| s.score);
        let was = before.get(&account).map_or(0.0, |s| s.score);
        if score >= w.hot_threshold && was < w.hot_threshold {
            hot.push(crate::entities::event::ActiveModel {
                account_id: sea_orm::Set(Some(account)),
                ..crate::events::new(
                    crate::events::EventKind::BecameHot,
                    now,
                    serde_json::json!({ "score": round(score), "threshold": w.hot_threshold }),
                )
            });
        }
    }
    let became = hot.len() as u64;
    let txn = crate::db::begin_write(&ctx.db).await?;
    crate::events::insert(&txn, hot).await?;
    crate::events::save_cursor(&txn, HOT_CURSOR, last, now).await?;
    txn.commit().await?;
    Ok(became)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_shipped_file() {
        let settings =
            crate::config::Settings::load_from_pairs(&crate::config::ConfigSource::default(), &[])
                .expect("defaults");
        assert_eq!(settings.engagement, EngagementSettings::default());
    }

    #[test]
    fn points_halve_every_half_life() {
        let now = Utc::now();
        assert!((decayed(8.0, now, now, 30.0) - 8.0).abs() < 1e-9);
        assert!((decayed(8.0, now - Duration::days(30), now, 30.0) - 4.0).abs() < 1e-9);
        assert!((decayed(8.0, now - Duration::days(60), now, 30.0) - 2.0).abs() < 1e-9);
        // A future time counts in full, not more.
        assert!((decayed(8.0, now + Duration::days(5), now, 30.0) - 8.0).abs() < 1e-9);
    }
}
