//! The account's profile: description, size, history, structure and business environment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::multi_line;
use crate::domain::validation::FieldErrors;
use crate::entities::dossier_profile;

/// The account's profile; PUT replaces it whole. Texts hold at most 100,000 bytes (the
/// schema says 25,000 characters, which always fit), with line breaks and tabs but no other
/// control characters.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[schema(
        max_length = 25000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: Option<String>,
    #[schema(minimum = 0)]
    pub employees: Option<i32>,
    #[schema(minimum = 1000, maximum = 2100)]
    pub founded_year: Option<i32>,
    /// Company history.
    #[schema(
        max_length = 25000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub history: Option<String>,
    /// Organisational structure.
    #[schema(
        max_length = 25000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub org_structure: Option<String>,
    /// Business environment: market, regulation, partners.
    #[schema(
        max_length = 25000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub business_environment: Option<String>,
}

impl ProfileInput {
    /// Records every problem (negative size, implausible year, over-long or control-character
    /// text); the input itself is stored as given.
    pub fn validate(&self, errors: &mut FieldErrors) {
        if let Some(e) = self.employees
            && e < 0
        {
            errors.push("employees", "must not be negative");
        }
        if let Some(y) = self.founded_year
            && !(1000..=crate::domain::MAX_YEAR).contains(&y)
        {
            errors.push("founded_year", "must be a year between 1000 and 2100");
        }
        for (field, value) in [
            ("description", &self.description),
            ("history", &self.history),
            ("org_structure", &self.org_structure),
            ("business_environment", &self.business_environment),
        ] {
            match value.as_deref() {
                Some(v) if v.len() > 100_000 => errors.push(field, "must be at most 100000 bytes"),
                Some(v) => {
                    errors.check(field, multi_line(v));
                }
                None => {}
            }
        }
    }
}

/// The account's profile; every field null (and no `updated_at`) until one is written.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub description: Option<String>,
    pub employees: Option<i32>,
    pub founded_year: Option<i32>,
    pub history: Option<String>,
    pub org_structure: Option<String>,
    pub business_environment: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<Option<dossier_profile::Model>> for ProfileView {
    fn from(p: Option<dossier_profile::Model>) -> Self {
        match p {
            Some(p) => Self {
                description: p.description,
                employees: p.employees,
                founded_year: p.founded_year,
                history: p.history,
                org_structure: p.org_structure,
                business_environment: p.business_environment,
                updated_at: Some(p.updated_at),
            },
            None => Self {
                description: None,
                employees: None,
                founded_year: None,
                history: None,
                org_structure: None,
                business_environment: None,
                updated_at: None,
            },
        }
    }
}
