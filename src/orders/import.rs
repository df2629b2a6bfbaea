//! `abm import orders FILE`: streaming, batched, all-or-nothing import of orders from CSV/XLSX.
//!
//! Columns (header names, any order): `account_id,ordered_at,amount` required;
//! `external_id,margin,currency,offer_code` optional. Rows are upserted by `external_id`;
//! without one, a deterministic id is derived from the row's content (and how many identical
//! rows came before it), so importing the same file twice changes nothing. Everything happens in
//! one transaction: if any row is invalid, nothing is written and every bad row is reported.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, QuerySelect, Set, TransactionTrait,
};

use super::model::{OrderRow, RawOrder};
use super::service::upsert_rows;
use crate::clock::Clock;
use crate::config::Settings;
use crate::entities::account;
use crate::error::FieldErrors;
use crate::import::{Chunk, Columns, Errors, ImportError, ImportSummary, Progress, RowError};

pub const REQUIRED: &[&str] = &["account_id", "ordered_at", "amount"];
pub const OPTIONAL: &[&str] = &["external_id", "margin", "currency", "offer_code"];

/// Options of an order import.
#[derive(Debug, Clone, Default)]
pub struct OrderImportOptions {
    /// Create accounts that do not exist yet (named after their external id).
    pub create_accounts: bool,
    /// XLSX worksheet name.
    pub sheet: Option<String>,
}

fn hash64(parts: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// Imports orders from `path`. Returns the summary, or every row error (nothing written).
pub async fn import_orders(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    settings: &Settings,
    path: &Path,
    opts: &OrderImportOptions,
    progress: &dyn Progress,
) -> Result<(ImportSummary, Vec<String>), ImportError> {
    let mut source = crate::import::open(path, opts.sheet.as_deref())?;
    let (cols, unknown) = Columns::new(&source.headers, REQUIRED, OPTIONAL, &[])?;
    let warnings: Vec<String> = unknown
        .into_iter()
        .map(|c| format!("column `{c}` is not an order column and was ignored"))
        .collect();

    // Every account's id and currency: small next to the orders, and saves a query per row.
    let mut accounts: HashMap<String, (i64, String)> = account::Entity::find()
        .select_only()
        .column(account::Column::ExternalId)
        .column(account::Column::Id)
        .column(account::Column::Currency)
        .into_tuple::<(String, i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(e, i, c)| (e, (i, c)))
        .collect();

    let now = clock.now();
    let batch_size = settings.import.batch_size.max(1);
    let txn = db.begin().await?;
    let mut errors = Errors::default();
    let mut summary = ImportSummary::default();
    let mut batch: Vec<OrderRow> = Vec::with_capacity(batch_size);
    // First row of each external id, to report duplicates; occurrences of identical id-less rows.
    let mut seen_ids: HashMap<u64, u64> = HashMap::new();
    let mut occurrences: HashMap<u64, u32> = HashMap::new();

    while let Some(chunk) = source.rx.recv().await {
        let rows = match chunk {
            Chunk::Rows(rows) => rows,
            Chunk::Bad(e) => {
                errors.add(e);
                continue;
            }
            Chunk::Fatal(msg) => {
                drop(txn);
                return Err(ImportError::File(msg));
            }
        };
        for row in &rows {
            summary.rows += 1;
            let raw = RawOrder {
                external_id: cols.get(row, "external_id"),
                account_id: cols.get(row, "account_id").unwrap_or(""),
                ordered_at: cols.get(row, "ordered_at").unwrap_or(""),
                amount: cols.get(row, "amount").unwrap_or(""),
                margin: cols.get(row, "margin"),
                currency: cols.get(row, "currency"),
                offer_code: cols.get(row, "offer_code"),
            };
            let explicit_id = raw.external_id.map(str::trim).filter(|s| !s.is_empty());
            let occurrence = if explicit_id.is_none() {
                let key = hash64(&[
                    raw.account_id.trim(),
                    raw.ordered_at.trim(),
                    raw.amount.trim(),
                    raw.margin.unwrap_or("").trim(),
                    raw.currency.unwrap_or("").trim(),
                    raw.offer_code.unwrap_or("").trim(),
                ]);
                let n = occurrences.entry(key).or_insert(0);
                *n += 1;
                *n - 1
            } else {
                0
            };
            let mut fe = FieldErrors::default();
            let Some(parsed) = raw.parse(occurrence, &mut fe) else {
                errors.add_fields(row.line, fe.errors);
                continue;
            };
            if let Some(first) = seen_ids.insert(hash64(&[&parsed.external_id]), row.line) {
                errors.add(RowError {
                    row: row.line,
                    column: Some("external_id".into()),
                    message: format!(
                        "`{}` already appears in row {first} of this file",
                        parsed.external_id
                    ),
                });
                continue;
            }
            let (account_id, currency) = match accounts.get(&parsed.account_external_id) {
                Some(a) => a.clone(),
                None if opts.create_accounts => {
                    let currency = parsed
                        .currency
                        .map(|c| c.code().to_string())
                        .unwrap_or_else(|| settings.defaults.currency.code().to_string());
                    let created = account::ActiveModel {
                        external_id: Set(parsed.account_external_id.clone()),
                        name: Set(parsed.account_external_id.clone()),
                        timezone: Set(settings.defaults.timezone.name().to_string()),
                        currency: Set(currency.clone()),
                        image_maker: Set(false),
                        expert: Set(false),
                        attributes: Set(serde_json::json!({})),
                        created_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await?;
                    summary.created_related += 1;
                    accounts.insert(
                        parsed.account_external_id.clone(),
                        (created.id, currency.clone()),
                    );
                    (created.id, currency)
                }
                None => {
                    errors.add(RowError {
                        row: row.line,
                        column: Some("account_id".into()),
                        message: format!(
                            "account `{}` does not exist (import accounts first, or pass --create-accounts)",
                            parsed.account_external_id
                        ),
                    });
                    continue;
                }
            };
            let Some(resolved) = parsed.resolve(account_id, &currency, &mut fe) else {
                errors.add_fields(row.line, fe.errors);
                continue;
            };
            if errors.is_empty() {
                batch.push(resolved);
                if batch.len() >= batch_size {
                    summary.written += upsert_rows(&txn, &batch, now).await?;
                    batch.clear();
                }
            }
        }
        progress.rows(
            summary.rows,
            source.progress.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    if !errors.is_empty() {
        txn.rollback().await?;
        return Err(errors.into_error());
    }
    if !batch.is_empty() {
        summary.written += upsert_rows(&txn, &batch, now).await?;
    }
    txn.commit().await?;
    summary.unchanged = summary.rows - summary.written;
    Ok((summary, warnings))
}
