//! `abm import stakeholders FILE`: stakeholders upserted by `external_id` into existing
//! accounts.

use std::collections::HashMap;
use std::path::Path;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set,
    TryIntoModel,
};

use super::opt;
use crate::accounts::model::StakeholderInput;
use crate::accounts::service::apply_stakeholder;
use crate::clock::Clock;
use crate::domain::validation::FieldErrors;
use crate::entities::{account, stakeholder};
use crate::import::{Chunk, Columns, Errors, ImportError, ImportSummary, Progress, RowError};

/// Columns a stakeholder file must have.
pub const STAKEHOLDER_REQUIRED: &[&str] = &["account_id", "name", "role"];
/// Columns a stakeholder file may have.
pub const STAKEHOLDER_OPTIONAL: &[&str] = &[
    "external_id",
    "title",
    "email",
    "phone",
    "influence",
    "language",
    "consent",
];

/// Imports stakeholders into existing accounts.
pub async fn import_stakeholders(
    db: &sea_orm::DatabaseConnection,
    clock: &dyn Clock,
    path: &Path,
    sheet: Option<&str>,
    progress: &dyn Progress,
) -> Result<(ImportSummary, Vec<String>), ImportError> {
    let mut source = crate::import::open(path, sheet)?;
    let (cols, unknown) = Columns::new(
        &source.headers,
        STAKEHOLDER_REQUIRED,
        STAKEHOLDER_OPTIONAL,
        &[],
    )?;
    let warnings = unknown
        .into_iter()
        .map(|c| format!("column `{c}` is not a stakeholder column and was ignored"))
        .collect();
    let accounts: HashMap<String, i64> = account::Entity::find()
        .select_only()
        .column(account::Column::ExternalId)
        .column(account::Column::Id)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let now = clock.now();
    let txn = crate::db::begin_write(db).await?;
    let mut errors = Errors::default();
    let mut summary = ImportSummary::default();
    let mut seen: HashMap<String, u64> = HashMap::new();

    while let Some(chunk) = source.rx.recv().await {
        let rows = match chunk {
            Chunk::Rows(rows) => rows,
            Chunk::Bad(e) => {
                errors.add(e);
                continue;
            }
            Chunk::Fatal(msg) => return Err(ImportError::File(msg)),
        };
        let mut parsed = Vec::new();
        for row in &rows {
            summary.rows += 1;
            let cell = |c: &str| cols.get(row, c).map(str::trim).filter(|s| !s.is_empty());
            let mut fe = FieldErrors::default();
            let account_ext = cell("account_id").unwrap_or("");
            let account_id = accounts.get(account_ext).copied();
            if account_ext.is_empty() {
                fe.push("account_id", "is required");
            } else if account_id.is_none() {
                fe.push(
                    "account_id",
                    format!("account `{account_ext}` does not exist"),
                );
            }
            let influence = match cell("influence") {
                Some(v) => match v.parse::<i64>() {
                    Ok(i) => Some(i),
                    Err(_) => {
                        fe.push("influence", format!("`{v}` is not a whole number 1–5"));
                        None
                    }
                },
                None => None,
            };
            let input = StakeholderInput {
                external_id: cell("external_id").map(str::to_string),
                name: cols.get(row, "name").map(str::to_string),
                title: opt(&cols, row, "title"),
                email: opt(&cols, row, "email"),
                phone: opt(&cols, row, "phone"),
                role: cell("role").map(str::to_string).or(Some(String::new())),
                influence,
                language: opt(&cols, row, "language"),
                consent: cell("consent").map(str::to_string),
            };
            let draft = input.parse(true, account_ext, &mut fe);
            if let Some(ext) = &draft.external_id
                && let Some(first) = seen.insert(ext.clone(), row.line)
            {
                fe.push(
                    "external_id",
                    format!("`{ext}` already appears in row {first} of this file"),
                );
            }
            match (fe.is_empty(), account_id) {
                (true, Some(aid)) => parsed.push((row.line, aid, input, draft)),
                _ => errors.add_fields(row.line, fe.errors),
            }
        }
        if errors.is_empty() && !parsed.is_empty() {
            let ids: Vec<String> = parsed
                .iter()
                .filter_map(|p| p.3.external_id.clone())
                .collect();
            let existing: HashMap<String, stakeholder::Model> = stakeholder::Entity::find()
                .filter(stakeholder::Column::ExternalId.is_in(ids))
                .all(&txn)
                .await?
                .into_iter()
                .map(|s| (s.external_id.clone(), s))
                .collect();
            let mut inserts = Vec::new();
            for (line, aid, input, draft) in parsed {
                let ext = draft.external_id.clone().unwrap_or_default();
                match existing.get(&ext) {
                    Some(current) if current.account_id != aid => errors.add(RowError {
                        row: line,
                        column: Some("external_id".into()),
                        message: format!("stakeholder `{ext}` belongs to another account"),
                    }),
                    Some(current) => {
                        // Only the columns present in the file change the stored stakeholder.
                        let mut fe = FieldErrors::default();
                        let mut patch = input.clone();
                        patch.external_id = None;
                        if !cols.has("influence") {
                            patch.influence = None;
                        }
                        if !cols.has("consent") {
                            patch.consent = None;
                        }
                        let d = patch.parse(false, "", &mut fe);
                        let mut am = current.clone().into_active_model();
                        apply_stakeholder(&mut am, d);
                        let changed = am
                            .clone()
                            .try_into_model()
                            .map(|m| m != *current)
                            .unwrap_or(true);
                        if changed {
                            am.updated_at = Set(now);
                            am.update(&txn).await?;
                            summary.written += 1;
                        }
                    }
                    None => {
                        let mut am = stakeholder::ActiveModel {
                            external_id: Set(ext),
                            account_id: Set(aid),
                            title: Set(None),
                            email: Set(None),
                            phone: Set(None),
                            language: Set(None),
                            created_at: Set(now),
                            updated_at: Set(now),
                            ..Default::default()
                        };
                        apply_stakeholder(&mut am, draft);
                        inserts.push(am);
                    }
                }
            }
            if !inserts.is_empty() {
                summary.written += inserts.len() as u64;
                for chunk in inserts.chunks(500) {
                    stakeholder::Entity::insert_many(chunk.to_vec())
                        .exec_without_returning(&txn)
                        .await?;
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
    txn.commit().await?;
    summary.unchanged = summary.rows - summary.written;
    Ok((summary, warnings))
}
