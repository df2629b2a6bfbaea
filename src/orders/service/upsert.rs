//! The one write path for orders: API batches, single orders and file imports all use
//! [`upsert_rows`], in chunks sized to the backend's bind-parameter limit. An upsert only
//! touches a stored order when a value differs, so re-sending the same data changes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::db::pg::OrderValues;
use crate::entities::{account, order};
use crate::orders::model::OrderRow;

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
