//! One error type for the HTTP boundary, mapped explicitly to `application/problem+json`
//! (RFC 9457). Clients get a stable `code` and a human `detail`; internal causes go to the
//! log only, and an unexpected error is an opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::validation::{FieldError, FieldErrors};

impl FieldErrors {
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Every way an API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("a valid API token is required")]
    Unauthorized,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the database is not reachable")]
    Unavailable(#[source] anyhow::Error),
    #[error("the database is busy with other writes; retry shortly")]
    Busy(#[source] anyhow::Error),
    /// Work that runs one at a time is running elsewhere: 503 with `Retry-After`.
    #[error("{detail}")]
    Contended { code: &'static str, detail: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The problem+json document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference identifying the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`.
    pub code: String,
    /// Field-level problems, present for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(path, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy(_) => "busy",
            ApiError::Contended { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "Validation failed",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::NotFound(_) => "Not found",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Busy(_) | ApiError::Contended { .. } => "Busy",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let detail = match self {
            ApiError::Validation(errors) if errors.len() == 1 => {
                format!("{}: {}", errors[0].path, errors[0].message)
            }
            ApiError::Validation(errors) => format!("{} fields are invalid", errors.len()),
            other => other.to_string(),
        };
        Problem {
            kind: format!(
                "https://abm.invalid/problems/{}",
                self.code().replace('_', "-")
            ),
            title: self.title().to_string(),
            status: self.status_code().as_u16(),
            detail,
            code: self.code().to_string(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::Busy(_) | ApiError::Contended { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(e) | ApiError::Unavailable(e) => {
                tracing::error!(error = ?e, "request failed");
            }
            ApiError::Busy(e) => tracing::warn!(error = %e, "database contention"),
            _ => {}
        }
        problem_response(self.status_code(), &self.to_problem())
    }
}

/// Builds a problem+json response; also used by middleware that answers before a handler.
pub fn problem_response(status: StatusCode, problem: &Problem) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(problem);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
            return ApiError::Conflict {
                code: "already_exists",
                detail: "a record with the same unique key already exists".into(),
            };
        }
        if crate::db::is_contention(&e) {
            return ApiError::Busy(e.into());
        }
        if crate::db::is_unstorable_text(&e) {
            return ApiError::BadRequest("text must not contain NUL (U+0000) characters".into());
        }
        ApiError::Internal(e.into())
    }
}

impl From<crate::jobs::JobError> for ApiError {
    fn from(e: crate::jobs::JobError) -> Self {
        use crate::jobs::JobError;
        match e {
            JobError::UnknownJob(name) => {
                ApiError::NotFound(format!("there is no job named `{name}`"))
            }
            JobError::AlreadyActive(name) => ApiError::Conflict {
                code: "job_running",
                detail: format!("job `{name}` is already queued or running"),
            },
            JobError::Busy(name) => ApiError::Contended {
                code: "job_running",
                detail: format!(
                    "job `{name}` is running on another instance or request; retry shortly"
                ),
            },
            JobError::ShuttingDown => ApiError::Contended {
                code: "shutting_down",
                detail: "the service is shutting down; retry on another instance".into(),
            },
            JobError::Failed { run_id, message } => {
                ApiError::internal(anyhow::anyhow!("job run {run_id} failed: {message}"))
            }
            JobError::Database(e) => ApiError::from(e),
        }
    }
}
