//! `POST /orders/batch`: many orders validated together and stored all or nothing.

use std::collections::{HashMap, HashSet};

use sea_orm::DatabaseConnection;

use super::upsert::{count_existing, ensure_accounts_exist, resolve_accounts, upsert_rows};
use crate::clock::Clock;
use crate::config::WinbackSettings;
use crate::domain::validation::{FieldError, FieldErrors};
use crate::orders::error::OrdersError;
use crate::orders::model::{BatchResult, OrderInput, RawOrder};
use crate::winback::recovery::{Ordered, after_orders};

/// Validates and stores a batch of orders, all or nothing.
pub async fn ingest_batch(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    winback: &WinbackSettings,
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
    let mut ordered = Vec::with_capacity(parsed.len());
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
                    ordered.push(Ordered::of(i, &row));
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
    after_orders(&txn, winback, &ordered, now)
        .await
        .map_err(|e| OrdersError::after_orders(e, "/orders"))?;
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
