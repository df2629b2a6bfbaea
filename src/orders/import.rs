//! `abm import orders FILE`: streaming, batched, all-or-nothing import of orders from CSV/XLSX.
//!
//! Columns (header names, any order): `account_id,ordered_at,amount` required;
//! `external_id,margin,currency,offer_code` optional. Rows are upserted by `external_id`;
//! without one, a deterministic id is derived from the row's content (and how many identical
//! rows came before it), so importing the same file twice changes nothing. Everything happens in
//! one transaction: if any row is invalid, nothing is written and every bad row is reported.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use sea_orm::{DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect};

use super::model::{OrderRow, RawOrder};
use super::service::{ensure_accounts_exist, upsert_rows};
use crate::accounts::service::create_bare_account;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::validation::FieldErrors;
use crate::entities::account;
use crate::import::seen::{SeenFilter, hash_parts};
use crate::import::{Chunk, Columns, Errors, ImportError, ImportSummary, Progress, Row, RowError};
use crate::winback::recovery::{AfterOrdersError, Ordered, after_orders};

/// Columns an order file must have.
pub const REQUIRED: &[&str] = &["account_id", "ordered_at", "amount"];
/// Columns an order file may have.
pub const OPTIONAL: &[&str] = &["external_id", "margin", "currency", "offer_code"];

/// Options of an order import.
#[derive(Debug, Clone, Default)]
pub struct OrderImportOptions {
    /// Create accounts that do not exist yet (named after their external id).
    pub create_accounts: bool,
    /// XLSX worksheet name.
    pub sheet: Option<String>,
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
    let accounts: HashMap<String, (i64, String)> = account::Entity::find()
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
    let txn = crate::db::begin_write(db).await?;
    let mut parser = Parser {
        cols,
        accounts,
        create_accounts: opts.create_accounts,
        settings,
        now,
        errors: Errors::default(),
        summary: ImportSummary::default(),
        seen_ids: SeenFilter::new(27),
        suspects: Vec::new(),
        occurrences: HashMap::new(),
        used_accounts: HashSet::new(),
        coded: Vec::new(),
        latest: HashMap::new(),
    };
    // Parsed rows wait in `pending`; a full batch is written while the next chunk is parsed,
    // so parsing (this process) and writing (the database) overlap.
    let mut pending: Vec<OrderRow> = Vec::with_capacity(batch_size * 2);
    let mut written = 0;
    loop {
        let rows = match source.rx.recv().await {
            None => None,
            Some(Chunk::Rows(rows)) => Some(rows),
            Some(Chunk::Bad(e)) => {
                parser.errors.add(e);
                continue;
            }
            Some(Chunk::Fatal(msg)) => return Err(ImportError::File(msg)),
        };
        if !parser.errors.is_empty() {
            pending.clear();
        }
        let writing = if rows.is_none() || pending.len() >= batch_size {
            std::mem::take(&mut pending)
        } else {
            Vec::new()
        };
        let write = async {
            if writing.is_empty() {
                Ok(0)
            } else {
                upsert_rows(&txn, writing, now).await
            }
        };
        let Some(rows) = rows else {
            written += write.await?;
            break;
        };
        let (w, parsed) = tokio::join!(write, parser.parse_chunk(&rows, &txn));
        written += w?;
        let parsed = parsed?;
        if parser.errors.is_empty() {
            pending.extend(parsed);
        }
        progress.rows(
            parser.summary.rows,
            source.progress.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    if !parser.suspects.is_empty() {
        confirm_duplicates(
            path,
            opts.sheet.as_deref(),
            &parser.suspects,
            &mut parser.errors,
        )
        .await?;
    }
    if !parser.errors.is_empty() {
        txn.rollback().await?;
        return Err(parser.errors.into_error());
    }
    let used: Vec<i64> = parser.used_accounts.into_iter().collect();
    ensure_accounts_exist(&txn, &used).await?;
    // Win-back: the rows' offer codes are redeemed and lost accounts that ordered again are
    // recovered (by their latest order of the file), in the import's transaction.
    let mut ordered = parser.coded;
    ordered.extend(parser.latest.into_values().map(|mut o| {
        o.offer_code = None;
        o
    }));
    match after_orders(&txn, &settings.winback, &ordered, now).await {
        Ok(_) => {}
        Err(AfterOrdersError::Refused(refusals)) => {
            txn.rollback().await?;
            let mut errors = Errors::default();
            for r in refusals {
                errors.add(RowError {
                    row: r.index as u64,
                    column: Some("offer_code".into()),
                    message: r.detail,
                });
            }
            return Err(errors.into_error());
        }
        Err(AfterOrdersError::Database(e)) => return Err(e.into()),
        Err(AfterOrdersError::Internal(m)) => return Err(sea_orm::DbErr::Custom(m).into()),
    }
    txn.commit().await?;
    let mut summary = parser.summary;
    summary.written = written;
    summary.unchanged = summary.rows - summary.written;
    Ok((summary, warnings))
}

/// Per-file parsing state: checks rows, resolves accounts, remembers ids seen.
struct Parser<'a> {
    cols: Columns,
    accounts: HashMap<String, (i64, String)>,
    create_accounts: bool,
    settings: &'a Settings,
    now: chrono::DateTime<chrono::Utc>,
    errors: Errors,
    summary: ImportSummary,
    /// External ids seen so far (fixed memory); a hit makes the row a suspect.
    seen_ids: SeenFilter,
    /// Rows whose external id may repeat an earlier one: (id, row), confirmed after the pass.
    suspects: Vec<(String, u64)>,
    /// How many times each id-less row content was seen (exact, for derived ids). Files
    /// with an `external_id` column never fill it, so their memory stays flat.
    occurrences: HashMap<u64, u32>,
    /// Accounts that received orders; checked (and locked) once before commit.
    used_accounts: HashSet<i64>,
    /// Rows that carry a code of ours (redeemed before commit), by line.
    coded: Vec<Ordered>,
    /// The latest order of each account (for win-back recovery).
    latest: HashMap<i64, Ordered>,
}

impl Parser<'_> {
    /// Checks one chunk of rows and returns the valid ones ready to write. Errors are
    /// collected; accounts are created in `txn` when asked to.
    async fn parse_chunk(
        &mut self,
        rows: &[Row],
        txn: &DatabaseTransaction,
    ) -> Result<Vec<OrderRow>, ImportError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            self.summary.rows += 1;
            let cols = &self.cols;
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
                // The same canonical text that the derived id is made from, so rows that
                // differ only in spacing or currency case count as the same content.
                let key = hash_parts(&[
                    raw.account_id.trim(),
                    raw.ordered_at.trim(),
                    raw.amount.trim(),
                    raw.margin.unwrap_or("").trim(),
                    &raw.currency.unwrap_or("").trim().to_ascii_uppercase(),
                    raw.offer_code.unwrap_or("").trim(),
                ]);
                let n = self.occurrences.entry(key).or_insert(0);
                *n += 1;
                *n - 1
            } else {
                0
            };
            let mut fe = FieldErrors::default();
            let Some(parsed) = raw.parse(occurrence, &mut fe) else {
                self.errors.add_fields(row.line, fe.errors);
                continue;
            };
            if explicit_id.is_some() && self.seen_ids.insert(hash_parts(&[&parsed.external_id])) {
                self.suspects.push((parsed.external_id.clone(), row.line));
            }
            let (account_id, currency) = match self.accounts.get(&parsed.account_external_id) {
                Some(a) => a.clone(),
                None if self.create_accounts => {
                    let currency = parsed
                        .currency
                        .map(|c| c.code().to_string())
                        .unwrap_or_else(|| self.settings.defaults.currency.code().to_string());
                    let id = create_bare_account(
                        txn,
                        &parsed.account_external_id,
                        &currency,
                        self.settings.defaults.timezone.name(),
                        self.now,
                    )
                    .await?;
                    self.summary.created_related += 1;
                    self.accounts
                        .insert(parsed.account_external_id.clone(), (id, currency.clone()));
                    (id, currency)
                }
                None => {
                    self.errors.add(RowError {
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
            match parsed.resolve(account_id, &currency, &mut fe) {
                Some(resolved) => {
                    self.used_accounts.insert(resolved.account_id);
                    let line = row.line as usize;
                    if resolved
                        .offer_code
                        .as_deref()
                        .is_some_and(crate::offers::codes::has_our_shape)
                    {
                        self.coded.push(Ordered::of(line, &resolved));
                    }
                    match self.latest.get(&resolved.account_id) {
                        Some(o) if o.ordered_at >= resolved.ordered_at => {}
                        _ => {
                            self.latest
                                .insert(resolved.account_id, Ordered::of(line, &resolved));
                        }
                    }
                    out.push(resolved);
                }
                None => self.errors.add_fields(row.line, fe.errors),
            }
        }
        Ok(out)
    }
}

/// Second, exact pass over the file for the rare rows whose external id may repeat: finds
/// the first row of each suspect id and reports true repeats as errors. Memory is
/// proportional to the number of suspects, not to the file.
async fn confirm_duplicates(
    path: &Path,
    sheet: Option<&str>,
    suspects: &[(String, u64)],
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let wanted: HashSet<&str> = suspects.iter().map(|(id, _)| id.as_str()).collect();
    let mut first: HashMap<String, u64> = HashMap::new();
    let mut source = crate::import::open(path, sheet)?;
    let (cols, _) = Columns::new(&source.headers, REQUIRED, OPTIONAL, &[])?;
    while let Some(chunk) = source.rx.recv().await {
        let Chunk::Rows(rows) = chunk else { continue };
        for row in &rows {
            let Some(id) = cols.get(row, "external_id").map(str::trim) else {
                continue;
            };
            if wanted.contains(id) && !first.contains_key(id) {
                first.insert(id.to_string(), row.line);
            }
        }
    }
    for (id, line) in suspects {
        if let Some(&first_line) = first.get(id)
            && first_line < *line
        {
            errors.add(RowError {
                row: *line,
                column: Some("external_id".into()),
                message: format!("`{id}` already appears in row {first_line} of this file"),
            });
        }
    }
    Ok(())
}
