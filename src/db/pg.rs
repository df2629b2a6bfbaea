//! PostgreSQL-only statements. Each has a portable twin used on SQLite; callers pick through
//! `db::is_postgres` and never write backend-specific SQL themselves. Functions here take plain
//! column values, so this module depends on no part of the domain.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

/// Rows per UNNEST statement: large enough to amortise the round trip, small enough to keep
/// memory flat.
const CHUNK: usize = 5000;

/// One row of the `orders` table as [`upsert_orders`] writes it.
#[derive(Debug, Clone)]
pub struct OrderValues {
    pub external_id: String,
    pub account_id: i64,
    pub ordered_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub margin_minor: Option<i64>,
    pub currency: String,
    pub offer_code: Option<String>,
}

/// Upserts orders with one `INSERT … SELECT FROM UNNEST(arrays)` per chunk: nine array
/// parameters instead of nine parameters per row, which PostgreSQL parses and plans once.
/// Only rows whose values differ are updated (`IS DISTINCT FROM`), so a re-sent order is not
/// touched. Arrays cannot hold NULL through the driver, so NULL margins travel as `i64::MIN`
/// and NULL offer codes as `''` (offer codes are never empty), mapped back with `NULLIF`.
pub async fn upsert_orders(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = OrderValues>,
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
    let mut batch = Columns::default();
    // One statement may not touch the same row twice, so a repeated id starts a new statement.
    let mut ids_in_batch: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in rows {
        if batch.len() == CHUNK || ids_in_batch.contains(&r.external_id) {
            affected += batch.execute(db, SQL, now).await?;
            ids_in_batch.clear();
        }
        ids_in_batch.insert(r.external_id.clone());
        batch.push(r);
    }
    if batch.len() > 0 {
        affected += batch.execute(db, SQL, now).await?;
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

/// Order rows as column arrays for one UNNEST statement.
#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    accounts: Vec<i64>,
    times: Vec<DateTime<Utc>>,
    amounts: Vec<i64>,
    margins: Vec<i64>,
    currencies: Vec<String>,
    codes: Vec<String>,
}

impl Columns {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn push(&mut self, r: OrderValues) {
        self.ids.push(r.external_id);
        self.accounts.push(r.account_id);
        self.times.push(r.ordered_at);
        self.amounts.push(r.amount_minor);
        self.margins.push(r.margin_minor.unwrap_or(i64::MIN));
        self.currencies.push(r.currency);
        self.codes.push(r.offer_code.unwrap_or_default());
    }

    /// Runs the statement with the collected rows and empties the arrays.
    async fn execute(
        &mut self,
        db: &impl ConnectionTrait,
        sql: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        let taken = std::mem::take(self);
        let values: Vec<Value> = vec![
            taken.ids.into(),
            taken.accounts.into(),
            taken.times.into(),
            taken.amounts.into(),
            taken.margins.into(),
            taken.currencies.into(),
            taken.codes.into(),
            now.into(),
        ];
        let stmt = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
        Ok(db.execute_raw(stmt).await?.rows_affected())
    }
}

/// One new row of the `messages` outbox as [`insert_messages`] writes it; the delivery columns
/// start empty (status `queued`, no attempts, no claim).
#[derive(Debug, Clone)]
pub struct MessageValues {
    pub idempotency_key: String,
    pub message_id: String,
    pub campaign_id: Option<i64>,
    pub enrolment_id: Option<i64>,
    pub step: Option<String>,
    pub account_id: i64,
    pub stakeholder_id: Option<i64>,
    pub task_id: Option<i64>,
    pub channel: String,
    pub recipient: String,
    pub template_id: Option<String>,
    pub subject: Option<String>,
    /// The rendered parts as a JSON object.
    pub parts: serde_json::Value,
    pub reason: Option<String>,
}

/// Inserts queued messages with one `INSERT … SELECT FROM UNNEST(arrays)` per chunk, skipping
/// any whose `idempotency_key` is already there; returns how many were inserted. A thousand
/// rows of 26 columns as bind parameters cost PostgreSQL more to parse and bind than to store.
/// NULL ids travel as `i64::MIN` (ids are positive) and NULL texts as a presence flag.
pub async fn insert_messages(
    db: &impl ConnectionTrait,
    rows: &[MessageValues],
    status: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    const SQL: &str = "INSERT INTO messages \
        (idempotency_key, message_id, campaign_id, enrolment_id, step, account_id, stakeholder_id, \
         task_id, channel, recipient, template_id, subject, parts, status, attempts, \
         next_attempt_at, reason, created_at, updated_at) \
        SELECT t.k, t.mid, NULLIF(t.c, $19), NULLIF(t.e, $19), CASE WHEN t.hs THEN t.s END, t.a, \
               NULLIF(t.p, $19), NULLIF(t.tk, $19), t.ch, t.r, CASE WHEN t.ht THEN t.tp END, \
               CASE WHEN t.hsu THEN t.su END, t.parts::json, $20, 0, \
               $21, CASE WHEN t.hr THEN t.rs END, $21, $21 \
        FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::bool[], \
                    $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::text[], \
                    $13::bool[], $14::text[], $15::bool[], $16::text[], $17::text[], $18::bool[]) \
             AS t(k, mid, c, e, s, hs, a, p, tk, ch, r, tp, ht, su, hsu, parts, rs, hr) \
        ON CONFLICT (idempotency_key) DO NOTHING";
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        let texts = |f: &dyn Fn(&MessageValues) -> &Option<String>| -> (Vec<String>, Vec<bool>) {
            chunk
                .iter()
                .map(|r| match f(r) {
                    Some(s) => (s.clone(), true),
                    None => (String::new(), false),
                })
                .unzip()
        };
        let ids = |f: &dyn Fn(&MessageValues) -> Option<i64>| -> Vec<i64> {
            chunk.iter().map(|r| f(r).unwrap_or(i64::MIN)).collect()
        };
        let (steps, has_step) = texts(&|r| &r.step);
        let (templates, has_template) = texts(&|r| &r.template_id);
        let (subjects, has_subject) = texts(&|r| &r.subject);
        let (reasons, has_reason) = texts(&|r| &r.reason);
        let strings = |f: &dyn Fn(&MessageValues) -> &String| -> Value {
            chunk
                .iter()
                .map(|r| f(r).clone())
                .collect::<Vec<_>>()
                .into()
        };
        let values: Vec<Value> = vec![
            strings(&|r| &r.idempotency_key),
            strings(&|r| &r.message_id),
            ids(&|r| r.campaign_id).into(),
            ids(&|r| r.enrolment_id).into(),
            steps.into(),
            has_step.into(),
            chunk
                .iter()
                .map(|r| r.account_id)
                .collect::<Vec<_>>()
                .into(),
            ids(&|r| r.stakeholder_id).into(),
            ids(&|r| r.task_id).into(),
            strings(&|r| &r.channel),
            strings(&|r| &r.recipient),
            templates.into(),
            has_template.into(),
            subjects.into(),
            has_subject.into(),
            chunk
                .iter()
                .map(|r| r.parts.to_string())
                .collect::<Vec<_>>()
                .into(),
            reasons.into(),
            has_reason.into(),
            i64::MIN.into(),
            status.into(),
            now.into(),
        ];
        let stmt = Statement::from_sql_and_values(db.get_database_backend(), SQL, values);
        inserted += db.execute_raw(stmt).await?.rows_affected();
    }
    Ok(inserted)
}
