//! PostgreSQL-only statements. Each has a portable twin used on SQLite; callers pick through
//! `db::is_postgres` and never write backend-specific SQL themselves.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use crate::orders::model::OrderRow;

/// Rows per UNNEST statement: large enough to amortise the round trip, small enough to keep
/// memory flat.
const CHUNK: usize = 5000;

/// Upserts orders with one `INSERT … SELECT FROM UNNEST(arrays)` per chunk: nine array
/// parameters instead of nine parameters per row, which PostgreSQL parses and plans once.
/// Only rows whose values differ are updated (`IS DISTINCT FROM`), so a re-sent order is not
/// touched. Arrays cannot hold NULL through the driver, so NULL margins travel as `i64::MIN`
/// and NULL offer codes as `''` (offer codes are never empty), mapped back with `NULLIF`.
pub async fn upsert_orders(
    db: &impl ConnectionTrait,
    rows: Vec<OrderRow>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    const SQL: &str = "INSERT INTO orders \
        (external_id, account_id, ordered_at, amount_minor, margin_minor, currency, offer_code, created_at, updated_at) \
        SELECT t.e, t.a, t.o, t.am, NULLIF(t.m, '-9223372036854775808'::int8), t.c, NULLIF(t.oc, ''), $8, $8 \
        FROM UNNEST($1::text[], $2::int8[], $3::timestamptz[], $4::int8[], $5::int8[], $6::text[], $7::text[]) \
             AS t(e, a, o, am, m, c, oc) \
        ON CONFLICT (external_id) DO UPDATE SET \
            account_id = EXCLUDED.account_id, ordered_at = EXCLUDED.ordered_at, \
            amount_minor = EXCLUDED.amount_minor, margin_minor = EXCLUDED.margin_minor, \
            currency = EXCLUDED.currency, offer_code = EXCLUDED.offer_code, updated_at = EXCLUDED.updated_at \
        WHERE (orders.account_id, orders.ordered_at, orders.amount_minor, orders.margin_minor, orders.currency, orders.offer_code) \
              IS DISTINCT FROM \
              (EXCLUDED.account_id, EXCLUDED.ordered_at, EXCLUDED.amount_minor, EXCLUDED.margin_minor, EXCLUDED.currency, EXCLUDED.offer_code)";
    let mut affected = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let n = rows.len().min(CHUNK);
        let (mut ids, mut accounts, mut times, mut amounts, mut margins, mut currencies, mut codes) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in rows.by_ref().take(CHUNK) {
            ids.push(r.external_id);
            accounts.push(r.account_id);
            times.push(r.ordered_at);
            amounts.push(r.amount_minor);
            margins.push(r.margin_minor.unwrap_or(i64::MIN));
            currencies.push(r.currency);
            codes.push(r.offer_code.unwrap_or_default());
        }
        let values: Vec<Value> = vec![
            ids.into(),
            accounts.into(),
            times.into(),
            amounts.into(),
            margins.into(),
            currencies.into(),
            codes.into(),
            now.into(),
        ];
        let stmt = Statement::from_sql_and_values(db.get_database_backend(), SQL, values);
        affected += db.execute_raw(stmt).await?.rows_affected();
    }
    Ok(affected)
}

/// Locks the given accounts `FOR KEY SHARE` until the transaction ends (as a foreign key
/// check would) and returns how many exist.
pub async fn lock_accounts(db: &impl ConnectionTrait, ids: &[i64]) -> Result<u64, DbErr> {
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT COUNT(*) FROM (SELECT id FROM accounts WHERE id = ANY($1) FOR KEY SHARE) locked",
        [Value::from(ids.to_vec())],
    );
    let row = db
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| DbErr::Custom("COUNT returned no row".into()))?;
    Ok(row.try_get_by_index::<i64>(0)? as u64)
}
