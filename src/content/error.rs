//! Every way a content operation can fail. Services return this; only the HTTP layer
//! (`content::routes`) turns it into statuses and problem codes, so the CLI and campaign steps
//! can act on the cause itself.

use crate::error::{FieldError, FieldErrors};

/// Why a template could not be read, stored, chosen or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The input has these problems (each names its field as a JSON pointer); nothing changed.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("no template `{0}`")]
    TemplateNotFound(String),
    /// Shipped templates have no API versions.
    #[error("`{0}` is a shipped file template; it has no API versions")]
    NoVersions(String),
    /// The account (by external id, or `#id`) does not exist.
    #[error("no account `{0}`")]
    AccountNotFound(String),
    /// Shipped templates are changed in their files, never through the service.
    #[error(
        "`{0}` is shipped in the templates folder and is read-only here; change the file, \
         or create a template with another id"
    )]
    ReadOnly(String),
    #[error("a template `{0}` exists")]
    AlreadyExists(String),
    /// Another writer stored a version after `read` was read: the change was not applied.
    #[error(
        "`{id}` changed while this request ran (it is no longer at version {read}); \
         read it again and retry"
    )]
    VersionConflict { id: String, read: i32 },
    /// The chosen template failed with this data (the part's file and line).
    #[error("{0}")]
    RenderFailed(super::Problem),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

impl ContentError {
    /// One invalid field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        ContentError::Invalid(vec![FieldError::new(path, message)])
    }
}

/// `Ok` when nothing was collected, else every collected problem at once.
pub(crate) fn check(errors: FieldErrors) -> Result<(), ContentError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ContentError::Invalid(errors.errors))
    }
}
