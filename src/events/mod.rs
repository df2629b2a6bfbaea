//! Events: the append-only record of what happened to messages, stakeholders and accounts
//! (delivered, dead, bounced, and with tracking opened, clicked, replied, …), each linked to
//! the account, stakeholder, campaign, step and message it concerns. Writers add rows in their
//! own transactions; readers follow the stream oldest first with `after_id`.

pub mod routes;
pub mod timeline;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::delivery::DeliveryError;
use crate::entities::{account, campaign, event, message, stakeholder};

/// What happened. The wire and database name is the snake_case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The receiving server accepted the message (SMTP 2xx, HTTP 2xx, or the `.eml` written).
    Delivered,
    Opened,
    Clicked,
    Replied,
    MeetingBooked,
    CallLogged,
    Unsubscribed,
    /// Rejected by the recipient's server: `data.type` is `hard` or `soft`.
    Bounced,
    Complained,
    Redeemed,
    Ordered,
    TaskCreated,
    /// Failed for good at once (a permanent error that is not a bounce).
    Failed,
    /// Transient failures until the retry schedule ran out.
    Dead,
    /// A webhook endpoint was disabled (`data.endpoint`, `data.reason`).
    EndpointDisabled,
    /// The account's engagement score crossed `engagement.hot_threshold` (`data.score`).
    BecameHot,
    /// An analysis run found the account's P(alive) below `analytics.at_risk_p_alive`.
    AtRisk,
    /// An analysis run found the account lost under the churn policy (`data.reason`).
    BecameLost,
    /// A lost account ordered again.
    Recovered,
}

impl EventKind {
    pub const ALL: [EventKind; 19] = [
        EventKind::Delivered,
        EventKind::Opened,
        EventKind::Clicked,
        EventKind::Replied,
        EventKind::MeetingBooked,
        EventKind::CallLogged,
        EventKind::Unsubscribed,
        EventKind::Bounced,
        EventKind::Complained,
        EventKind::Redeemed,
        EventKind::Ordered,
        EventKind::TaskCreated,
        EventKind::Failed,
        EventKind::Dead,
        EventKind::EndpointDisabled,
        EventKind::BecameHot,
        EventKind::AtRisk,
        EventKind::BecameLost,
        EventKind::Recovered,
    ];

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Delivered => "delivered",
            EventKind::Opened => "opened",
            EventKind::Clicked => "clicked",
            EventKind::Replied => "replied",
            EventKind::MeetingBooked => "meeting_booked",
            EventKind::CallLogged => "call_logged",
            EventKind::Unsubscribed => "unsubscribed",
            EventKind::Bounced => "bounced",
            EventKind::Complained => "complained",
            EventKind::Redeemed => "redeemed",
            EventKind::Ordered => "ordered",
            EventKind::TaskCreated => "task_created",
            EventKind::Failed => "failed",
            EventKind::Dead => "dead",
            EventKind::EndpointDisabled => "endpoint_disabled",
            EventKind::BecameHot => "became_hot",
            EventKind::AtRisk => "at_risk",
            EventKind::BecameLost => "became_lost",
            EventKind::Recovered => "recovered",
        }
    }
}

/// Whether a message's delivery outcomes are events: emails, and webhook steps of campaigns
/// (not abm's own notifications to sales systems).
pub fn tracks(m: &message::Model) -> bool {
    m.channel == "email" || m.campaign_id.is_some()
}

/// Events are read by background passes once this old: a transaction that took an id earlier
/// but committed later is then visible, so no pass skips it.
pub const SETTLE: chrono::Duration = chrono::Duration::seconds(2);

/// A new event of `kind` at `at`, linked to nothing yet (set the links that apply).
pub fn new(kind: EventKind, at: DateTime<Utc>, data: serde_json::Value) -> event::ActiveModel {
    event::ActiveModel {
        kind: Set(kind.as_str().into()),
        occurred_at: Set(at),
        recorded_at: Set(at),
        account_id: Set(None),
        stakeholder_id: Set(None),
        campaign_id: Set(None),
        step: Set(None),
        message_id: Set(None),
        machine: Set(false),
        data: Set(data),
        ..Default::default()
    }
}

/// How far the background pass `name` has read the events (0 before its first pass).
pub async fn cursor(db: &impl ConnectionTrait, name: &str) -> Result<i64, DbErr> {
    Ok(
        crate::entities::cursor::Entity::find_by_id(name.to_string())
            .one(db)
            .await?
            .map_or(0, |c| c.position),
    )
}

/// Records that the pass `name` has read up to event `position`.
pub async fn save_cursor(
    db: &impl ConnectionTrait,
    name: &str,
    position: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use crate::entities::cursor;
    use sea_orm::sea_query::{Expr, OnConflict};
    cursor::Entity::insert(cursor::ActiveModel {
        name: Set(name.into()),
        position: Set(position),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(cursor::Column::Name)
            .value(cursor::Column::Position, Expr::val(position))
            .value(cursor::Column::UpdatedAt, Expr::val(now))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A new event about message `m`, linked to its account, stakeholder, campaign and step.
pub fn of_message(
    m: &message::Model,
    kind: EventKind,
    at: DateTime<Utc>,
    data: serde_json::Value,
) -> event::ActiveModel {
    event::ActiveModel {
        account_id: Set(Some(m.account_id)),
        stakeholder_id: Set(m.stakeholder_id),
        campaign_id: Set(m.campaign_id),
        step: Set(m.step.clone()),
        message_id: Set(Some(m.id)),
        ..new(kind, at, data)
    }
}

/// Writes `events` (in the caller's transaction), in statements of a bounded size.
pub async fn insert(
    db: &impl ConnectionTrait,
    events: Vec<event::ActiveModel>,
) -> Result<(), DbErr> {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(500).collect();
        event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// An event row for bulk writers that need no ActiveModel (the tracking sink writes tens of
/// thousands a second: building ActiveModels and their query cost as much as SQLite itself).
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub account_id: Option<i64>,
    pub stakeholder_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub step: Option<String>,
    pub message_id: Option<i64>,
    pub machine: bool,
    pub data: serde_json::Value,
}

/// Rows per statement of [`insert_rows`] (10 values each: well under either database's limit).
const ROWS_PER_INSERT: usize = 500;
/// The columns [`insert_rows`] writes, in [`Row`]'s order.
const ROW_COLUMNS: [&str; 10] = [
    "kind",
    "occurred_at",
    "recorded_at",
    "account_id",
    "stakeholder_id",
    "campaign_id",
    "step",
    "message_id",
    "machine",
    "data",
];

/// The multi-row `INSERT` of `rows` rows in the placeholder style of `backend`.
fn insert_sql(backend: sea_orm::DbBackend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO events ({}) VALUES ", ROW_COLUMNS.join(", "));
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..ROW_COLUMNS.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push_str(&crate::db::placeholder(backend, n));
        }
        sql.push(')');
    }
    sql
}

/// Writes `rows` (in the caller's transaction) with prepared multi-row statements: the same
/// rows [`insert`] would write, without building an ActiveModel and a query per row.
pub async fn insert_rows(db: &impl ConnectionTrait, rows: Vec<Row>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let full = insert_sql(backend, ROWS_PER_INSERT);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut values = Vec::with_capacity(ROWS_PER_INSERT * ROW_COLUMNS.len());
        let mut n = 0;
        for r in rows.by_ref().take(ROWS_PER_INSERT) {
            n += 1;
            values.extend([
                sea_orm::Value::from(r.kind.as_str()),
                r.occurred_at.into(),
                r.recorded_at.into(),
                r.account_id.into(),
                r.stakeholder_id.into(),
                r.campaign_id.into(),
                r.step.into(),
                r.message_id.into(),
                r.machine.into(),
                r.data.into(),
            ]);
        }
        let sql = if n == ROWS_PER_INSERT {
            full.clone()
        } else {
            insert_sql(backend, n)
        };
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
    }
    Ok(())
}

/// One event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    /// The account's external id.
    pub account_id: Option<String>,
    /// The stakeholder's external id.
    pub stakeholder_id: Option<String>,
    /// The campaign's key.
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// The message's `Message-ID` (as in `GET /api/v1/messages/{id}`).
    pub message_id: Option<String>,
    /// The outbox id of the message (`GET /api/v1/messages/{message}`).
    pub message: Option<i64>,
    /// Activity of a machine (link scanner, privacy proxy): kept out of scores.
    pub machine: bool,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Filters of the event list.
#[derive(Debug, Default)]
pub struct EventFilter {
    /// An account's external id (unknown: no events).
    pub account: Option<String>,
    pub kind: Option<EventKind>,
    /// A campaign's key (unknown: 404).
    pub campaign: Option<String>,
    /// Only events after this id.
    pub after_id: Option<i64>,
}

/// The fields the list sorts by.
pub const EVENT_SORTS: &[&str] = &["id"];
/// Oldest first, to follow the stream with `after_id`.
pub const EVENT_DEFAULT_SORT: &str = "id";

/// One page of events matching `filter`.
pub async fn list(
    ctx: &AppContext,
    filter: &EventFilter,
    page: &Page,
) -> Result<Paged<EventView>, DeliveryError> {
    let mut q = event::Entity::find();
    if let Some(key) = &filter.campaign {
        let id: i64 = campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .filter(campaign::Column::Key.eq(key.as_str()))
            .into_tuple()
            .one(&ctx.db)
            .await?
            .ok_or_else(|| DeliveryError::CampaignNotFound(key.clone()))?;
        q = q.filter(event::Column::CampaignId.eq(id));
    }
    if let Some(ext) = &filter.account {
        let id: Option<i64> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::ExternalId.eq(ext.as_str()))
            .into_tuple()
            .one(&ctx.db)
            .await?;
        q = q.filter(event::Column::AccountId.eq(id.unwrap_or(-1)));
    }
    if let Some(k) = filter.kind {
        q = q.filter(event::Column::Kind.eq(k.as_str()));
    }
    if let Some(after) = filter.after_id {
        q = q.filter(event::Column::Id.gt(after));
    }
    let (rows, total) = fetch_page(&ctx.db, q, page, event::Column::Id, event::Column::Id).await?;
    let names = Names::of(ctx, &rows).await?;
    Ok(Paged {
        items: rows.into_iter().filter_map(|e| names.view(e)).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// The view of one event.
pub async fn view_of(ctx: &AppContext, e: event::Model) -> Result<EventView, DeliveryError> {
    let names = Names::of(ctx, std::slice::from_ref(&e)).await?;
    names
        .view(e)
        .ok_or_else(|| DeliveryError::NoMatch("an event of an unknown kind".into()))
}

/// The outside names of the rows an event page links to.
#[derive(Default)]
pub(crate) struct Names {
    accounts: HashMap<i64, String>,
    stakeholders: HashMap<i64, String>,
    campaigns: HashMap<i64, String>,
    messages: HashMap<i64, String>,
}

impl Names {
    pub(crate) async fn of(ctx: &AppContext, rows: &[event::Model]) -> Result<Names, DbErr> {
        fn ids(rows: &[event::Model], f: impl Fn(&event::Model) -> Option<i64>) -> Vec<i64> {
            let mut v: Vec<i64> = rows.iter().filter_map(f).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        let mut names = Names::default();
        let accounts = ids(rows, |e| e.account_id);
        if !accounts.is_empty() {
            names.accounts = account::Entity::find()
                .select_only()
                .column(account::Column::Id)
                .column(account::Column::ExternalId)
                .filter(account::Column::Id.is_in(accounts))
                .into_tuple::<(i64, String)>()
                .all(&ctx.db)
                .await?
                .into_iter()
                .collect();
        }
        let stakeholders = ids(rows, |e| e.stakeholder_id);
        if !stakeholders.is_empty() {
            names.stakeholders = stakeholder::Entity::find()
                .select_only()
                .column(stakeholder::Column::Id)
                .column(stakeholder::Column::ExternalId)
                .filter(stakeholder::Column::Id.is_in(stakeholders))
                .into_tuple::<(i64, String)>()
                .all(&ctx.db)
                .await?
                .into_iter()
                .collect();
        }
        let campaigns = ids(rows, |e| e.campaign_id);
        if !campaigns.is_empty() {
            names.campaigns = campaign::Entity::find()
                .select_only()
                .column(campaign::Column::Id)
                .column(campaign::Column::Key)
                .filter(campaign::Column::Id.is_in(campaigns))
                .into_tuple::<(i64, String)>()
                .all(&ctx.db)
                .await?
                .into_iter()
                .collect();
        }
        let messages = ids(rows, |e| e.message_id);
        if !messages.is_empty() {
            names.messages = message::Entity::find()
                .select_only()
                .column(message::Column::Id)
                .column(message::Column::MessageId)
                .filter(message::Column::Id.is_in(messages))
                .into_tuple::<(i64, String)>()
                .all(&ctx.db)
                .await?
                .into_iter()
                .collect();
        }
        Ok(names)
    }

    /// The view of a row (`None` for a kind this version does not know).
    pub(crate) fn view(&self, e: event::Model) -> Option<EventView> {
        let name =
            |map: &HashMap<i64, String>, id: Option<i64>| id.and_then(|i| map.get(&i).cloned());
        Some(EventView {
            id: e.id,
            kind: EventKind::parse(&e.kind)?,
            occurred_at: e.occurred_at,
            account_id: name(&self.accounts, e.account_id),
            stakeholder_id: name(&self.stakeholders, e.stakeholder_id),
            campaign: name(&self.campaigns, e.campaign_id),
            step: e.step,
            message_id: name(&self.messages, e.message_id),
            message: e.message_id,
            machine: e.machine,
            data: e.data,
        })
    }
}
