//! Redeeming a code: valid only if it exists, belongs to the account (or is transferable), is
//! not expired or void and is within its limits; one atomic step, so two redemptions at once
//! cannot both take the last use. Each redemption is a `redeemed` event (`offer.redeemed`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::Definition;
use crate::entities::{account, offer, offer_code};
use crate::error::ApiError;
use crate::events::EventKind;

/// Why a code was refused, for the problem's `detail` (it names the code).
fn refused(code: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::Conflict {
        code: "offer_code_refused",
        detail: format!("offer code `{}` {why}", crate::domain::shorten(code, 40)),
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
    pub value: super::codes::IssuedValue,
    /// The `redeemed` event.
    pub event_id: i64,
}

/// Redeems `raw` for `account` (and `order_id`) in the caller's transaction.
pub async fn redeem(
    txn: &DatabaseTransaction,
    raw: &str,
    account: &account::Model,
    order_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Redemption, ApiError> {
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
    let d: Definition = serde_json::from_value(o.definition.clone()).map_err(ApiError::internal)?;
    if c.state == "void" {
        return Err(refused(&code, "was withdrawn"));
    }
    if c.account_id != account.id && !d.transferable {
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
    let by_account: i64 = offer_code::Entity::find()
        .select_only()
        .column_as(offer_code::Column::Redemptions.sum(), "n")
        .filter(offer_code::Column::OfferId.eq(o.id))
        .filter(offer_code::Column::AccountId.eq(account.id))
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
    let mut e = crate::events::new(
        EventKind::Redeemed,
        now,
        serde_json::json!({
            "code": after.code,
            "offer": o.key,
            "order_id": order_id,
            "issued_to": c.account_id,
            "value": after.value,
        }),
    );
    e.account_id = sea_orm::Set(Some(account.id));
    e.campaign_id = sea_orm::Set(c.campaign_id);
    e.step = sea_orm::Set(c.step.clone());
    e.message_id = sea_orm::Set(c.message_id);
    let event_id = crate::entities::event::Entity::insert(e)
        .exec(txn)
        .await?
        .last_insert_id;
    Ok(Redemption {
        value: serde_json::from_value(after.value.clone()).map_err(ApiError::internal)?,
        code: after.code,
        offer: o.key,
        account_id: account.external_id.clone(),
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
    let r = redeem(&txn, raw, &account, order_id, now).await?;
    txn.commit().await?;
    Ok(r)
}
