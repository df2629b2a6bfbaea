//! `abm import accounts FILE` and `abm import stakeholders FILE`: streaming, all-or-nothing
//! upserts by `external_id` from CSV/XLSX. A stored row is only touched when a value differs,
//! so importing the same file twice changes nothing.
//!
//! Accounts: `external_id,name` required; `industry,region,country,timezone,currency,
//! manager_email,manager_name,image_maker,expert,budget` optional, plus any `attr.<key>` column
//! which lands in `attributes.<key>`. A manager is found by e-mail and created if missing.
//!
//! Stakeholders: `account_id,name,role` required; `external_id,title,email,phone,influence,
//! language,consent` optional.

mod account;
mod stakeholder;

pub use account::{ACCOUNT_OPTIONAL, ACCOUNT_REQUIRED, import_accounts};
pub use stakeholder::{STAKEHOLDER_OPTIONAL, STAKEHOLDER_REQUIRED, import_stakeholders};

use crate::import::{Columns, Row};

/// An optional text column: `None` when the file has no such column (leave the field alone),
/// `Some(None)` for an empty cell (clear it).
fn opt(cols: &Columns, row: &Row, c: &str) -> Option<Option<String>> {
    if !cols.has(c) {
        return None;
    }
    Some(
        cols.get(row, c)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    )
}
