//! How the analytics services fail, as plain data. The HTTP layer maps these to responses
//! (`super::routes`), the command line prints them; nothing here knows about either.

use sea_orm::DbErr;

use crate::domain::validation::FieldError;

/// Every way an analytics service can fail.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Input that does not parse, per field (a query parameter's name as the path).
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// The thing asked for does not exist; the text names it.
    #[error("{0}")]
    NotFound(String),
    /// A report was asked for before any analysis run succeeded.
    #[error("no analysis has run yet")]
    NoRunYet,
    /// An analysis run was recorded as failed with this message.
    #[error("analysis run {run_id} failed: {message}")]
    RunFailed { run_id: i64, message: String },
    /// A report could not be produced (e.g. the workbook writer failed).
    #[error("{0}")]
    Report(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl AnalyticsError {
    /// One invalid field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        AnalyticsError::Invalid(vec![FieldError::new(path, message)])
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
