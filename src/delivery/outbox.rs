//! The outbox: queuing new messages, reading them as the API lists them (filtered by
//! campaign, status and account, with their delivery attempts), and requeuing one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::DeliveryError;
use crate::campaigns::model::MessageStatus;
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
pub use crate::db::pg::MessageValues;
use crate::entities::{account, campaign, delivery_attempt, message};

/// Queues `rows` (status `queued`, due `now`), skipping any whose `idempotency_key` is already
/// in the outbox; returns how many were queued. PostgreSQL takes them as column arrays in one
/// statement per chunk, SQLite as multi-row inserts.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    rows: &[MessageValues],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let queued = MessageStatus::Queued.as_str();
    if crate::db::is_postgres(db) {
        return crate::db::pg::insert_messages(db, rows, queued, now).await;
    }
    let mut inserted = 0;
    for range in crate::db::statement_sizes(rows.len(), 256) {
        let models = rows[range].iter().map(|r| message::ActiveModel {
            idempotency_key: Set(r.idempotency_key.clone()),
            message_id: Set(r.message_id.clone()),
            campaign_id: Set(r.campaign_id),
            enrolment_id: Set(r.enrolment_id),
            step: Set(r.step.clone()),
            account_id: Set(r.account_id),
            stakeholder_id: Set(r.stakeholder_id),
            task_id: Set(r.task_id),
            channel: Set(r.channel.clone()),
            recipient: Set(r.recipient.clone()),
            template_id: Set(r.template_id.clone()),
            subject: Set(r.subject.clone()),
            parts: Set(r.parts.clone()),
            status: Set(queued.into()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            last_error: Set(None),
            reason: Set(r.reason.clone()),
            claim: Set(None),
            lease_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            sent_at: Set(None),
            ..Default::default()
        });
        inserted += message::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(message::Column::IdempotencyKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(inserted)
}

/// Sort fields of the message list.
pub const MESSAGE_SORTS: &[&str] = &["id", "created_at", "status", "next_attempt_at"];
pub const MESSAGE_DEFAULT_SORT: &str = "id";

/// A message in the outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    /// RFC 5322 Message-ID (email) or webhook-id (webhook); the same on every attempt.
    pub message_id: String,
    /// The campaign's key.
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// The account's external id.
    pub account_id: String,
    pub stakeholder_id: Option<i64>,
    /// The manager task this email announces.
    pub task_id: Option<i64>,
    /// `email` or `webhook`.
    pub channel: String,
    /// Email address, or `endpoint:<id>` for a webhook.
    pub to: String,
    pub subject: Option<String>,
    pub template_id: Option<String>,
    pub status: MessageStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Why the message exists (campaign and step) or why it is in its status.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The latest delivery attempt (status code, latency, response snippet), if any.
    pub last_attempt: Option<AttemptView>,
}

/// A message with its rendered parts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    /// Part name → rendered text (`subject`, `html`, `text`; `body.json` for webhooks).
    #[schema(value_type = Object)]
    pub parts: serde_json::Value,
    /// Delivery attempts, oldest first.
    pub attempts_log: Vec<AttemptView>,
}

/// One delivery attempt of a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt (a requeued message counts again from 1).
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The message's status after it: `sent`, `deferred`, `failed`, `dead` or `suppressed`.
    pub outcome: String,
    /// The SMTP reply code or HTTP status (on success too), when there was one.
    pub code: Option<String>,
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// The instance that made it.
    pub instance: String,
    /// The start of the response body (webhooks).
    pub response: Option<String>,
}

impl From<delivery_attempt::Model> for AttemptView {
    fn from(a: delivery_attempt::Model) -> Self {
        AttemptView {
            attempt: a.attempt,
            at: a.at,
            outcome: a.outcome,
            code: a.code,
            error: a.error,
            latency_ms: a.latency_ms,
            instance: a.instance,
            response: a.response,
        }
    }
}

/// What the message list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub campaign: Option<String>,
    pub status: Option<MessageStatus>,
    /// An account's external id.
    pub account: Option<String>,
    /// A webhook endpoint's id: its delivery log.
    pub endpoint: Option<i64>,
}

async fn names(
    ctx: &AppContext,
    rows: &[message::Model],
) -> Result<(HashMap<i64, String>, HashMap<i64, String>), DeliveryError> {
    let mut campaigns: Vec<i64> = rows.iter().filter_map(|m| m.campaign_id).collect();
    campaigns.sort_unstable();
    campaigns.dedup();
    let keys: HashMap<i64, String> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Key])
        .filter(campaign::Column::Id.is_in(campaigns))
        .into_tuple::<(i64, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let ext =
        crate::campaigns::service::external_ids(&ctx.db, rows.iter().map(|m| m.account_id)).await?;
    Ok((keys, ext))
}

fn view(m: message::Model, keys: &HashMap<i64, String>, ext: &HashMap<i64, String>) -> MessageView {
    MessageView {
        id: m.id,
        message_id: m.message_id,
        campaign: m.campaign_id.and_then(|c| keys.get(&c).cloned()),
        step: m.step,
        account_id: ext.get(&m.account_id).cloned().unwrap_or_default(),
        stakeholder_id: m.stakeholder_id,
        task_id: m.task_id,
        channel: m.channel,
        to: m.recipient,
        subject: m.subject,
        template_id: m.template_id,
        status: MessageStatus::parse(&m.status).unwrap_or(MessageStatus::Failed),
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        reason: m.reason,
        created_at: m.created_at,
        sent_at: m.sent_at,
        last_attempt: None,
    }
}

/// Messages matching `filter`. An unknown campaign is an error; an unknown account lists
/// nothing.
pub async fn list(
    ctx: &AppContext,
    filter: &MessageFilter,
    page: &Page,
) -> Result<Paged<MessageView>, DeliveryError> {
    let mut q = message::Entity::find();
    if let Some(key) = &filter.campaign {
        let c = campaign::Entity::find()
            .filter(campaign::Column::Key.eq(key.as_str()))
            .one(&ctx.db)
            .await?
            .ok_or_else(|| DeliveryError::CampaignNotFound(key.clone()))?;
        q = q.filter(message::Column::CampaignId.eq(c.id));
    }
    if let Some(s) = filter.status {
        q = q.filter(message::Column::Status.eq(s.as_str()));
    }
    if let Some(ext) = &filter.account {
        let id: Option<i64> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::ExternalId.eq(ext.as_str()))
            .into_tuple()
            .one(&ctx.db)
            .await?;
        q = q.filter(message::Column::AccountId.eq(id.unwrap_or(-1)));
    }
    if let Some(id) = filter.endpoint {
        q = q.filter(message::Column::Recipient.eq(format!("endpoint:{id}")));
    }
    let col = match page.sort_field.as_str() {
        "created_at" => message::Column::CreatedAt,
        "status" => message::Column::Status,
        "next_attempt_at" => message::Column::NextAttemptAt,
        _ => message::Column::Id,
    };
    let (rows, total) = fetch_page(&ctx.db, q, page, col, message::Column::Id).await?;
    let (keys, ext) = names(ctx, &rows).await?;
    let mut last: HashMap<i64, AttemptView> = HashMap::new();
    let ids: Vec<i64> = rows
        .iter()
        .filter(|m| m.attempts > 0)
        .map(|m| m.id)
        .collect();
    for chunk in ids.chunks(500) {
        for a in delivery_attempt::Entity::find()
            .filter(delivery_attempt::Column::MessageId.is_in(chunk.iter().copied()))
            .order_by_asc(delivery_attempt::Column::Id)
            .all(&ctx.db)
            .await?
        {
            last.insert(a.message_id, a.into());
        }
    }
    Ok(Paged {
        items: rows
            .into_iter()
            .map(|m| {
                let id = m.id;
                let mut v = view(m, &keys, &ext);
                v.last_attempt = last.remove(&id);
                v
            })
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One message with its rendered parts.
pub async fn get(ctx: &AppContext, id: i64) -> Result<MessageDetail, DeliveryError> {
    let m = message::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(DeliveryError::MessageNotFound(id))?;
    let (keys, ext) = names(ctx, std::slice::from_ref(&m)).await?;
    let parts = m.parts.clone();
    let attempts_log = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::MessageId.eq(id))
        .order_by_asc(delivery_attempt::Column::Id)
        .limit(1000)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(AttemptView::from)
        .collect();
    Ok(MessageDetail {
        message: view(m, &keys, &ext),
        parts,
        attempts_log,
    })
}

/// Puts a `dead`, `failed` or `deferred` message back in the queue, due now, with its attempt
/// count reset (its attempt log stays). Any other status is a conflict: a sent message is
/// never sent twice by us, and a queued or sending one is already on its way.
pub async fn retry(ctx: &AppContext, id: i64) -> Result<MessageDetail, DeliveryError> {
    let m = find(ctx, id).await?;
    requeue(
        ctx,
        m,
        &[
            MessageStatus::Dead,
            MessageStatus::Failed,
            MessageStatus::Deferred,
        ],
        "only dead, failed or deferred messages can be retried (another retry may have just \
         requeued it)",
    )
    .await
}

/// Sends a delivered webhook message again, with the same webhook-id (`409` for an email or
/// a webhook message that is not `sent`).
pub async fn replay(ctx: &AppContext, id: i64) -> Result<MessageDetail, DeliveryError> {
    let m = find(ctx, id).await?;
    if m.channel != "webhook" {
        return Err(DeliveryError::NotRetryable(format!(
            "message {id} is an {}; only webhook messages are replayed (an email is never sent twice)",
            m.channel
        )));
    }
    requeue(
        ctx,
        m,
        &[MessageStatus::Sent],
        "only a sent webhook message is replayed",
    )
    .await
}

async fn find(ctx: &AppContext, id: i64) -> Result<message::Model, DeliveryError> {
    message::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(DeliveryError::MessageNotFound(id))
}

/// Queues `m` again, due now with its attempts counted from 0, if its status (checked on the
/// row, so of two requests at once one wins) is one of `from`; otherwise a conflict that says
/// what the status is now and `rule`.
async fn requeue(
    ctx: &AppContext,
    m: message::Model,
    from: &[MessageStatus],
    rule: &str,
) -> Result<MessageDetail, DeliveryError> {
    let id = m.id;
    let now = ctx.clock.now();
    let done = message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            Expr::value(MessageStatus::Queued.as_str()),
        )
        .col_expr(message::Column::Attempts, Expr::value(0))
        .col_expr(message::Column::NextAttemptAt, Expr::value(Some(now)))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.is_in(from.iter().map(|s| s.as_str())))
        .exec(&ctx.db)
        .await?;
    if done.rows_affected == 0 {
        // Possibly changed since it was read: say what it is now.
        let status = message::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .map_or(m.status, |now| now.status);
        return Err(DeliveryError::NotRetryable(format!(
            "message {id} is {status}; {rule}"
        )));
    }
    get(ctx, id).await
}
