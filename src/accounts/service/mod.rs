//! Database operations for accounts, managers and the dossier. Inputs arrive parsed (see
//! `model`); every function here either fully applies a change or returns an
//! [`AccountsError`](super::error::AccountsError).

use sea_orm::sea_query::LikeExpr;

use super::error::AccountsError;

/// Copies each field that a draft carries (`Some`) onto an active model.
macro_rules! apply_fields {
    ($model:expr, $draft:expr; $($field:ident),+ $(,)?) => {
        $(
            if let Some(v) = $draft.$field {
                $model.$field = sea_orm::Set(v);
            }
        )+
    };
}

mod account;
mod competitor;
mod dossier;
mod manager;
mod profile;
mod relationship;
mod stakeholder;

pub use account::{
    ACCOUNT_SORTS, account_view, apply_account, create_account, create_bare_account,
    currency_change_problem, delete_account, find_account, list_accounts, update_account,
};
pub use competitor::{
    COMPETITOR_SORTS, delete_competitor, get_competitor, list_competitors, page_competitors,
    save_competitor,
};
pub use dossier::dossier;
pub use manager::{
    MANAGER_SORTS, create_manager, delete_manager, get_manager, list_managers, update_manager,
};
pub use profile::{get_profile, put_profile};
pub use relationship::{
    EVENT_SORTS, delete_event, get_event, list_events, page_events, save_event,
};
pub use stakeholder::{
    STAKEHOLDER_SORTS, apply_stakeholder, create_stakeholder, delete_stakeholder, get_stakeholder,
    list_stakeholders, page_stakeholders, update_stakeholder,
};

/// The longest `?q=` search text, in characters. SQLite refuses long LIKE patterns ("pattern too
/// complex"), and a search for more than a name's worth of text is a mistake or an attack.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Lower-cased `%text%` with LIKE wildcards escaped; `Invalid` on `q` when the text is too long.
fn like_pattern(q: &str) -> Result<LikeExpr, AccountsError> {
    if q.trim().chars().count() > MAX_SEARCH_CHARS {
        return Err(AccountsError::field(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Ok(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// The search text of a `?q=` filter, when one was given.
fn search_text(q: Option<&str>) -> Option<&str> {
    q.filter(|q| !q.trim().is_empty())
}
