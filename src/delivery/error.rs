//! Every way a delivery operation can fail; `delivery::routes` maps it to HTTP.

use sea_orm::DbErr;

use crate::domain::validation::FieldError;

/// Why a message, suppression or webhook endpoint could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The input has these problems; nothing changed.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("no message with id {0}")]
    MessageNotFound(i64),
    #[error("`{0}` is not on the suppression list")]
    NotSuppressed(String),
    /// The message is not in a state a retry applies to.
    #[error("{0}")]
    NotRetryable(String),
    #[error("no webhook endpoint with id {0}")]
    EndpointNotFound(i64),
    #[error("no campaign `{}`", crate::domain::shorten(.0, 100))]
    CampaignNotFound(String),
    /// Changed by someone else at the same time.
    #[error("{0}")]
    Conflict(String),
    /// A reported response or bounce matches no message or stakeholder.
    #[error("{0}")]
    NoMatch(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl DeliveryError {
    /// One field problem.
    pub fn field(path: &str, message: impl Into<String>) -> Self {
        DeliveryError::Invalid(vec![FieldError::new(path, message)])
    }
}
