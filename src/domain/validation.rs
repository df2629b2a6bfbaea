//! Field-level validation problems, as plain data: every part collects them while parsing its
//! input, and the HTTP edge (`crate::error`) or the CLI turns them into messages.

use serde::Serialize;

/// One problem with one input field. `path` is a JSON Pointer (`/orders/3/amount`) for API
/// bodies, or the query parameter / header name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while parsing an input, so that all problems are reported at once.
#[derive(Debug, Default)]
pub struct FieldErrors {
    prefix: String,
    pub errors: Vec<FieldError>,
}

impl FieldErrors {
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(
            format!("{}/{}", self.prefix, field),
            message,
        ));
    }

    /// Records the error of `result` under `field` and returns the value when it parsed.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(m) => {
                self.push(field, m);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}
