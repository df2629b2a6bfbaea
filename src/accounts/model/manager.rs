//! Key account managers: the fields a client sends, their checked form, and the view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{Lines, opt_text, required_text};
use crate::domain::Email;
use crate::domain::input::{double_option, non_null};
use crate::domain::schema::HttpUrl;
use crate::domain::validation::FieldErrors;
use crate::domain::webhook_url;
use crate::entities::manager;

/// Fields of a key account manager. On create `email` and `name` are required; on PATCH every
/// field is optional and `null` clears an optional one.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerInput {
    /// Unique among managers (compared in lower case).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Email, required = true)]
    pub email: Option<String>,
    /// One line, at most 200 characters once trimmed.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// One line, at most 50 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub phone: Option<Option<String>>,
    /// Where this manager's alerts are posted (http/https URL, at most 1,000 characters, not a
    /// private, loopback or link-local address unless `webhooks.allow_private`); empty or
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<HttpUrl>)]
    pub webhook_url: Option<Option<String>>,
}

/// Checked manager fields; `None` means "leave unchanged".
#[derive(Debug, Default)]
pub struct ManagerDraft {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub webhook_url: Option<Option<String>>,
}

impl ManagerInput {
    /// Checks the input; `creating` requires `email` and `name`. E-mail addresses are
    /// lower-cased so that one address names one manager. `webhook_url` may point at a private
    /// address only when `allow_private` (`webhooks.allow_private`).
    pub fn parse(
        &self,
        creating: bool,
        allow_private: bool,
        errors: &mut FieldErrors,
    ) -> ManagerDraft {
        let mut d = ManagerDraft::default();
        if creating || self.email.is_some() {
            d.email = match self.email.as_deref().map(str::trim) {
                None | Some("") => {
                    errors.push("email", "is required");
                    None
                }
                Some(e) => {
                    errors.check("email", Email::parse(e).map(|e| e.as_str().to_lowercase()))
                }
            };
        }
        if creating || self.name.is_some() {
            d.name = required_text(errors, "name", self.name.as_deref(), 200);
        }
        if let Some(p) = &self.phone {
            d.phone = Some(opt_text(errors, "phone", p.as_deref(), 50, Lines::One));
        }
        if let Some(w) = &self.webhook_url {
            d.webhook_url = Some(
                match w.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(u) => errors.check(
                        "webhook_url",
                        webhook_url::parse(u, allow_private).map(String::from),
                    ),
                },
            );
        }
        d
    }
}

/// A manager as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagerView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<manager::Model> for ManagerView {
    fn from(m: manager::Model) -> Self {
        Self {
            id: m.id,
            email: m.email,
            name: m.name,
            phone: m.phone,
            webhook_url: m.webhook_url,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Filters for the manager list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ManagerFilter {
    /// Case-insensitive search in name and e-mail (at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
}
