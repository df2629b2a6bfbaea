//! One order at a time: create (409 on a taken id), create or replace, delete.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::list::find_order;
use super::upsert::{count_existing, ensure_accounts_exist, resolve_accounts, upsert_rows};
use crate::config::WinbackSettings;
use crate::domain::validation::FieldErrors;
use crate::entities::order;
use crate::orders::error::OrdersError;
use crate::orders::model::{OrderInput, OrderRow, OrderView, RawOrder};
use crate::winback::recovery::{Ordered, after_orders};

/// Validates one order into a row (errors under the root path).
pub async fn prepare_one(db: &DatabaseConnection, o: &OrderInput) -> Result<OrderRow, OrdersError> {
    let mut fe = FieldErrors::default();
    if let Err(e) = crate::domain::ExternalId::parse(&o.external_id) {
        fe.push("external_id", e);
        return Err(OrdersError::Invalid(fe.errors));
    }
    let raw = RawOrder {
        external_id: Some(&o.external_id),
        account_id: &o.account_id,
        ordered_at: &o.ordered_at,
        amount: &o.amount.0,
        margin: o.margin.as_ref().map(|m| m.0.as_str()),
        currency: o.currency.as_deref(),
        offer_code: o.offer_code.as_deref(),
    };
    let Some(p) = raw.parse(0, &mut fe) else {
        return Err(OrdersError::Invalid(fe.errors));
    };
    let accounts = resolve_accounts(db, std::slice::from_ref(&p.account_external_id)).await?;
    let Some((id, currency)) = accounts.get(&p.account_external_id) else {
        return Err(OrdersError::field(
            "/account_id",
            format!("account `{}` does not exist", p.account_external_id),
        ));
    };
    let row = p.resolve(*id, currency, &mut fe);
    OrdersError::check(fe)?;
    row.ok_or(OrdersError::Internal(
        "order resolved without errors or row",
    ))
}

/// Records a new order (`POST /orders`) and returns it as stored.
pub async fn create_order(
    db: &DatabaseConnection,
    winback: &WinbackSettings,
    now: DateTime<Utc>,
    input: &OrderInput,
) -> Result<OrderView, OrdersError> {
    let row = prepare_one(db, input).await?;
    let external_id = row.external_id.clone();
    create_one(db, winback, row, now).await?;
    find_order(db, &external_id).await
}

/// Whether a PUT created the order or replaced a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Replaced,
}

/// Creates or replaces an order by its external id (`PUT /orders/{id}`) and returns it as
/// stored, with whether it existed before.
pub async fn put_order(
    db: &DatabaseConnection,
    winback: &WinbackSettings,
    now: DateTime<Utc>,
    input: &OrderInput,
) -> Result<(OrderView, Put), OrdersError> {
    let row = prepare_one(db, input).await?;
    let existed = count_existing(db, &[row.external_id.as_str()]).await? > 0;
    let external_id = row.external_id.clone();
    save_one(db, winback, row, now).await?;
    let view = find_order(db, &external_id).await?;
    Ok((view, if existed { Put::Replaced } else { Put::Created }))
}

/// Deletes an order; `NotFound` when there is none with this external id.
pub async fn delete_order(db: &DatabaseConnection, external_id: &str) -> Result<(), OrdersError> {
    let res = order::Entity::delete_many()
        .filter(order::Column::ExternalId.eq(external_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(OrdersError::NotFound(format!(
            "order `{external_id}` not found"
        )));
    }
    Ok(())
}

/// Stores one order (insert or replace) in its own transaction, with its win-back work
/// (redeeming its offer code, recovering a lost account).
pub async fn save_one(
    db: &DatabaseConnection,
    winback: &WinbackSettings,
    row: OrderRow,
    now: DateTime<Utc>,
) -> Result<(), OrdersError> {
    let txn = crate::db::begin_write(db).await?;
    let account_id = row.account_id;
    let ordered = [Ordered::of(0, &row)];
    upsert_rows(&txn, vec![row], now).await?;
    ensure_accounts_exist(&txn, &[account_id]).await?;
    after_orders(&txn, winback, &ordered, now)
        .await
        .map_err(|e| OrdersError::after_orders(e, ""))?;
    txn.commit().await?;
    Ok(())
}

/// Stores a new order; `Conflict` when one with the same external id exists (decided by the
/// database, so two concurrent creates cannot both succeed).
pub async fn create_one(
    db: &DatabaseConnection,
    winback: &WinbackSettings,
    row: OrderRow,
    now: DateTime<Utc>,
) -> Result<(), OrdersError> {
    use sea_orm::Set;
    let txn = crate::db::begin_write(db).await?;
    let ordered = [Ordered::of(0, &row)];
    let (account_id, external_id) = (row.account_id, row.external_id.clone());
    let inserted = order::Entity::insert(order::ActiveModel {
        external_id: Set(row.external_id),
        account_id: Set(row.account_id),
        ordered_at: Set(row.ordered_at),
        amount_minor: Set(row.amount_minor),
        margin_minor: Set(row.margin_minor),
        currency: Set(row.currency),
        offer_code: Set(row.offer_code),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(order::Column::ExternalId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 0 {
        return Err(OrdersError::Conflict {
            code: "already_exists",
            detail: format!("an order with external_id `{external_id}` already exists"),
        });
    }
    ensure_accounts_exist(&txn, &[account_id]).await?;
    after_orders(&txn, winback, &ordered, now)
        .await
        .map_err(|e| OrdersError::after_orders(e, ""))?;
    txn.commit().await?;
    Ok(())
}
