//! `abm import accounts FILE`: accounts upserted by `external_id`, managers found by e-mail
//! or created.

use std::collections::HashMap;
use std::path::Path;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, TryIntoModel,
};

use super::opt;
use crate::accounts::model::AccountInput;
use crate::accounts::service::{apply_account, currency_change_problem};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::input::AmountInput;
use crate::domain::parse_bool;
use crate::domain::validation::FieldErrors;
use crate::entities::{account, manager};
use crate::import::{Chunk, Columns, Errors, ImportError, ImportSummary, Progress, Row};

/// Columns an account file must have.
pub const ACCOUNT_REQUIRED: &[&str] = &["external_id", "name"];
/// Columns an account file may have (besides `attr.<key>`).
pub const ACCOUNT_OPTIONAL: &[&str] = &[
    "industry",
    "region",
    "country",
    "timezone",
    "currency",
    "manager_email",
    "manager_name",
    "image_maker",
    "expert",
    "budget",
];

/// One parsed account row.
struct AccountRow {
    line: u64,
    input: AccountInput,
    manager_email: Option<String>,
    manager_name: Option<String>,
}

fn read_account_row(
    cols: &Columns,
    attr_cols: &[(String, usize)],
    row: &Row,
    fe: &mut FieldErrors,
) -> AccountRow {
    let cell = |c: &str| cols.get(row, c).map(str::trim).filter(|s| !s.is_empty());
    let flag = |fe: &mut FieldErrors, c: &str| match cell(c) {
        Some(v) => fe.check(c, parse_bool(v)),
        None => None,
    };
    let mut attributes = serde_json::Map::new();
    let has_attr = !attr_cols.is_empty();
    for (name, idx) in attr_cols.iter().cloned() {
        let v = row.cells.get(idx).map(|s| s.trim()).unwrap_or("");
        if !v.is_empty() {
            attributes.insert(name, serde_json::Value::String(v.to_string()));
        }
    }
    let input = AccountInput {
        external_id: cell("external_id")
            .map(str::to_string)
            .or(Some(String::new())),
        name: cols.get(row, "name").map(str::to_string),
        industry: opt(cols, row, "industry"),
        region: opt(cols, row, "region"),
        country: opt(cols, row, "country"),
        timezone: cell("timezone").map(str::to_string),
        currency: cell("currency").map(str::to_string),
        manager_id: None,
        image_maker: flag(fe, "image_maker"),
        expert: flag(fe, "expert"),
        budget: opt(cols, row, "budget").map(|b| b.map(AmountInput)),
        attributes: has_attr.then_some(attributes),
    };
    AccountRow {
        line: row.line,
        input,
        manager_email: cell("manager_email").map(str::to_lowercase),
        manager_name: cell("manager_name").map(str::to_string),
    }
}

/// Imports accounts. Returns the summary (created managers in `created_related`).
pub async fn import_accounts(
    db: &sea_orm::DatabaseConnection,
    clock: &dyn Clock,
    settings: &Settings,
    path: &Path,
    sheet: Option<&str>,
    progress: &dyn Progress,
) -> Result<(ImportSummary, Vec<String>), ImportError> {
    let mut source = crate::import::open(path, sheet)?;
    let (cols, unknown) = Columns::new(
        &source.headers,
        ACCOUNT_REQUIRED,
        ACCOUNT_OPTIONAL,
        &["attr.", "attributes."],
    )?;
    let attr_cols: Vec<(String, usize)> = source
        .headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.strip_prefix("attr.")
                .or_else(|| h.strip_prefix("attributes."))
                .filter(|k| !k.is_empty())
                .map(|k| (k.to_string(), i))
        })
        .collect();
    let warnings = unknown
        .into_iter()
        .map(|c| format!("column `{c}` is not an account column and was ignored"))
        .collect();

    let now = clock.now();
    let txn = crate::db::begin_write(db).await?;
    let mut errors = Errors::default();
    let mut summary = ImportSummary::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut managers: HashMap<String, i64> = manager::Entity::find()
        .select_only()
        .column(manager::Column::Email)
        .column(manager::Column::Id)
        .into_tuple::<(String, i64)>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();

    while let Some(chunk) = source.rx.recv().await {
        let rows = match chunk {
            Chunk::Rows(rows) => rows,
            Chunk::Bad(e) => {
                errors.add(e);
                continue;
            }
            Chunk::Fatal(msg) => return Err(ImportError::File(msg)),
        };
        let mut parsed = Vec::with_capacity(rows.len());
        for row in &rows {
            summary.rows += 1;
            let mut fe = FieldErrors::default();
            let r = read_account_row(&cols, &attr_cols, row, &mut fe);
            if let Some(email) = &r.manager_email {
                fe.check("manager_email", crate::domain::Email::parse(email));
            }
            if let Some(name) = &r.manager_name {
                if name.chars().count() > 200 {
                    fe.push("manager_name", "must be at most 200 characters");
                }
                fe.check("manager_name", crate::domain::one_line(name));
            }
            let ext = r.input.external_id.clone().unwrap_or_default();
            if !ext.is_empty()
                && let Some(first) = seen.insert(ext.clone(), row.line)
            {
                fe.push(
                    "external_id",
                    format!("`{ext}` already appears in row {first} of this file"),
                );
            }
            // Parse as "create" to validate required fields; applied as a patch if it exists.
            let _ = r.input.parse(true, &settings.defaults, None, &mut fe);
            if fe.is_empty() {
                parsed.push(r);
            } else {
                errors.add_fields(row.line, fe.errors);
            }
        }
        if errors.is_empty() {
            write_accounts(
                &txn,
                settings,
                now,
                parsed,
                &mut managers,
                &mut summary,
                &mut errors,
            )
            .await?;
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
    txn.commit().await?;
    summary.unchanged = summary.rows - summary.written;
    Ok((summary, warnings))
}

async fn write_accounts(
    txn: &DatabaseTransaction,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
    rows: Vec<AccountRow>,
    managers: &mut HashMap<String, i64>,
    summary: &mut ImportSummary,
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.input.external_id.clone())
        .collect();
    let existing: HashMap<String, account::Model> = account::Entity::find()
        .filter(account::Column::ExternalId.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| (a.external_id.clone(), a))
        .collect();
    let mut inserts = Vec::new();
    for r in rows {
        let manager_id = match &r.manager_email {
            None => None,
            Some(email) => Some(match managers.get(email) {
                Some(id) => *id,
                None => {
                    let name = r
                        .manager_name
                        .clone()
                        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
                    let m = manager::ActiveModel {
                        email: Set(email.clone()),
                        name: Set(name),
                        created_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    summary.created_related += 1;
                    managers.insert(email.clone(), m.id);
                    m.id
                }
            }),
        };
        let ext = r.input.external_id.clone().unwrap_or_default();
        let mut fe = FieldErrors::default();
        match existing.get(&ext) {
            Some(current) => {
                let mut input = r.input.clone();
                input.external_id = None;
                let mut draft =
                    input.parse(false, &settings.defaults, Some(&current.currency), &mut fe);
                if manager_id.is_some() {
                    draft.manager_id = Some(manager_id);
                }
                if let Some(serde_json::Value::Object(new_attrs)) = draft.attributes.take() {
                    // Attribute columns merge into the stored object; other keys stay.
                    let mut merged = match &current.attributes {
                        serde_json::Value::Object(m) => m.clone(),
                        _ => Default::default(),
                    };
                    for (k, v) in new_attrs {
                        merged.insert(k, v);
                    }
                    draft.attributes = Some(serde_json::Value::Object(merged));
                }
                if let Some(problem) = currency_change_problem(txn, current, &draft).await? {
                    fe.push("currency", problem);
                }
                if !fe.is_empty() {
                    errors.add_fields(r.line, fe.errors);
                    continue;
                }
                let mut am = current.clone().into_active_model();
                apply_account(&mut am, draft);
                let mut candidate = current.clone();
                if let Ok(m) = am.clone().try_into_model() {
                    candidate = m;
                }
                if candidate != *current {
                    am.updated_at = Set(now);
                    am.update(txn).await?;
                    summary.written += 1;
                }
            }
            None => {
                let mut draft = r.input.parse(true, &settings.defaults, None, &mut fe);
                draft.manager_id = Some(manager_id);
                if !fe.is_empty() {
                    errors.add_fields(r.line, fe.errors);
                    continue;
                }
                inserts.push(account::ActiveModel {
                    external_id: Set(ext),
                    name: Set(draft.name.unwrap_or_default()),
                    industry: Set(draft.industry.flatten()),
                    region: Set(draft.region.flatten()),
                    country: Set(draft.country.flatten()),
                    timezone: Set(draft.timezone.unwrap_or_default()),
                    currency: Set(draft.currency.unwrap_or_default()),
                    manager_id: Set(draft.manager_id.flatten()),
                    image_maker: Set(draft.image_maker.unwrap_or(false)),
                    expert: Set(draft.expert.unwrap_or(false)),
                    budget_minor: Set(draft.budget_minor.flatten()),
                    attributes: Set(draft.attributes.unwrap_or_else(|| serde_json::json!({}))),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                });
            }
        }
    }
    if !inserts.is_empty() {
        summary.written += inserts.len() as u64;
        for chunk in inserts.chunks(500) {
            account::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}
