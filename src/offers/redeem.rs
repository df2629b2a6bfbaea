//! Redeeming a code: valid only if it exists, belongs to the account (or is transferable), is
//! not expired or void and is within its limits; one atomic step, so two redemptions at once
//! cannot both take the last use. Each redemption is a `redeemed` event (`offer.redeemed`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::Definition;
use super::codes::IssuedValue;
use crate::domain::kinds::OfferKind;
use crate::entities::{offer, offer_code};
use crate::error::ApiError;
use crate::events::EventKind;

/// Why a redemption failed.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// The code cannot be used; the text names the code and the reason.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Database(#[from] DbErr),
    /// A stored definition or value that does not read back (never the client's doing).
    #[error("{0}")]
    Internal(String),
}

impl From<RedeemError> for ApiError {
    fn from(e: RedeemError) -> Self {
        match e {
            RedeemError::Refused(detail) => ApiError::Conflict {
                code: "offer_code_refused",
                detail,
            },
            RedeemError::Database(e) => ApiError::from(e),
            RedeemError::Internal(m) => ApiError::internal(anyhow::anyhow!(m)),
        }
    }
}

/// Why a code was refused (the text names the code).
fn refused(code: &str, why: impl std::fmt::Display) -> RedeemError {
    RedeemError::Refused(format!(
        "offer code `{}` {why}",
        crate::domain::shorten(code, 40)
    ))
}

fn internal(e: impl std::fmt::Display) -> RedeemError {
    RedeemError::Internal(e.to_string())
}

/// Who redeems: the account (id and external id) and, for an order, the order.
#[derive(Debug, Clone, Copy)]
pub struct Redeemer<'a> {
    pub account_id: i64,
    pub account_external_id: &'a str,
    /// The order's external id and amount (minor units of `currency`), when known.
    pub order: Option<(&'a str, Option<(i64, &'a str)>)>,
}

/// What a redemption costs us, in minor units of the code's currency: the discount given (a
/// percent of the order's amount up to the cap, or the fixed amount) or the gift's cost;
/// `None` when it cannot be known (a percent discount without an order amount in the same
/// currency).
pub fn cost_minor(value: &IssuedValue, order: Option<(i64, &str)>) -> Option<i64> {
    let currency = crate::domain::Currency::parse(&value.currency).ok()?;
    let minor = |raw: &Option<String>| raw.as_deref().and_then(|r| currency.parse_amount(r).ok());
    match value.kind {
        OfferKind::Terms => Some(0),
        OfferKind::Gift => Some(minor(&value.gift_cost).unwrap_or(0)),
        OfferKind::Discount => {
            if let Some(a) = minor(&value.amount) {
                return Some(match order {
                    Some((amount, cur)) if cur == value.currency => {
                        Ord::min(a, Ord::max(amount, 0))
                    }
                    _ => a,
                });
            }
            let percent = value.percent?;
            let (amount, cur) = order?;
            if cur != value.currency {
                return None;
            }
            let given = (i128::from(Ord::max(amount, 0)) * (percent * 10_000.0).round() as i128
                / 1_000_000) as i64;
            Some(minor(&value.cap).map_or(given, |cap| Ord::min(given, cap)))
        }
    }
}

/// A redemption done.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redemption {
    pub code: String,
    /// The offer's key.
    pub offer: String,
    /// The external id of the account that redeemed it.
    pub account_id: String,
    pub order_id: Option<String>,
    /// `issued` (more uses left) or `redeemed`.
    pub state: String,
    pub redemptions: i32,
    pub value: IssuedValue,
    /// What it cost us (the discount given or the gift's cost), a decimal string in the
    /// value's currency; `null` for a percent discount without an order amount.
    pub cost: Option<String>,
    /// The `redeemed` event.
    pub event_id: i64,
    #[serde(skip)]
    pub code_id: i64,
    #[serde(skip)]
    pub offer_id: i64,
    #[serde(skip)]
    pub campaign_id: Option<i64>,
    #[serde(skip)]
    pub message_id: Option<i64>,
}

/// Redeems `raw` for `account` (and `order_id`) in the caller's transaction.
pub async fn redeem(
    txn: &DatabaseTransaction,
    raw: &str,
    who: Redeemer<'_>,
    now: DateTime<Utc>,
) -> Result<Redemption, RedeemError> {
    let order_id = who.order.map(|o| o.0);
    let Some(code) = super::codes::normalize(raw) else {
        return Err(refused(
            raw,
            "is not a code of ours (its check character does not match: a typo?)",
        ));
    };
    let Some(c) = offer_code::Entity::find()
        .filter(offer_code::Column::Code.eq(code.as_str()))
        .one(txn)
        .await?
    else {
        return Err(refused(&code, "does not exist"));
    };
    let o = offer::Entity::find_by_id(c.offer_id)
        .one(txn)
        .await?
        .ok_or_else(|| refused(&code, "does not exist"))?;
    let d: Definition = serde_json::from_value(o.definition.clone()).map_err(internal)?;
    if c.state == "void" {
        return Err(refused(&code, "was withdrawn"));
    }
    if c.account_id != who.account_id && !d.transferable {
        return Err(refused(
            &code,
            format!(
                "belongs to another account and offer `{}` is not transferable",
                o.key
            ),
        ));
    }
    if c.expires_at < now {
        return Err(refused(
            &code,
            format!("expired on {}", c.expires_at.format("%Y-%m-%d %H:%M UTC")),
        ));
    }
    let max = i32::try_from(d.max_per_code).unwrap_or(i32::MAX);
    let used_up = || {
        refused(
            &code,
            format!("was already redeemed ({max} of {max} use(s))"),
        )
    };
    if c.state == "redeemed" || c.redemptions >= max {
        return Err(used_up());
    }
    // Redemptions of one account's codes of this offer wait for each other here (row locks on
    // PostgreSQL; SQLite writes one at a time anyway), so the per-account count below is
    // exact even when two of its codes are redeemed at once.
    offer_code::Entity::update_many()
        .col_expr(
            offer_code::Column::Redemptions,
            Expr::col(offer_code::Column::Redemptions),
        )
        .filter(offer_code::Column::OfferId.eq(o.id))
        .filter(offer_code::Column::AccountId.eq(who.account_id))
        .exec(txn)
        .await?;
    let by_account: i64 = offer_code::Entity::find()
        .select_only()
        .column_as(offer_code::Column::Redemptions.sum(), "n")
        .filter(offer_code::Column::OfferId.eq(o.id))
        .filter(offer_code::Column::AccountId.eq(who.account_id))
        .into_tuple::<Option<i64>>()
        .one(txn)
        .await?
        .flatten()
        .unwrap_or(0);
    if by_account >= i64::from(d.max_per_account) {
        return Err(refused(
            &code,
            format!(
                "cannot be used: the account has redeemed offer `{}` {} time(s), its limit",
                o.key, d.max_per_account
            ),
        ));
    }
    // One statement takes a use, only while one is left: of two redemptions at once, the
    // second finds none.
    let taken = offer_code::Entity::update_many()
        .col_expr(
            offer_code::Column::Redemptions,
            Expr::col(offer_code::Column::Redemptions).add(1),
        )
        .col_expr(
            offer_code::Column::State,
            Expr::case(
                Expr::col(offer_code::Column::Redemptions).add(1).gte(max),
                "redeemed",
            )
            .finally("issued")
            .into(),
        )
        .col_expr(offer_code::Column::RedeemedAt, Expr::value(now))
        .col_expr(
            offer_code::Column::OrderId,
            Expr::value(order_id.map(str::to_string)),
        )
        .filter(offer_code::Column::Id.eq(c.id))
        .filter(offer_code::Column::State.eq("issued"))
        .filter(offer_code::Column::Redemptions.lt(max))
        .exec(txn)
        .await?;
    if taken.rows_affected == 0 {
        return Err(used_up());
    }
    let after = offer_code::Entity::find_by_id(c.id)
        .one(txn)
        .await?
        .ok_or_else(|| refused(&code, "does not exist"))?;
    let value: IssuedValue = serde_json::from_value(after.value.clone()).map_err(internal)?;
    let cost = cost_minor(&value, who.order.and_then(|o| o.1));
    let mut e = crate::events::new(
        EventKind::Redeemed,
        now,
        serde_json::json!({
            "code": after.code,
            "offer": o.key,
            "order_id": order_id,
            "issued_to": c.account_id,
            "value": after.value,
            "currency": value.currency,
            "cost_minor": cost,
        }),
    );
    e.account_id = sea_orm::Set(Some(who.account_id));
    e.campaign_id = sea_orm::Set(c.campaign_id);
    e.step = sea_orm::Set(c.step.clone());
    e.message_id = sea_orm::Set(c.message_id);
    let event_id = crate::entities::event::Entity::insert(e)
        .exec(txn)
        .await?
        .last_insert_id;
    Ok(Redemption {
        cost: cost.map(|m| crate::accounts::model::format_money(&value.currency, m)),
        value,
        code_id: c.id,
        campaign_id: c.campaign_id,
        message_id: c.message_id,
        offer_id: o.id,
        code: after.code,
        offer: o.key,
        account_id: who.account_external_id.to_string(),
        order_id: order_id.map(str::to_string),
        state: after.state,
        redemptions: after.redemptions,
        event_id,
    })
}

/// Redeems outside an order (`POST /api/v1/offers/redeem`), in its own transaction.
pub async fn redeem_alone(
    db: &sea_orm::DatabaseConnection,
    raw: &str,
    account_external_id: &str,
    order_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Redemption, ApiError> {
    let txn = crate::db::begin_write(db).await?;
    let account = crate::accounts::service::find_account(&txn, account_external_id).await?;
    // An order named by id that is stored for this account gives the discount's base.
    let amount = match order_id {
        None => None,
        Some(id) => crate::entities::order::Entity::find()
            .filter(crate::entities::order::Column::ExternalId.eq(id))
            .filter(crate::entities::order::Column::AccountId.eq(account.id))
            .one(&txn)
            .await?
            .map(|o| (o.amount_minor, o.currency)),
    };
    let who = Redeemer {
        account_id: account.id,
        account_external_id: &account.external_id,
        order: order_id.map(|id| (id, amount.as_ref().map(|(a, c)| (*a, c.as_str())))),
    };
    let r = redeem(&txn, raw, who, now).await?;
    txn.commit().await?;
    Ok(r)
}
