//! Order storage. `upsert_rows` is the one write path for orders: API batches and file imports
//! both use it, in chunks sized to the backend's bind-parameter limit. An upsert only touches a
//! stored order when a value differs, so re-sending the same data changes nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect,
};

use super::error::OrdersError;
use super::model::*;
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::db::pg::OrderValues;
use crate::domain::validation::{FieldError, FieldErrors};
use crate::entities::{account, order};

const ORDER_COLUMNS: usize = 9;

/// Account id and currency by external id, for the given external ids that exist.
pub async fn resolve_accounts(
    db: &impl ConnectionTrait,
    external_ids: &[String],
) -> Result<HashMap<String, (i64, String)>, DbErr> {
    let mut out = HashMap::with_capacity(external_ids.len());
    for chunk in external_ids.chunks(crate::db::max_bind_params(db) / 2) {
        let rows: Vec<(i64, String, String)> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(account::Column::ExternalId)
            .column(account::Column::Currency)
            .filter(account::Column::ExternalId.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(db)
            .await?;
        for (id, ext, cur) in rows {
            out.insert(ext, (id, cur));
        }
    }
    Ok(out)
}

/// How many of these order external ids are already stored.
pub async fn count_existing(
    db: &impl ConnectionTrait,
    external_ids: &[&str],
) -> Result<u64, DbErr> {
    let mut n = 0;
    for chunk in external_ids.chunks(crate::db::max_bind_params(db) / 2) {
        n += order::Entity::find()
            .filter(order::Column::ExternalId.is_in(chunk.iter().copied()))
            .count(db)
            .await?;
    }
    Ok(n)
}

/// Inserts or updates orders by external id; returns how many rows were inserted or changed.
pub async fn upsert_rows(
    db: &impl ConnectionTrait,
    mut rows: Vec<OrderRow>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    // A fixed lock order: two overlapping batches never wait on each other in a cycle.
    rows.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    let affected = if crate::db::is_postgres(db) {
        crate::db::pg::upsert_orders(db, rows.into_iter().map(OrderValues::from), now).await?
    } else {
        let per_statement = (crate::db::max_bind_params(db) / ORDER_COLUMNS).min(5000);
        let mut affected = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<OrderRow> = rows.by_ref().take(per_statement).collect();
            affected += upsert_chunk(db, chunk, now).await?;
        }
        affected
    };
    Ok(affected)
}

/// Fails when an account referenced by freshly written orders no longer exists (deleted by a
/// concurrent request), so the caller's transaction rolls back instead of leaving orphans.
/// Call it after the writes and before commit, with every account id written: on SQLite the
/// transaction then holds the write lock; on PostgreSQL the rows are also locked
/// `FOR KEY SHARE` until commit, as a foreign key check would.
pub async fn ensure_accounts_exist(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(crate::db::max_bind_params(db) / 2) {
        let found = if crate::db::is_postgres(db) {
            crate::db::pg::lock_accounts(db, chunk).await?
        } else {
            account::Entity::find()
                .filter(account::Column::Id.is_in(chunk.iter().copied()))
                .count(db)
                .await?
        };
        if found != chunk.len() as u64 {
            return Err(DbErr::Custom(
                "an account was deleted while its orders were being written; nothing was saved"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The PostgreSQL upsert takes plain column values, so `db` needs nothing from this part.
impl From<OrderRow> for OrderValues {
    fn from(r: OrderRow) -> Self {
        OrderValues {
            external_id: r.external_id,
            account_id: r.account_id,
            ordered_at: r.ordered_at,
            amount_minor: r.amount_minor,
            margin_minor: r.margin_minor,
            currency: r.currency,
            offer_code: r.offer_code,
        }
    }
}

async fn upsert_chunk(
    db: &impl ConnectionTrait,
    rows: Vec<OrderRow>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use order::Column as C;
    let mut insert = Query::insert();
    insert.into_table(order::Entity).columns([
        C::ExternalId,
        C::AccountId,
        C::OrderedAt,
        C::AmountMinor,
        C::MarginMinor,
        C::Currency,
        C::OfferCode,
        C::CreatedAt,
        C::UpdatedAt,
    ]);
    for r in rows {
        insert
            .values([
                r.external_id.into(),
                r.account_id.into(),
                r.ordered_at.into(),
                r.amount_minor.into(),
                r.margin_minor.into(),
                r.currency.into(),
                r.offer_code.into(),
                now.into(),
                now.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    let excluded = |c: C| Expr::col((Alias::new("excluded"), c));
    let stored = |c: C| Expr::col((order::Entity, c));
    let differs = Expr::expr(stored(C::AccountId).ne(excluded(C::AccountId)))
        .or(stored(C::OrderedAt).ne(excluded(C::OrderedAt)))
        .or(stored(C::AmountMinor).ne(excluded(C::AmountMinor)))
        .or(stored(C::Currency).ne(excluded(C::Currency)))
        .or(Expr::expr(Func::coalesce([
            stored(C::MarginMinor),
            Expr::val(i64::MIN),
        ]))
        .ne(Func::coalesce([
            excluded(C::MarginMinor),
            Expr::val(i64::MIN),
        ])))
        .or(
            Expr::expr(Func::coalesce([stored(C::OfferCode), Expr::val("")]))
                .ne(Func::coalesce([excluded(C::OfferCode), Expr::val("")])),
        );
    insert.on_conflict(
        OnConflict::column(C::ExternalId)
            .update_columns([
                C::AccountId,
                C::OrderedAt,
                C::AmountMinor,
                C::MarginMinor,
                C::Currency,
                C::OfferCode,
                C::UpdatedAt,
            ])
            .action_and_where(differs)
            .to_owned(),
    );
    Ok(db.execute(&insert).await?.rows_affected())
}

/// Validates and stores a batch of orders, all or nothing.
pub async fn ingest_batch(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    inputs: &[OrderInput],
    max: usize,
) -> Result<BatchResult, OrdersError> {
    if inputs.len() > max {
        return Err(OrdersError::field(
            "/orders",
            format!("at most {max} orders per request (got {})", inputs.len()),
        ));
    }
    let mut errors: Vec<FieldError> = Vec::new();
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(inputs.len());
    for (i, o) in inputs.iter().enumerate() {
        let mut fe = FieldErrors::with_prefix(format!("/orders/{i}"));
        let raw = RawOrder {
            external_id: Some(&o.external_id),
            account_id: &o.account_id,
            ordered_at: &o.ordered_at,
            amount: &o.amount.0,
            margin: o.margin.as_ref().map(|m| m.0.as_str()),
            currency: o.currency.as_deref(),
            offer_code: o.offer_code.as_deref(),
        };
        let first = *seen.entry(o.external_id.trim()).or_insert(i);
        if first != i {
            fe.push(
                "external_id",
                format!("duplicates /orders/{first}/external_id in this batch"),
            );
        }
        if let Err(e) = crate::domain::ExternalId::parse(&o.external_id) {
            fe.push("external_id", e);
        }
        let p = raw.parse(0, &mut fe);
        errors.extend(fe.errors);
        parsed.push(p);
    }
    let wanted: Vec<String> = parsed
        .iter()
        .flatten()
        .map(|p| p.account_external_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let accounts = resolve_accounts(db, &wanted).await?;
    let mut rows = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.iter().enumerate() {
        let Some(p) = p else { continue };
        let mut fe = FieldErrors::with_prefix(format!("/orders/{i}"));
        match accounts.get(&p.account_external_id) {
            None => fe.push(
                "account_id",
                format!("account `{}` does not exist", p.account_external_id),
            ),
            Some((id, currency)) => {
                if let Some(row) = p.resolve(*id, currency, &mut fe) {
                    rows.push(row);
                }
            }
        }
        errors.extend(fe.errors);
    }
    if !errors.is_empty() {
        return Err(OrdersError::Invalid(errors));
    }
    let now = clock.now();
    let txn = crate::db::begin_write(db).await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
    let existing = count_existing(&txn, &ids).await?;
    drop(ids);
    let received = rows.len() as u64;
    let account_ids: Vec<i64> = rows.iter().map(|r| r.account_id).collect();
    let affected = upsert_rows(&txn, rows, now).await?;
    ensure_accounts_exist(&txn, &account_ids).await?;
    txn.commit().await?;
    let inserted = received - existing;
    let updated = affected.saturating_sub(inserted);
    Ok(BatchResult {
        received,
        inserted,
        updated,
        unchanged: existing - updated,
    })
}

/// Sort fields of the order list.
pub const ORDER_SORTS: &[&str] = &["ordered_at", "amount", "external_id", "id"];

pub async fn list_orders(
    db: &DatabaseConnection,
    page: &Page,
    f: &OrderFilter,
) -> Result<Paged<OrderView>, OrdersError> {
    let mut query = order::Entity::find();
    if let Some(ext) = &f.account_id {
        let acc = crate::accounts::service::find_account(db, ext.trim()).await?;
        query = query.filter(order::Column::AccountId.eq(acc.id));
    }
    if let Some(from) = &f.from {
        let t = crate::domain::parse_timestamp(from).map_err(|e| OrdersError::field("from", e))?;
        query = query.filter(order::Column::OrderedAt.gte(t));
    }
    if let Some(to) = &f.to {
        let t = crate::domain::parse_timestamp(to).map_err(|e| OrdersError::field("to", e))?;
        query = query.filter(order::Column::OrderedAt.lt(t));
    }
    if let Some(code) = &f.offer_code {
        query = query.filter(order::Column::OfferCode.eq(code.trim()));
    }
    let col = match page.sort_field.as_str() {
        "ordered_at" => order::Column::OrderedAt,
        "amount" => order::Column::AmountMinor,
        "external_id" => order::Column::ExternalId,
        _ => order::Column::Id,
    };
    let (items, total) = fetch_page(db, query, page, col, order::Column::Id).await?;
    let account_ids: Vec<i64> = items
        .iter()
        .map(|o| o.account_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names: HashMap<i64, String> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::ExternalId)
        .filter(account::Column::Id.is_in(account_ids))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(Paged {
        items: items
            .into_iter()
            .map(|o| {
                let ext = names.get(&o.account_id).cloned().unwrap_or_default();
                OrderView::new(o, ext)
            })
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One order with its account's external id.
pub async fn find_order(
    db: &DatabaseConnection,
    external_id: &str,
) -> Result<OrderView, OrdersError> {
    let o = order::Entity::find()
        .filter(order::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .ok_or_else(|| OrdersError::NotFound(format!("order `{external_id}` not found")))?;
    let acc = account::Entity::find_by_id(o.account_id)
        .one(db)
        .await?
        .map(|a| a.external_id)
        .unwrap_or_default();
    Ok(OrderView::new(o, acc))
}

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
    now: DateTime<Utc>,
    input: &OrderInput,
) -> Result<OrderView, OrdersError> {
    let row = prepare_one(db, input).await?;
    let external_id = row.external_id.clone();
    create_one(db, row, now).await?;
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
    now: DateTime<Utc>,
    input: &OrderInput,
) -> Result<(OrderView, Put), OrdersError> {
    let row = prepare_one(db, input).await?;
    let existed = count_existing(db, &[row.external_id.as_str()]).await? > 0;
    let external_id = row.external_id.clone();
    save_one(db, row, now).await?;
    let view = find_order(db, &external_id).await?;
    Ok((view, if existed { Put::Replaced } else { Put::Created }))
}

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

/// Stores one order (insert or replace) in its own transaction.
pub async fn save_one(
    db: &DatabaseConnection,
    row: OrderRow,
    now: DateTime<Utc>,
) -> Result<(), OrdersError> {
    let txn = crate::db::begin_write(db).await?;
    let account_id = row.account_id;
    upsert_rows(&txn, vec![row], now).await?;
    ensure_accounts_exist(&txn, &[account_id]).await?;
    txn.commit().await?;
    Ok(())
}

/// Stores a new order; `Conflict` when one with the same external id exists (decided by the
/// database, so two concurrent creates cannot both succeed).
pub async fn create_one(
    db: &DatabaseConnection,
    row: OrderRow,
    now: DateTime<Utc>,
) -> Result<(), OrdersError> {
    use sea_orm::Set;
    let txn = crate::db::begin_write(db).await?;
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
    txn.commit().await?;
    Ok(())
}
