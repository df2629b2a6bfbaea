//! Stakeholders: the people in the account's decision map, with role, influence, language and
//! marketing consent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::derived_id::derive_id;
use super::text::{Lines, opt_text, required_text};
use crate::domain::input::{double_option, non_null};
use crate::domain::validation::FieldErrors;
use crate::domain::{Consent, Email, ExternalId, LanguageTag, StakeholderRole};
use crate::entities::stakeholder;

/// A person in the account's decision map.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StakeholderInput {
    /// Stable id from your CRM; derived from the account and e-mail (or name) when omitted.
    /// Unique; cannot change.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = ExternalId)]
    pub external_id: Option<String>,
    /// One line, at most 200 characters once trimmed.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// One line, at most 200 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub title: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Email>)]
    pub email: Option<Option<String>>,
    /// One line, at most 50 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub phone: Option<Option<String>>,
    /// The role in the decision map (any case).
    #[schema(value_type = StakeholderRole, required = true)]
    #[serde(default, deserialize_with = "non_null")]
    pub role: Option<String>,
    /// 1 (little) to 5 (decisive); default 3.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = i64, minimum = 1, maximum = 5)]
    pub influence: Option<i64>,
    /// Preferred language (BCP 47), e.g. `vi`; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LanguageTag>)]
    pub language: Option<Option<String>>,
    /// Consent to marketing mail (any case); default `unknown`.
    #[schema(value_type = Consent)]
    #[serde(default, deserialize_with = "non_null")]
    pub consent: Option<String>,
}

/// Checked stakeholder fields; `None` means "leave unchanged". Role and consent are typed
/// here and stored as their snake_case names.
#[derive(Debug, Default, Clone)]
pub struct StakeholderDraft {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub title: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub role: Option<StakeholderRole>,
    pub influence: Option<i16>,
    pub language: Option<Option<String>>,
    pub consent: Option<Consent>,
}

impl StakeholderInput {
    /// Checks the input; `creating` requires `name` and `role`, defaults influence to 3 and
    /// consent to `unknown`, and derives the external id from the account and e-mail (or name)
    /// when none is given, so re-sending the same person finds the same row.
    pub fn parse(
        &self,
        creating: bool,
        account_external_id: &str,
        errors: &mut FieldErrors,
    ) -> StakeholderDraft {
        let mut d = StakeholderDraft::default();
        if creating || self.name.is_some() {
            d.name = required_text(errors, "name", self.name.as_deref(), 200);
        }
        if let Some(v) = &self.title {
            d.title = Some(opt_text(errors, "title", v.as_deref(), 200, Lines::One));
        }
        if let Some(v) = &self.email {
            d.email = Some(
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(e) => errors.check("email", Email::parse(e).map(|e| e.into_string())),
                },
            );
        }
        if let Some(v) = &self.phone {
            d.phone = Some(opt_text(errors, "phone", v.as_deref(), 50, Lines::One));
        }
        match &self.role {
            Some(r) => d.role = errors.check("role", StakeholderRole::parse(r)),
            None if creating => errors.push("role", "is required"),
            None => {}
        }
        match self.influence {
            Some(i) if (1..=5).contains(&i) => d.influence = Some(i as i16),
            Some(_) => errors.push("influence", "must be between 1 and 5"),
            None if creating => d.influence = Some(3),
            None => {}
        }
        if let Some(v) = &self.language {
            d.language = Some(
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(l) => {
                        errors.check("language", LanguageTag::parse(l).map(|l| l.into_string()))
                    }
                },
            );
        }
        match &self.consent {
            Some(c) => d.consent = errors.check("consent", Consent::parse(c)),
            None if creating => d.consent = Some(Consent::Unknown),
            None => {}
        }
        if creating {
            d.external_id = match self
                .external_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                Some(e) => {
                    errors.check("external_id", ExternalId::parse(e).map(|e| e.into_string()))
                }
                None => {
                    let basis = d
                        .email
                        .clone()
                        .flatten()
                        .map(|e| e.to_lowercase())
                        .or_else(|| d.name.as_ref().map(|n| n.to_lowercase()));
                    basis.map(|b| derive_id(&format!("{account_external_id}\u{1f}{b}"), "s"))
                }
            };
        } else if self.external_id.is_some() {
            errors.push("external_id", "cannot be changed");
        }
        d
    }
}

/// A stakeholder as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StakeholderView {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub influence: i16,
    pub language: Option<String>,
    pub consent: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<stakeholder::Model> for StakeholderView {
    fn from(s: stakeholder::Model) -> Self {
        Self {
            id: s.id,
            external_id: s.external_id,
            name: s.name,
            title: s.title,
            email: s.email,
            phone: s.phone,
            role: s.role,
            influence: s.influence,
            language: s.language,
            consent: s.consent,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Filters for an account's stakeholders.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StakeholderFilter {
    /// Only this role (e.g. `decision_maker`).
    #[param(pattern = r"^[^\u0000]*$")]
    pub role: Option<String>,
    /// Only this consent status.
    #[param(pattern = r"^[^\u0000]*$")]
    pub consent: Option<String>,
    /// Case-insensitive search in name, title and e-mail (at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
}
