//! Win-back: the lost key accounts of the latest analysis run, ranked by value at risk, each
//! with why it is lost, since when, the complaints and lost tenders of its relationship history
//! and what has been tried since (campaigns, responses); and accounts a manager adds to
//! win-back or takes out of it by hand, with the reason.

pub mod defaults;
pub mod recovery;
pub mod report;
pub mod routes;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Query as SqlQuery;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::model::format_money;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{
    account, account_class_event, account_snapshot, campaign, enrolment, event, offer, offer_code,
    relationship_event, winback_mark, winback_recovery,
};
use crate::error::ApiError;
use crate::events::EventKind;

/// Complaints and lost tenders shown per account (the latest).
const HISTORY_SHOWN: usize = 3;
/// Campaigns and responses shown per account under `tried` (the latest).
const TRIED_SHOWN: usize = 10;
/// Longest reason of a mark, in characters.
pub const MAX_REASON: usize = 500;

/// A lost account (or one added by hand) as the win-back list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WinbackAccount {
    /// The account's external id.
    pub account_id: String,
    pub name: String,
    pub currency: String,
    /// Window revenue at risk (all of it when lost), a decimal string in `currency`; the list
    /// is sorted by it, largest first.
    pub value_at_risk: String,
    /// Why it is lost: the churn rule or model figures of the run (or the reason it was added
    /// by hand).
    pub lost_reason: String,
    /// When a run found it lost (the latest `became_lost`), or when it was added by hand;
    /// `null` when it was lost before abm's first run and for longer than
    /// `winback.max_age_days`.
    pub lost_since: Option<DateTime<Utc>>,
    pub manager_id: Option<i64>,
    pub abc: Option<String>,
    pub xyz: Option<String>,
    /// Account types of the run (`pillar`, `prospect`, `image_maker`, `expert`).
    pub types: Vec<String>,
    pub p_alive: Option<f64>,
    pub last_order_at: Option<NaiveDate>,
    /// The latest complaints of its relationship history, newest first.
    pub complaints: Vec<HistoryNote>,
    /// The latest tenders it gave to others, newest first.
    pub lost_tenders: Vec<HistoryNote>,
    /// What has been tried since it was lost.
    pub tried: Tried,
    /// The reason, when a manager added it to win-back by hand.
    pub added_by_hand: Option<String>,
}

/// One entry of the relationship history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryNote {
    pub occurred_on: NaiveDate,
    pub reason: Option<String>,
    pub notes: Option<String>,
    /// Its value (a tender's volume), a decimal string in the account's currency.
    pub value: Option<String>,
}

/// Campaigns and responses since the account was lost, newest first.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Tried {
    pub campaigns: Vec<TriedCampaign>,
    /// Offer codes issued to it since it was lost.
    pub offers: Vec<TriedOffer>,
    pub responses: Vec<TriedResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriedOffer {
    /// The offer's key.
    pub offer: String,
    pub code: String,
    /// `issued`, `redeemed`, `expired` or `void`.
    pub state: String,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriedCampaign {
    /// The campaign's key.
    pub campaign: String,
    /// The enrolment's status (`active`, `completed`, `exited`, …).
    pub status: String,
    pub entered_at: DateTime<Utc>,
    pub exit_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriedResponse {
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    /// The campaign it answered, if any.
    pub campaign: Option<String>,
}

/// Which accounts the list shows.
#[derive(Debug, Clone)]
pub struct WinbackFilter {
    /// The currency market (accounts keep their own currency; values are not converted).
    pub currency: String,
    pub manager_id: Option<i64>,
}

/// The win-back list of the latest succeeded run: lost accounts that were not taken out by
/// hand, and accounts added by hand, sorted by value at risk (largest first).
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &WinbackFilter,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Paged<WinbackAccount>, ApiError> {
    let run = crate::analytics::queries::succeeded_run(db, None).await?;
    let marked = |included: bool| {
        SqlQuery::select()
            .column(winback_mark::Column::AccountId)
            .from(winback_mark::Entity)
            .and_where(winback_mark::Column::Included.eq(included))
            .to_owned()
    };
    let mut query = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::RunId.eq(run.id))
        .filter(account_snapshot::Column::Currency.eq(filter.currency.as_str()))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(account_snapshot::Column::Lost.eq(true))
                        .add(account_snapshot::Column::AccountId.not_in_subquery(marked(false))),
                )
                .add(account_snapshot::Column::AccountId.in_subquery(marked(true))),
        )
        // Recovered when an order arrived after the run: no longer lost (unless a manager
        // added it again since: a recovery settles the hand mark).
        .filter(
            Condition::any()
                .add(
                    account_snapshot::Column::AccountId.not_in_subquery(
                        SqlQuery::select()
                            .column(winback_recovery::Column::AccountId)
                            .from(winback_recovery::Entity)
                            .and_where(winback_recovery::Column::RecoveredAt.gte(run.started_at))
                            .to_owned(),
                    ),
                )
                .add(account_snapshot::Column::AccountId.in_subquery(marked(true))),
        );
    if let Some(m) = filter.manager_id {
        query = query.filter(
            account_snapshot::Column::AccountId.in_subquery(
                SqlQuery::select()
                    .column(account::Column::Id)
                    .from(account::Entity)
                    .and_where(account::Column::ManagerId.eq(m))
                    .to_owned(),
            ),
        );
    }
    let (snapshots, total) = fetch_page(
        db,
        query,
        page,
        account_snapshot::Column::ValueAtRisk,
        account_snapshot::Column::AccountId,
    )
    .await?;
    let ids: Vec<i64> = snapshots.iter().map(|s| s.account_id).collect();
    let accounts: HashMap<i64, account::Model> = account::Entity::find()
        .filter(account::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let marks: HashMap<i64, winback_mark::Model> = winback_mark::Entity::find()
        .filter(winback_mark::Column::AccountId.is_in(ids.clone()))
        .filter(winback_mark::Column::Included.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.account_id, m))
        .collect();
    // The latest `became_lost` of each account (ascending ids: the last one wins).
    let lost_at: HashMap<i64, DateTime<Utc>> = account_class_event::Entity::find()
        .filter(account_class_event::Column::AccountId.is_in(ids.clone()))
        .filter(account_class_event::Column::Kind.eq("became_lost"))
        .order_by_asc(account_class_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.account_id, e.occurred_at))
        .collect();
    // Complaints and tenders of the page's accounts, newest first: one query for the page.
    let mut notes: HashMap<(i64, bool), Vec<relationship_event::Model>> = HashMap::new();
    for e in relationship_event::Entity::find()
        .filter(relationship_event::Column::AccountId.is_in(ids.clone()))
        .filter(
            Condition::any()
                .add(relationship_event::Column::Kind.eq("complaint"))
                .add(
                    Condition::all()
                        .add(relationship_event::Column::Kind.eq("tender"))
                        .add(relationship_event::Column::Outcome.eq("lost")),
                ),
        )
        .order_by_desc(relationship_event::Column::OccurredOn)
        .order_by_desc(relationship_event::Column::Id)
        .all(db)
        .await?
    {
        let list = notes
            .entry((e.account_id, e.kind == "complaint"))
            .or_default();
        if list.len() < HISTORY_SHOWN {
            list.push(e);
        }
    }
    let mut items = Vec::with_capacity(snapshots.len());
    for s in snapshots {
        let Some(a) = accounts.get(&s.account_id) else {
            continue;
        };
        let mark = marks.get(&a.id);
        let lost_since = if s.lost {
            lost_at.get(&a.id).copied()
        } else {
            mark.map(|m| m.created_at)
        };
        let lost_reason = match (s.lost, mark) {
            (true, _) | (false, None) => s.lost_reason.clone(),
            (false, Some(m)) => format!("added by hand: {}", m.reason),
        };
        items.push(WinbackAccount {
            account_id: a.external_id.clone(),
            name: a.name.clone(),
            value_at_risk: format_money(&s.currency, s.value_at_risk),
            lost_reason,
            lost_since,
            manager_id: a.manager_id,
            abc: s.abc.clone(),
            xyz: s.xyz.clone(),
            types: s
                .types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            p_alive: s.p_alive,
            last_order_at: s.last_order_at,
            complaints: history(&mut notes, a, true),
            lost_tenders: history(&mut notes, a, false),
            tried: tried(db, a.id, lost_since, now).await?,
            added_by_hand: mark.map(|m| m.reason.clone()),
            currency: s.currency,
        });
    }
    Ok(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// The account's complaints (or lost tenders) taken from `notes`.
fn history(
    notes: &mut HashMap<(i64, bool), Vec<relationship_event::Model>>,
    a: &account::Model,
    complaints: bool,
) -> Vec<HistoryNote> {
    notes
        .remove(&(a.id, complaints))
        .unwrap_or_default()
        .into_iter()
        .map(|e| HistoryNote {
            occurred_on: e.occurred_on,
            reason: e.reason,
            notes: e.notes,
            value: e.value_minor.map(|v| format_money(&a.currency, v)),
        })
        .collect()
}

/// Campaign enrolments and responses of account `id` since `since` (all when unknown).
async fn tried(
    db: &impl ConnectionTrait,
    id: i64,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Tried, ApiError> {
    use sea_orm::QuerySelect;
    let mut enrolments = enrolment::Entity::find().filter(enrolment::Column::AccountId.eq(id));
    let mut responses = event::Entity::find()
        .filter(event::Column::AccountId.eq(id))
        .filter(event::Column::Machine.eq(false))
        .filter(
            event::Column::Kind.is_in(
                [
                    EventKind::Replied,
                    EventKind::MeetingBooked,
                    EventKind::CallLogged,
                    EventKind::Clicked,
                    EventKind::Redeemed,
                ]
                .map(EventKind::as_str),
            ),
        );
    if let Some(s) = since {
        enrolments = enrolments.filter(enrolment::Column::EnteredAt.gte(s));
        responses = responses.filter(event::Column::OccurredAt.gte(s));
    }
    let enrolments = enrolments
        .order_by_desc(enrolment::Column::Id)
        .limit(TRIED_SHOWN as u64)
        .all(db)
        .await?;
    let responses = responses
        .order_by_desc(event::Column::Id)
        .limit(TRIED_SHOWN as u64)
        .all(db)
        .await?;
    let mut codes = offer_code::Entity::find().filter(offer_code::Column::AccountId.eq(id));
    if let Some(s) = since {
        codes = codes.filter(offer_code::Column::IssuedAt.gte(s));
    }
    let codes = codes
        .order_by_desc(offer_code::Column::Id)
        .limit(TRIED_SHOWN as u64)
        .all(db)
        .await?;
    let offer_keys: HashMap<i64, String> = offer::Entity::find()
        .filter(offer::Column::Id.is_in(codes.iter().map(|c| c.offer_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.key))
        .collect();
    let mut campaign_ids: Vec<i64> = enrolments.iter().map(|e| e.campaign_id).collect();
    campaign_ids.extend(responses.iter().filter_map(|e| e.campaign_id));
    let keys: HashMap<i64, String> = campaign::Entity::find()
        .filter(campaign::Column::Id.is_in(campaign_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.key))
        .collect();
    Ok(Tried {
        campaigns: enrolments
            .into_iter()
            .map(|e| TriedCampaign {
                campaign: keys.get(&e.campaign_id).cloned().unwrap_or_default(),
                status: e.status,
                entered_at: e.entered_at,
                exit_reason: e.exit_reason,
            })
            .collect(),
        offers: codes
            .into_iter()
            .map(|c| TriedOffer {
                offer: offer_keys.get(&c.offer_id).cloned().unwrap_or_default(),
                state: crate::offers::codes::state(&c, now).to_string(),
                code: c.code,
                issued_at: c.issued_at,
            })
            .collect(),
        responses: responses
            .into_iter()
            .filter_map(|e| {
                Some(TriedResponse {
                    kind: EventKind::parse(&e.kind)?,
                    occurred_at: e.occurred_at,
                    campaign: e.campaign_id.and_then(|c| keys.get(&c).cloned()),
                })
            })
            .collect(),
    })
}

/// An account's win-back mark as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkView {
    /// The account's external id.
    pub account_id: String,
    /// `true`: added to win-back by hand; `false`: taken out of it.
    pub included: bool,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Checks a mark's reason: required, at most [`MAX_REASON`] characters, no control characters
/// but line breaks and tabs.
pub fn check_reason(field: &str, reason: &str) -> Result<String, ApiError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(ApiError::field(field, "give the reason"));
    }
    if r.chars().count() > MAX_REASON {
        return Err(ApiError::field(
            field,
            format!("must be at most {MAX_REASON} characters"),
        ));
    }
    crate::domain::multi_line(r).map_err(|e| ApiError::field(field, e))?;
    Ok(r.to_string())
}

/// Adds the account to win-back by hand (`included`) or takes it out, with the reason; a later
/// mark replaces the earlier one. Returns the mark and whether it is new.
pub async fn mark(
    db: &sea_orm::DatabaseConnection,
    settings: &crate::config::WinbackSettings,
    now: DateTime<Utc>,
    external_id: &str,
    included: bool,
    reason: String,
) -> Result<(MarkView, bool), ApiError> {
    let txn = crate::db::begin_write(db).await?;
    let a = crate::accounts::service::find_account(&txn, external_id).await?;
    let existing = winback_mark::Entity::find()
        .filter(winback_mark::Column::AccountId.eq(a.id))
        .one(&txn)
        .await?;
    let created = existing.is_none();
    // An upsert: two managers marking the same account at once both succeed (last one wins)
    // instead of one failing on the unique account.
    winback_mark::Entity::insert(winback_mark::ActiveModel {
        account_id: Set(a.id),
        included: Set(included),
        reason: Set(reason),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(winback_mark::Column::AccountId)
            .update_columns([
                winback_mark::Column::Included,
                winback_mark::Column::Reason,
                winback_mark::Column::CreatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let m = winback_mark::Entity::find()
        .filter(winback_mark::Column::AccountId.eq(a.id))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the mark just written is gone")))?;
    if included {
        // Win-back campaigns (triggered by `became_lost`) take hand-added accounts too: they
        // read this class event. Before the first analysis run there is no run to name; the
        // mark waits for it (a lost account then enters by its own `became_lost`).
        if let Some(run) = crate::analytics::service::latest_succeeded(&txn, None).await? {
            account_class_event::Entity::insert(account_class_event::ActiveModel {
                run_id: Set(run.id),
                account_id: Set(a.id),
                kind: Set("winback_added".into()),
                from_value: Set(None),
                to_value: Set(None),
                reason: Set(format!("added to win-back by hand: {}", m.reason)),
                occurred_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
        }
    } else {
        let campaigns = recovery::winback_campaigns(&txn, settings).await?;
        let why = format!("taken out of win-back by hand: {}", m.reason);
        recovery::leave_winback(&txn, &campaigns, a.id, &why, now).await?;
    }
    txn.commit().await?;
    Ok((
        MarkView {
            account_id: a.external_id,
            included: m.included,
            reason: m.reason,
            created_at: m.created_at,
        },
        created,
    ))
}
