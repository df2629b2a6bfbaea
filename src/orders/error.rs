//! Every way an order operation can fail, as plain data. The HTTP status and problem code of
//! each variant are decided in one place, `routes`.

use sea_orm::DbErr;

use crate::accounts::AccountsError;
use crate::domain::validation::{FieldError, FieldErrors};

/// Why an order operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// The input has invalid fields; every problem found, with its path.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    /// The addressed order (or the account a filter names) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with stored data; `code` is the stable problem code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The database failed or refused the statement (unique key, contention, unstorable text,
    /// or an account deleted while its orders were written).
    #[error(transparent)]
    Database(#[from] DbErr),
    /// A broken invariant of this code, never the client's doing.
    #[error("{0}")]
    Internal(&'static str),
}

impl OrdersError {
    /// One invalid field; `path` is used as given (a JSON Pointer or a query parameter name).
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        OrdersError::Invalid(vec![FieldError::new(path, message)])
    }

    /// Every problem collected while parsing, when there is one.
    pub(crate) fn check(errors: FieldErrors) -> Result<(), OrdersError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(OrdersError::Invalid(errors.errors))
        }
    }
}

/// Orders look accounts up through the accounts service; its failures keep their meaning.
impl From<AccountsError> for OrdersError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(errors) => OrdersError::Invalid(errors),
            AccountsError::NotFound(detail) => OrdersError::NotFound(detail),
            AccountsError::Conflict { code, detail } => OrdersError::Conflict { code, detail },
            AccountsError::Database(e) => OrdersError::Database(e),
        }
    }
}
