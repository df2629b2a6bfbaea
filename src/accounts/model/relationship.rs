//! The relationship history: deliveries, tenders, meetings, complaints, proposals… with their
//! value and outcome.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::format_money;
use super::text::{Lines, opt_text};
use crate::domain::input::{AmountInput, double_option, non_null};
use crate::domain::schema::{BusinessDate, SignedAmount};
use crate::domain::validation::FieldErrors;
use crate::domain::{Currency, Outcome, RelationshipKind, parse_date};
use crate::entities::relationship_event;

/// One entry of the relationship history (delivery, tender, meeting, complaint, proposal…).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipEventInput {
    /// What happened (any case).
    #[schema(value_type = RelationshipKind, required = true)]
    #[serde(default, deserialize_with = "non_null")]
    pub kind: Option<String>,
    /// Date, `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = BusinessDate, required = true)]
    pub occurred_on: Option<String>,
    /// Value in the account's currency, as a decimal string or number; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<SignedAmount>)]
    pub value: Option<Option<AmountInput>>,
    /// Result (any case); empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Outcome>)]
    pub outcome: Option<Option<String>>,
    /// Why it was won or lost: at most 10,000 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub reason: Option<Option<String>>,
    /// At most 100,000 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub notes: Option<Option<String>>,
}

/// Checked relationship-event fields; `None` means "leave unchanged". Kind and outcome are
/// typed here and stored as their snake_case names.
#[derive(Debug, Default)]
pub struct RelationshipEventDraft {
    pub kind: Option<RelationshipKind>,
    pub occurred_on: Option<NaiveDate>,
    pub value_minor: Option<Option<i64>>,
    pub outcome: Option<Option<Outcome>>,
    pub reason: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

impl RelationshipEventInput {
    /// Checks the input; `creating` requires `kind` and `occurred_on`. A value is parsed in the
    /// account's `currency` (its decimals).
    pub fn parse(
        &self,
        creating: bool,
        currency: &str,
        errors: &mut FieldErrors,
    ) -> RelationshipEventDraft {
        let mut d = RelationshipEventDraft::default();
        match &self.kind {
            Some(k) => d.kind = errors.check("kind", RelationshipKind::parse(k)),
            None if creating => errors.push("kind", "is required"),
            None => {}
        }
        match &self.occurred_on {
            Some(v) => d.occurred_on = errors.check("occurred_on", parse_date(v)),
            None if creating => errors.push("occurred_on", "is required"),
            None => {}
        }
        if let Some(v) = &self.value {
            d.value_minor = Some(match v {
                None => None,
                Some(a) => errors.check(
                    "value",
                    Currency::parse(currency).and_then(|c| c.parse_amount(&a.0)),
                ),
            });
        }
        if let Some(v) = &self.outcome {
            d.outcome = Some(
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(o) => errors.check("outcome", Outcome::parse(o)),
                },
            );
        }
        if let Some(v) = &self.reason {
            d.reason = Some(opt_text(
                errors,
                "reason",
                v.as_deref(),
                10_000,
                Lines::Many,
            ));
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

/// One relationship-history entry as the API returns it; `value` in the account's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationshipEventView {
    pub id: i64,
    pub kind: String,
    pub occurred_on: NaiveDate,
    pub value: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RelationshipEventView {
    /// The view of a stored entry; `currency` is the account's, in which the value is stored.
    pub fn new(e: relationship_event::Model, currency: &str) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            occurred_on: e.occurred_on,
            value: e.value_minor.map(|v| format_money(currency, v)),
            outcome: e.outcome,
            reason: e.reason,
            notes: e.notes,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Filters for an account's relationship history.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only entries of this kind (e.g. `tender`).
    #[param(pattern = r"^[^\u0000]*$")]
    pub kind: Option<String>,
    /// Only entries with this outcome (`won`, `lost`, `pending`).
    #[param(pattern = r"^[^\u0000]*$")]
    pub outcome: Option<String>,
}
