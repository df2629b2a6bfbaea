//! Every way a campaigns operation can fail. Services return this; only `campaigns::routes`
//! turns it into statuses and problem codes.

use sea_orm::DbErr;

use super::model::CampaignStatus;
use crate::content::error::ContentError;
use crate::domain::validation::FieldError;

/// Why a campaign, an enrolment, a task or a preview could not be read, changed or run.
#[derive(Debug, thiserror::Error)]
pub enum CampaignsError {
    /// The input has these problems (each names its field as a JSON pointer); nothing changed.
    #[error("the input has invalid fields")]
    Invalid(Vec<FieldError>),
    /// Activation (or resume) found these problems, each naming the step and the reason.
    #[error("the campaign cannot be activated")]
    NotActivatable(Vec<FieldError>),
    #[error("no campaign `{}`", crate::domain::shorten(.0, 100))]
    NotFound(String),
    #[error("a campaign with key `{0}` exists")]
    AlreadyExists(String),
    /// The change is not allowed in the campaign's status.
    #[error("campaign `{key}` is {status}: {action} needs {needs}")]
    WrongStatus {
        key: String,
        status: CampaignStatus,
        action: &'static str,
        needs: &'static str,
    },
    /// Another change of the same campaign won.
    #[error("campaign `{0}` was changed at the same time; read it again and retry")]
    Conflict(String),
    #[error("no {0} with id {1}")]
    Missing(&'static str, i64),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl CampaignsError {
    /// One field problem.
    pub fn field(path: &str, message: impl Into<String>) -> Self {
        CampaignsError::Invalid(vec![FieldError::new(path, message)])
    }
}
