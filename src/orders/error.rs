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
    /// Offer codes the orders carry that cannot be redeemed (nothing was stored); `path`
    /// prefixes each detail for a batch (`/orders/3`), empty for one order.
    #[error("an offer code was refused")]
    CodeRefused {
        path: &'static str,
        refusals: Vec<crate::winback::recovery::Refusal>,
    },
    /// A broken invariant of this code, never the client's doing.
    #[error("{0}")]
    Internal(&'static str),
}

impl OrdersError {
    /// The win-back part of an order write failed: refusals keep their order's place.
    pub(crate) fn after_orders(
        e: crate::winback::recovery::AfterOrdersError,
        path: &'static str,
    ) -> Self {
        use crate::winback::recovery::AfterOrdersError as E;
        match e {
            E::Refused(refusals) => OrdersError::CodeRefused { path, refusals },
            E::Database(e) => OrdersError::Database(e),
            E::Internal(m) => OrdersError::Database(DbErr::Custom(m)),
        }
    }
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
