//! Competitors courting the account: who, with which products, how strong.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{Lines, opt_text, required_text};
use crate::domain::input::{double_option, non_null};
use crate::domain::validation::FieldErrors;
use crate::entities::competitor;

/// A competitor courting the account.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompetitorInput {
    /// One line, at most 200 characters once trimmed.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// At most 10,000 characters (line breaks and tabs allowed); empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub products: Option<Option<String>>,
    /// How strong their position at the account is, 1 (weak) to 5 (entrenched).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 5)]
    pub strength: Option<Option<i64>>,
    /// At most 100,000 characters (line breaks and tabs allowed); empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub notes: Option<Option<String>>,
}

/// Checked competitor fields; `None` means "leave unchanged".
#[derive(Debug, Default)]
pub struct CompetitorDraft {
    pub name: Option<String>,
    pub products: Option<Option<String>>,
    pub strength: Option<Option<i16>>,
    pub notes: Option<Option<String>>,
}

impl CompetitorInput {
    /// Checks the input; `creating` requires `name`.
    pub fn parse(&self, creating: bool, errors: &mut FieldErrors) -> CompetitorDraft {
        let mut d = CompetitorDraft::default();
        if creating || self.name.is_some() {
            d.name = required_text(errors, "name", self.name.as_deref(), 200);
        }
        if let Some(v) = &self.products {
            d.products = Some(opt_text(
                errors,
                "products",
                v.as_deref(),
                10_000,
                Lines::Many,
            ));
        }
        if let Some(v) = self.strength {
            d.strength = Some(match v {
                None => None,
                Some(s) if (1..=5).contains(&s) => Some(s as i16),
                Some(_) => {
                    errors.push("strength", "must be between 1 and 5");
                    None
                }
            });
        }
        if let Some(v) = &self.notes {
            d.notes = Some(opt_text(
                errors,
                "notes",
                v.as_deref(),
                100_000,
                Lines::Many,
            ));
        }
        d
    }
}

/// A competitor as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompetitorView {
    pub id: i64,
    pub name: String,
    pub products: Option<String>,
    pub strength: Option<i16>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<competitor::Model> for CompetitorView {
    fn from(c: competitor::Model) -> Self {
        Self {
            id: c.id,
            name: c.name,
            products: c.products,
            strength: c.strength,
            notes: c.notes,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Filters for an account's competitors.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompetitorFilter {
    /// Case-insensitive search in name and products (at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
}
