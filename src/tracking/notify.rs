//! Sales webhooks: events become signed notifications to the webhook endpoints subscribed to
//! their type (and whose rule matches the account), delivered through the outbox like every
//! other webhook message.

/// The event types an endpoint may subscribe to.
pub const SALES_TYPES: &[&str] = &[
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.replied",
    "message.bounced",
    "stakeholder.unsubscribed",
    "task.created",
    "account.hot",
    "account.at_risk",
    "account.lost",
    "account.recovered",
    "offer.redeemed",
];

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::context::AppContext;
use crate::delivery::outbox::{MessageValues, enqueue};
use crate::entities::{account, campaign, event, message, stakeholder, webhook_endpoint};
use crate::segments::rules::{ACCOUNT_SCOPES, Compiled, Rule};

/// The version of the payload below; a change that could break a receiver gets a new one.
pub const PAYLOAD_VERSION: u32 = 1;
/// The cursor of this pass in `cursors`.
const CURSOR: &str = "sales_webhooks";
/// Events read per round.
const ROUND: u64 = 500;

/// The sales event type of an event, if it has one (machine opens and clicks have none).
pub fn type_of(kind: &str, machine: bool) -> Option<&'static str> {
    Some(match kind {
        "delivered" => "message.delivered",
        "opened" if !machine => "message.opened",
        "clicked" if !machine => "message.clicked",
        "replied" => "message.replied",
        "bounced" => "message.bounced",
        "unsubscribed" => "stakeholder.unsubscribed",
        "task_created" => "task.created",
        "redeemed" => "offer.redeemed",
        "became_hot" => "account.hot",
        "at_risk" => "account.at_risk",
        "became_lost" => "account.lost",
        "recovered" => "account.recovered",
        _ => return None,
    })
}

/// What a sales webhook POSTs (Standard Webhooks: `type`, `timestamp`, `data`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesWebhook {
    /// One of the subscribable event types, e.g. `message.replied`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// The payload version (this document describes 1).
    pub version: u32,
    pub data: SalesWebhookData,
}

/// Everything a CRM needs to file the event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesWebhookData {
    /// The event's id in `GET /api/v1/events`.
    pub event_id: i64,
    /// The event kind (`replied`, `clicked`, …).
    pub kind: String,
    pub account: SalesAccount,
    pub stakeholder: Option<SalesStakeholder>,
    /// The campaign's key.
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// The message's `Message-ID`.
    pub message_id: Option<String>,
    /// The message's outbox id.
    pub message: Option<i64>,
    /// The event's details (the clicked `url`, a reply's `note`, a bounce's `type`, …).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesAccount {
    /// The account's external id.
    pub id: String,
    pub name: String,
    pub manager_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesStakeholder {
    /// The stakeholder's external id.
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
}

/// A subscribed endpoint, ready to match.
struct Subscriber {
    id: i64,
    types: Vec<String>,
    rule: Option<Compiled>,
    since: DateTime<Utc>,
}

/// Turns the events written since the last pass into notifications in the outbox, one per
/// subscribed endpoint (once: the idempotency key names event and endpoint). Returns how many
/// were queued. Safe to run on several instances at once.
pub async fn run(ctx: &AppContext) -> Result<u64, DbErr> {
    let now = ctx.clock.now();
    let subscribers: Vec<Subscriber> = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter_map(|e| {
            let types = crate::delivery::webhooks::event_types_of(&e);
            if types.is_empty() {
                return None;
            }
            let rule = match e.rule_text.as_deref() {
                Some(text) => match Rule::parse_text_for(text, ACCOUNT_SCOPES) {
                    Ok(r) => Some(Compiled::new(&r)),
                    // Checked when saved; a rule a newer field list refuses matches nothing.
                    Err(_) => Some(Compiled::new(&Rule::Any(Vec::new()))),
                },
                None => None,
            };
            Some(Subscriber {
                id: e.id,
                types,
                rule,
                since: e.created_at,
            })
        })
        .collect();
    let mut position = crate::events::cursor(&ctx.db, CURSOR).await?;
    if subscribers.is_empty() {
        // Nobody listens: skip what is settled, without reading it.
        let settled: Option<i64> = event::Entity::find()
            .select_only()
            .column_as(event::Column::Id.max(), "max")
            .filter(event::Column::Id.gt(position))
            .filter(event::Column::RecordedAt.lte(now - crate::events::SETTLE))
            .into_tuple::<Option<i64>>()
            .one(&ctx.db)
            .await?
            .flatten();
        if let Some(last) = settled {
            crate::events::save_cursor(&ctx.db, CURSOR, last, now).await?;
        }
        return Ok(0);
    }
    let mut queued = 0;
    loop {
        let events = event::Entity::find()
            .filter(event::Column::Id.gt(position))
            .filter(event::Column::RecordedAt.lte(now - crate::events::SETTLE))
            .order_by_asc(event::Column::Id)
            .limit(ROUND)
            .all(&ctx.db)
            .await?;
        let Some(last) = events.last().map(|e| e.id) else {
            break;
        };
        let rows = notifications(ctx, &subscribers, &events, now).await?;
        queued += enqueue(&ctx.db, &rows, now).await?;
        crate::events::save_cursor(&ctx.db, CURSOR, last, now).await?;
        position = last;
        if (events.len() as u64) < ROUND {
            break;
        }
    }
    Ok(queued)
}

/// The notifications of `events` for `subscribers`.
async fn notifications(
    ctx: &AppContext,
    subscribers: &[Subscriber],
    events: &[event::Model],
    now: DateTime<Utc>,
) -> Result<Vec<MessageValues>, DbErr> {
    let wanted: Vec<(&event::Model, &'static str)> = events
        .iter()
        .filter(|e| e.account_id.is_some())
        .filter_map(|e| Some((e, type_of(&e.kind, e.machine)?)))
        .filter(|(e, t)| {
            subscribers
                .iter()
                .any(|s| s.since <= e.recorded_at && s.types.iter().any(|x| x == t))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let ids = |f: &dyn Fn(&event::Model) -> Option<i64>| {
        let mut v: Vec<i64> = wanted.iter().filter_map(|(e, _)| f(e)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let account_ids = ids(&|e| e.account_id);
    let accounts: HashMap<i64, account::Model> = account::Entity::find()
        .filter(account::Column::Id.is_in(account_ids.clone()))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let stakeholders: HashMap<i64, stakeholder::Model> = stakeholder::Entity::find()
        .filter(stakeholder::Column::Id.is_in(ids(&|e| e.stakeholder_id)))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let campaigns: HashMap<i64, String> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Key])
        .filter(campaign::Column::Id.is_in(ids(&|e| e.campaign_id)))
        .into_tuple::<(i64, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let messages: HashMap<i64, String> = message::Entity::find()
        .select_only()
        .columns([message::Column::Id, message::Column::MessageId])
        .filter(message::Column::Id.is_in(ids(&|e| e.message_id)))
        .into_tuple::<(i64, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let facts: HashMap<i64, crate::segments::rules::Facts> =
        if subscribers.iter().any(|s| s.rule.is_some()) {
            crate::segments::facts::load(
                &ctx.db,
                now,
                crate::segments::facts::Span::Ids(&account_ids),
                crate::segments::facts::Needs::all(),
            )
            .await?
            .into_iter()
            .map(|f| (f.account_id, f.facts))
            .collect()
        } else {
            HashMap::new()
        };
    let mut out = Vec::new();
    for (e, kind) in wanted {
        let Some(a) = e.account_id.and_then(|id| accounts.get(&id)) else {
            continue;
        };
        let payload = SalesWebhook {
            kind: kind.to_string(),
            timestamp: e.occurred_at,
            version: PAYLOAD_VERSION,
            data: SalesWebhookData {
                event_id: e.id,
                kind: e.kind.clone(),
                account: SalesAccount {
                    id: a.external_id.clone(),
                    name: a.name.clone(),
                    manager_id: a.manager_id,
                },
                stakeholder: e
                    .stakeholder_id
                    .and_then(|id| stakeholders.get(&id))
                    .map(|s| SalesStakeholder {
                        id: s.external_id.clone(),
                        name: s.name.clone(),
                        email: s.email.clone(),
                        role: s.role.clone(),
                    }),
                campaign: e.campaign_id.and_then(|id| campaigns.get(&id).cloned()),
                step: e.step.clone(),
                message_id: e.message_id.and_then(|id| messages.get(&id).cloned()),
                message: e.message_id,
                details: e.data.clone(),
            },
        };
        let body = serde_json::to_string(&payload).unwrap_or_default();
        for s in subscribers {
            if s.since > e.recorded_at || !s.types.iter().any(|t| t == kind) {
                continue;
            }
            if let Some(rule) = &s.rule
                && !facts.get(&a.id).is_some_and(|f| rule.matches(f))
            {
                continue;
            }
            let webhook_id: [u8; 16] = rand::random();
            out.push(MessageValues {
                idempotency_key: format!("n{}:w{}", e.id, s.id),
                message_id: format!("msg_{}", hex::encode(webhook_id)),
                campaign_id: None,
                enrolment_id: None,
                step: None,
                account_id: a.id,
                stakeholder_id: e.stakeholder_id,
                task_id: None,
                channel: "webhook".into(),
                recipient: format!("endpoint:{}", s.id),
                template_id: None,
                subject: Some(kind.to_string()),
                parts: serde_json::json!({ "body.json": body }),
                reason: Some(format!("sales webhook {kind} for event {}", e.id)),
            });
        }
    }
    Ok(out)
}
