//! What an order write does for win-back, inside the order's own transaction: it redeems the
//! offer codes the orders carry (a refused code refuses the whole write), and a lost or
//! hand-added account that orders again is recovered at once: the recovery is recorded and
//! attributed (to the offer redeemed, else to the last win-back touch within
//! `winback.attribution_days`, else to nothing, with the reason), a `recovered` event is
//! written (`account.recovered` for sales webhooks), a hand mark is settled and the account
//! leaves its win-back enrolments.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use crate::campaigns::model::{Audience, EnrolmentStatus, MessageStatus, TaskStatus, Trigger};
use crate::config::WinbackSettings;
use crate::entities::{
    account_class_event, account_snapshot, campaign, enrolment, event, message, offer, offer_code,
    task, winback_mark, winback_recovery,
};
use crate::events::EventKind;
use crate::offers::redeem::{RedeemError, Redeemer, Redemption, redeem};

/// One order of the write, as win-back needs it.
#[derive(Debug, Clone)]
pub struct Ordered {
    /// Where it stands in the write (its index in a batch, its row in a file).
    pub index: usize,
    pub account_id: i64,
    pub order_id: String,
    pub ordered_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub currency: String,
    pub offer_code: Option<String>,
}

impl Ordered {
    /// The order `row`, standing at `index` of its write.
    pub fn of(index: usize, row: &crate::orders::model::OrderRow) -> Self {
        Ordered {
            index,
            account_id: row.account_id,
            order_id: row.external_id.clone(),
            ordered_at: row.ordered_at,
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            offer_code: row.offer_code.clone(),
        }
    }
}

/// A code an order carried that cannot be redeemed.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub index: usize,
    /// Names the code and the reason.
    pub detail: String,
}

/// Why the win-back part of an order write failed; the write must roll back.
#[derive(Debug, thiserror::Error)]
pub enum AfterOrdersError {
    #[error("an offer code was refused")]
    Refused(Vec<Refusal>),
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("{0}")]
    Internal(String),
}

/// What the write did for win-back.
#[derive(Debug, Default)]
pub struct AfterOrders {
    pub redemptions: usize,
    /// Accounts recovered by this write.
    pub recovered: Vec<i64>,
}

/// Redeems the write's new offer codes, then recovers the lost accounts that ordered again.
/// Call it in the transaction that stored `orders`, before commit.
pub async fn after_orders(
    txn: &DatabaseTransaction,
    settings: &WinbackSettings,
    orders: &[Ordered],
    now: DateTime<Utc>,
) -> Result<AfterOrders, AfterOrdersError> {
    let mut out = AfterOrders::default();
    let mut refusals = Vec::new();
    let mut redeemed: HashMap<i64, Redemption> = HashMap::new();
    // A code of another shape is a shop's own promotion code: stored, not redeemed.
    let mut with_code: Vec<&Ordered> = orders
        .iter()
        .filter(|o| {
            o.offer_code
                .as_deref()
                .is_some_and(crate::offers::codes::has_our_shape)
        })
        .collect();
    // One order of taking row locks for every writer (accounts ascending).
    with_code.sort_by_key(|o| (o.account_id, o.index));
    let external_ids: HashMap<i64, String> = if with_code.is_empty() {
        HashMap::new()
    } else {
        crate::campaigns::service::external_ids(txn, with_code.iter().map(|o| o.account_id)).await?
    };
    for o in with_code {
        let Some(code) = o.offer_code.as_deref() else {
            continue;
        };
        if already_redeemed_by(txn, code, &o.order_id).await? {
            continue;
        }
        let who = Redeemer {
            account_id: o.account_id,
            account_external_id: external_ids.get(&o.account_id).map_or("", String::as_str),
            order: Some((&o.order_id, Some((o.amount_minor, &o.currency)))),
        };
        match redeem(txn, code, who, now).await {
            Ok(r) => {
                out.redemptions += 1;
                redeemed.insert(o.account_id, r);
            }
            Err(RedeemError::Refused(detail)) => refusals.push(Refusal {
                index: o.index,
                detail,
            }),
            Err(RedeemError::Database(e)) => return Err(e.into()),
            Err(RedeemError::Internal(m)) => return Err(AfterOrdersError::Internal(m)),
        }
    }
    if !refusals.is_empty() {
        refusals.sort_by_key(|r| r.index);
        return Err(AfterOrdersError::Refused(refusals));
    }
    out.recovered = recover(txn, settings, orders, &redeemed, now).await?;
    Ok(out)
}

/// Whether order `order_id` already redeemed `raw` (the same order sent again redeems
/// nothing more).
async fn already_redeemed_by(
    db: &impl ConnectionTrait,
    raw: &str,
    order_id: &str,
) -> Result<bool, DbErr> {
    let Some(code) = crate::offers::codes::normalize(raw) else {
        return Ok(false);
    };
    Ok(offer_code::Entity::find()
        .filter(offer_code::Column::Code.eq(code))
        .filter(offer_code::Column::OrderId.eq(order_id))
        .one(db)
        .await?
        .is_some())
}

/// An account in win-back: since when, whether by hand, and the last order the loss knew.
struct Loss {
    since: DateTime<Utc>,
    by_hand: bool,
    last_order: Option<NaiveDate>,
}

impl Loss {
    /// Whether an order at `at` is new since the loss.
    fn ended_by(&self, at: DateTime<Utc>) -> bool {
        if self.by_hand {
            at.date_naive() >= self.since.date_naive()
        } else {
            self.last_order.is_none_or(|d| at.date_naive() > d)
        }
    }
}

/// The accounts of `ids` in win-back now: lost in the latest succeeded run, or added by hand.
async fn losses(db: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Loss>, DbErr> {
    let mut out = HashMap::new();
    if let Some(run) = crate::analytics::service::latest_succeeded(db, None).await? {
        let lost: Vec<account_snapshot::Model> = account_snapshot::Entity::find()
            .filter(account_snapshot::Column::RunId.eq(run.id))
            .filter(account_snapshot::Column::AccountId.is_in(ids.iter().copied()))
            .filter(account_snapshot::Column::Lost.eq(true))
            .all(db)
            .await?;
        if !lost.is_empty() {
            let since: HashMap<i64, DateTime<Utc>> = account_class_event::Entity::find()
                .filter(
                    account_class_event::Column::AccountId.is_in(lost.iter().map(|s| s.account_id)),
                )
                .filter(account_class_event::Column::Kind.eq("became_lost"))
                .order_by_asc(account_class_event::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .map(|e| (e.account_id, e.occurred_at))
                .collect();
            for s in lost {
                let loss = Loss {
                    since: since.get(&s.account_id).copied().unwrap_or(run.started_at),
                    by_hand: false,
                    last_order: s.last_order_at,
                };
                out.insert(s.account_id, loss);
            }
        }
    }
    for m in winback_mark::Entity::find()
        .filter(winback_mark::Column::AccountId.is_in(ids.iter().copied()))
        .filter(winback_mark::Column::Included.eq(true))
        .all(db)
        .await?
    {
        out.entry(m.account_id).or_insert(Loss {
            since: m.created_at,
            by_hand: true,
            last_order: None,
        });
    }
    Ok(out)
}

/// Campaigns that do win-back work: triggered by `became_lost`, or named by a route.
pub async fn winback_campaigns(
    db: &impl ConnectionTrait,
    settings: &WinbackSettings,
) -> Result<Vec<campaign::Model>, DbErr> {
    Ok(campaign::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|c| {
            settings.routes_to(&c.key)
                || matches!(
                    crate::campaigns::service::definition_of(c).audience,
                    Some(Audience::Trigger(Trigger::BecameLost))
                )
        })
        .collect())
}

/// What a recovery is attributed to.
struct Attribution {
    to: &'static str,
    offer_code_id: Option<i64>,
    offer_id: Option<i64>,
    campaign_id: Option<i64>,
    message_id: Option<i64>,
    reason: String,
}

async fn recover(
    txn: &DatabaseTransaction,
    settings: &WinbackSettings,
    orders: &[Ordered],
    redeemed: &HashMap<i64, Redemption>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, AfterOrdersError> {
    let mut ids: Vec<i64> = orders.iter().map(|o| o.account_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut recovered = Vec::new();
    let mut lost = HashMap::new();
    for chunk in ids.chunks(crate::db::max_bind_params(txn) / 2) {
        lost.extend(losses(txn, chunk).await?);
    }
    if lost.is_empty() {
        return Ok(recovered);
    }
    let campaigns = winback_campaigns(txn, settings).await?;
    let mut by_account: HashMap<i64, Vec<&Ordered>> = HashMap::new();
    for o in orders.iter().filter(|o| lost.contains_key(&o.account_id)) {
        by_account.entry(o.account_id).or_default().push(o);
    }
    for (account, loss) in &lost {
        // The earliest order of the write that is new since the loss recovers the account.
        let Some(first) = by_account
            .get(account)
            .into_iter()
            .flatten()
            .filter(|o| loss.ended_by(o.ordered_at))
            .min_by_key(|o| (o.ordered_at, o.index))
            .copied()
        else {
            continue;
        };
        let a = attribute(txn, settings, &campaigns, *account, loss, first, redeemed).await?;
        let inserted = winback_recovery::Entity::insert(winback_recovery::ActiveModel {
            account_id: Set(*account),
            lost_since: Set(loss.since),
            by_hand: Set(loss.by_hand),
            recovered_at: Set(now),
            order_id: Set(first.order_id.clone()),
            ordered_at: Set(first.ordered_at),
            amount_minor: Set(first.amount_minor),
            currency: Set(first.currency.clone()),
            attributed_to: Set(a.to.to_string()),
            offer_code_id: Set(a.offer_code_id),
            offer_id: Set(a.offer_id),
            campaign_id: Set(a.campaign_id),
            message_id: Set(a.message_id),
            reason: Set(a.reason.clone()),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                winback_recovery::Column::AccountId,
                winback_recovery::Column::LostSince,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        if inserted == 0 {
            continue;
        }
        let campaign_key = a
            .campaign_id
            .and_then(|id| campaigns.iter().find(|c| c.id == id))
            .map(|c| c.key.clone());
        let mut e = crate::events::new(
            EventKind::Recovered,
            now,
            serde_json::json!({
                "reason": format!("ordered again: order {}", first.order_id),
                "order_id": first.order_id,
                "lost_since": loss.since,
                "by_hand": loss.by_hand,
                "attributed_to": a.to,
                "attribution": a.reason,
                "campaign": campaign_key,
            }),
        );
        e.account_id = Set(Some(*account));
        e.campaign_id = Set(a.campaign_id);
        e.message_id = Set(a.message_id);
        event::Entity::insert(e).exec_without_returning(txn).await?;
        winback_mark::Entity::delete_many()
            .filter(winback_mark::Column::AccountId.eq(*account))
            .filter(winback_mark::Column::Included.eq(true))
            .exec(txn)
            .await?;
        let why = format!(
            "exit condition `ordered`: recovered, order {} arrived",
            first.order_id
        );
        leave_winback(txn, &campaigns, *account, &why, now).await?;
        recovered.push(*account);
    }
    Ok(recovered)
}

/// Ends the active enrolments of `account` in the win-back `campaigns`, with `reason`.
pub async fn leave_winback(
    txn: &impl ConnectionTrait,
    campaigns: &[campaign::Model],
    account: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut ended = 0;
    for c in campaigns {
        let ids: Vec<(i64, i64)> = enrolment::Entity::find()
            .filter(enrolment::Column::CampaignId.eq(c.id))
            .filter(enrolment::Column::AccountId.eq(account))
            .filter(enrolment::Column::Status.eq(EnrolmentStatus::Active.as_str()))
            .all(txn)
            .await?
            .into_iter()
            .map(|e| (e.id, e.account_id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        crate::campaigns::service::finish(txn, c.id, &ids, c.version, "-", "exited", reason, now)
            .await?;
        ended += ids.len() as u64;
    }
    Ok(ended)
}

/// The offer redeemed since the loss (in this write or before), else the last win-back touch
/// within `attribution_days` before the order, else nothing.
async fn attribute(
    db: &impl ConnectionTrait,
    settings: &WinbackSettings,
    campaigns: &[campaign::Model],
    account: i64,
    loss: &Loss,
    order: &Ordered,
    redeemed: &HashMap<i64, Redemption>,
) -> Result<Attribution, DbErr> {
    if let Some(r) = redeemed.get(&account) {
        return Ok(Attribution {
            to: "offer",
            offer_code_id: Some(r.code_id),
            offer_id: Some(r.offer_id),
            campaign_id: r.campaign_id,
            message_id: r.message_id,
            reason: format!(
                "redeemed offer `{}` (code {}) with order {}",
                r.offer, r.code, order.order_id
            ),
        });
    }
    if let Some(c) = offer_code::Entity::find()
        .filter(offer_code::Column::AccountId.eq(account))
        .filter(offer_code::Column::Redemptions.gt(0))
        .filter(offer_code::Column::RedeemedAt.gte(loss.since))
        .order_by_desc(offer_code::Column::RedeemedAt)
        .one(db)
        .await?
    {
        let key = offer::Entity::find_by_id(c.offer_id)
            .one(db)
            .await?
            .map(|o| o.key)
            .unwrap_or_default();
        return Ok(Attribution {
            to: "offer",
            offer_code_id: Some(c.id),
            offer_id: Some(c.offer_id),
            campaign_id: c.campaign_id,
            message_id: c.message_id,
            reason: format!(
                "redeemed offer `{key}` (code {}) on {} before order {}",
                c.code,
                c.redeemed_at.unwrap_or(loss.since).format("%Y-%m-%d"),
                order.order_id
            ),
        });
    }
    let days = i64::from(settings.attribution_days);
    let from = (order.ordered_at - Duration::days(days)).max(loss.since);
    // A date-only order stands at midnight: touches later that day still count.
    let until = order.ordered_at + Duration::days(1);
    let ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
    let key = |id: Option<i64>| {
        id.and_then(|id| campaigns.iter().find(|c| c.id == id))
            .map(|c| c.key.clone())
            .unwrap_or_default()
    };
    let sent = message::Entity::find()
        .filter(message::Column::AccountId.eq(account))
        .filter(message::Column::CampaignId.is_in(ids.clone()))
        .filter(message::Column::Status.eq(MessageStatus::Sent.as_str()))
        .filter(message::Column::SentAt.gte(from))
        .filter(message::Column::SentAt.lt(until))
        .order_by_desc(message::Column::SentAt)
        .one(db)
        .await?;
    let done = task::Entity::find()
        .filter(task::Column::AccountId.eq(account))
        .filter(task::Column::CampaignId.is_in(ids))
        .filter(task::Column::Status.eq(TaskStatus::Done.as_str()))
        .filter(task::Column::DoneAt.gte(from))
        .filter(task::Column::DoneAt.lt(until))
        .order_by_desc(task::Column::DoneAt)
        .one(db)
        .await?;
    let sent_at = sent.as_ref().and_then(|m| m.sent_at);
    let done_at = done.as_ref().and_then(|t| t.done_at);
    if let Some(t) = done.filter(|_| done_at > sent_at) {
        return Ok(Attribution {
            to: "touch",
            offer_code_id: None,
            offer_id: None,
            campaign_id: t.campaign_id,
            message_id: None,
            reason: format!(
                "last win-back touch: task `{}` of campaign `{}` done {}, within {days} days before order {}",
                crate::domain::shorten(&t.title, 80),
                key(t.campaign_id),
                done_at.unwrap_or(from).format("%Y-%m-%d"),
                order.order_id
            ),
        });
    }
    if let Some(m) = sent {
        return Ok(Attribution {
            to: "touch",
            offer_code_id: None,
            offer_id: None,
            campaign_id: m.campaign_id,
            message_id: Some(m.id),
            reason: format!(
                "last win-back touch: {} of campaign `{}` step `{}` sent {}, within {days} days before order {}",
                m.channel,
                key(m.campaign_id),
                m.step.as_deref().unwrap_or("-"),
                sent_at.unwrap_or(from).format("%Y-%m-%d"),
                order.order_id
            ),
        });
    }
    Ok(Attribution {
        to: "none",
        offer_code_id: None,
        offer_id: None,
        campaign_id: None,
        message_id: None,
        reason: format!(
            "no offer redeemed since the loss and no win-back touch in the {days} days before order {}",
            order.order_id
        ),
    })
}
