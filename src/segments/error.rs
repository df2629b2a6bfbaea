//! Every way a segments operation can fail. Services return this; only the HTTP layer
//! (`segments::routes`) turns it into statuses and problem codes, so the CLI and the jobs can
//! act on the cause itself.

use sea_orm::DbErr;

use crate::domain::validation::FieldError;
use crate::jobs::JobError;

/// Why a segment or a rule could not be read, checked, stored or recomputed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentsError {
    /// The input has these problems (each names its field as a JSON pointer); nothing changed.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    /// No segment has this key.
    #[error("no segment `{0}`")]
    NotFound(String),
    /// Built-in segments (this key) are fixed in code and cannot be changed or deleted.
    #[error("`{0}` is a built-in segment and cannot be changed")]
    Builtin(String),
    /// A segment with this key exists already.
    #[error("a segment with key `{0}` exists")]
    AlreadyExists(String),
    /// The recomputation could not run (e.g. it is running elsewhere) or failed.
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Database(#[from] DbErr),
}
