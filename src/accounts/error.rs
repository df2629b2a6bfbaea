//! Every way an accounts, managers or dossier operation can fail, as plain data. The HTTP
//! status and problem code of each variant are decided in one place, `routes`, so services and
//! importers stay free of the web layer.

use sea_orm::DbErr;

use crate::domain::validation::{FieldError, FieldErrors};

/// Why an accounts operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The input has invalid fields; every problem found, with its path.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    /// The addressed manager, account or dossier entry does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with stored data; `code` is the stable problem code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The database failed or refused the statement (unique key, contention, unstorable text).
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl AccountsError {
    /// One invalid field; `path` is used as given (a JSON Pointer or a query parameter name).
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        AccountsError::Invalid(vec![FieldError::new(path, message)])
    }

    /// `already_exists` with a detail naming the clashing key.
    pub(crate) fn already_exists(detail: String) -> Self {
        AccountsError::Conflict {
            code: "already_exists",
            detail,
        }
    }
}

/// A parsed value when its input had no problems, else every problem as [`AccountsError::Invalid`].
pub fn finish<T>(value: T, errors: FieldErrors) -> Result<T, AccountsError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(AccountsError::Invalid(errors.errors))
    }
}
