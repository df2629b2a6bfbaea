//! Key accounts: the fields a client sends, their checked form, the view, and the summary of
//! the latest analysis shown with a single account.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::format_money;
use super::text::{Lines, opt_text, required_text};
use crate::config::DefaultSettings;
use crate::domain::input::{AmountInput, double_option, non_null};
use crate::domain::schema::Amount;
use crate::domain::validation::FieldErrors;
use crate::domain::{CountryCode, Currency, ExternalId, Timezone};
use crate::entities::{account, account_snapshot};

/// Fields of a key account. On create `external_id` and `name` are required (`timezone` and
/// `currency` default from config); on PATCH every field is optional, `null` clears an optional
/// one, and `external_id` cannot change. Changing the currency is refused while a budget is
/// stored and not sent again, or while relationship entries carry values.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Stable id from your CRM/ERP; unique; used in URLs.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = ExternalId, required = true)]
    pub external_id: Option<String>,
    /// One line, at most 300 characters once trimmed.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 300,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// One line, at most 100 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub industry: Option<Option<String>>,
    /// One line, at most 100 characters; empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub region: Option<Option<String>>,
    /// ISO 3166-1 alpha-2 code, e.g. `VN` (any case); empty or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CountryCode>)]
    pub country: Option<Option<String>>,
    /// IANA timezone, e.g. `Asia/Ho_Chi_Minh`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Timezone)]
    pub timezone: Option<String>,
    /// ISO 4217 code, e.g. `VND` (any case).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Currency)]
    pub currency: Option<String>,
    /// The account's manager, who must exist.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub manager_id: Option<Option<i64>>,
    /// Famous name, leader of its sector (set by people).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = bool)]
    pub image_maker: Option<bool>,
    /// Demanding, knows the market (set by people).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = bool)]
    pub expert: Option<bool>,
    /// Budget (for prospects) in the account's currency (the one sent with it, if any), as a
    /// decimal string or number; not negative.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Amount>)]
    pub budget: Option<Option<AmountInput>>,
    /// Free-form JSON object of your own fields, without NUL characters.
    #[schema(schema_with = attributes_schema)]
    #[serde(default, deserialize_with = "non_null")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The schema of `attributes`: an object of text, numbers and booleans. The server also takes
/// nested arrays and objects (and numbers of any size JSON can hold), without NUL anywhere.
fn attributes_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
    let value = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Number,
            Type::Boolean,
            Type::Null,
        ]))
        .pattern(Some(crate::domain::schema::NO_NUL))
        .minimum(Some(-1e15))
        .maximum(Some(1e15));
    ObjectBuilder::new()
        .description(Some(
            "Free-form JSON object of your own fields (text, numbers, booleans; nested arrays \
             and objects are accepted too), without NUL characters.",
        ))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::domain::schema::NO_NUL)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .build()
}

/// Checked account fields; `None` means "leave unchanged".
#[derive(Debug, Default, Clone)]
pub struct AccountDraft {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub industry: Option<Option<String>>,
    pub region: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub timezone: Option<String>,
    pub currency: Option<String>,
    pub manager_id: Option<Option<i64>>,
    pub image_maker: Option<bool>,
    pub expert: Option<bool>,
    pub budget_minor: Option<Option<i64>>,
    pub attributes: Option<serde_json::Value>,
}

impl AccountInput {
    /// Parses the input. `current_currency` is the stored currency on update (budgets are in it
    /// unless the same request changes the currency).
    pub fn parse(
        &self,
        creating: bool,
        defaults: &DefaultSettings,
        current_currency: Option<&str>,
        errors: &mut FieldErrors,
    ) -> AccountDraft {
        let mut d = AccountDraft::default();
        if creating {
            d.external_id = match &self.external_id {
                None => {
                    errors.push("external_id", "is required");
                    None
                }
                Some(e) => {
                    errors.check("external_id", ExternalId::parse(e).map(|e| e.into_string()))
                }
            };
        } else if self.external_id.is_some() {
            errors.push(
                "external_id",
                "cannot be changed; it identifies the account",
            );
        }
        if creating || self.name.is_some() {
            d.name = required_text(errors, "name", self.name.as_deref(), 300);
        }
        if let Some(v) = &self.industry {
            d.industry = Some(opt_text(errors, "industry", v.as_deref(), 100, Lines::One));
        }
        if let Some(v) = &self.region {
            d.region = Some(opt_text(errors, "region", v.as_deref(), 100, Lines::One));
        }
        if let Some(v) = &self.country {
            d.country = Some(
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(c) => {
                        errors.check("country", CountryCode::parse(c).map(|c| c.into_string()))
                    }
                },
            );
        }
        d.timezone = match &self.timezone {
            Some(tz) => errors.check(
                "timezone",
                Timezone::parse(tz).map(|t| t.name().to_string()),
            ),
            None if creating => Some(defaults.timezone.name().to_string()),
            None => None,
        };
        let currency = match &self.currency {
            Some(c) => errors.check("currency", Currency::parse(c)),
            None if creating => Some(defaults.currency),
            None => current_currency.and_then(|c| Currency::parse(c).ok()),
        };
        if self.currency.is_some() || creating {
            d.currency = currency.map(|c| c.code().to_string());
        }
        d.manager_id = self.manager_id;
        d.image_maker = self.image_maker.or(creating.then_some(false));
        d.expert = self.expert.or(creating.then_some(false));
        if let Some(b) = &self.budget {
            d.budget_minor = Some(match b {
                None => None,
                Some(amount) => match currency {
                    Some(c) => match c.parse_amount(&amount.0) {
                        Ok(v) if v < 0 => {
                            errors.push("budget", "must not be negative");
                            None
                        }
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.push("budget", e);
                            None
                        }
                    },
                    None => None,
                },
            });
        }
        if let Some(map) = &self.attributes {
            for (key, value) in map {
                if key.contains('\0') || holds_nul(value) {
                    errors.push(
                        &format!("attributes/{}", key.replace('~', "~0").replace('/', "~1")),
                        "must not contain NUL (U+0000) characters",
                    );
                }
            }
        }
        d.attributes = match &self.attributes {
            Some(map) => Some(serde_json::Value::Object(map.clone())),
            None if creating => Some(serde_json::Value::Object(Default::default())),
            None => None,
        };
        d
    }
}

/// Whether a JSON value holds NUL anywhere (PostgreSQL's `json` type cannot store it).
fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// An account as the API returns it; `budget` in the account's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub timezone: String,
    pub currency: String,
    pub manager_id: Option<i64>,
    pub image_maker: bool,
    pub expert: bool,
    /// Decimal string in the account's currency.
    pub budget: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest analysis of the account (single-account reads only; full detail and
    /// history at `/accounts/{external_id}/analytics`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsSummary>,
    /// The engagement score, per stakeholder and explained (in the single-account view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement: Option<crate::tracking::engagement::Engagement>,
}

/// The classes of the latest analysis run.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsSummary {
    pub run_id: i64,
    pub as_of: NaiveDate,
    pub abc: Option<String>,
    pub xyz: Option<String>,
    pub types: Vec<String>,
    pub lost: bool,
    pub p_alive: Option<f64>,
    pub three_p_score: Option<i16>,
}

impl From<&account_snapshot::Model> for AnalyticsSummary {
    fn from(s: &account_snapshot::Model) -> Self {
        Self {
            run_id: s.run_id,
            as_of: s.as_of,
            abc: s.abc.clone(),
            xyz: s.xyz.clone(),
            types: s
                .types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            lost: s.lost,
            p_alive: s.p_alive,
            three_p_score: s.three_p_score,
        }
    }
}

impl From<account::Model> for AccountView {
    fn from(a: account::Model) -> Self {
        Self {
            budget: a.budget_minor.map(|b| format_money(&a.currency, b)),
            id: a.id,
            external_id: a.external_id,
            name: a.name,
            industry: a.industry,
            region: a.region,
            country: a.country,
            timezone: a.timezone,
            currency: a.currency,
            manager_id: a.manager_id,
            image_maker: a.image_maker,
            expert: a.expert,
            attributes: a.attributes,
            created_at: a.created_at,
            updated_at: a.updated_at,
            analytics: None,
            engagement: None,
        }
    }
}

/// Filters for the account list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Only accounts of this manager.
    pub manager_id: Option<i64>,
    /// Exact industry.
    #[param(pattern = r"^[^\u0000]*$")]
    pub industry: Option<String>,
    /// Exact region.
    #[param(pattern = r"^[^\u0000]*$")]
    pub region: Option<String>,
    /// ISO country code.
    #[param(pattern = r"^[^\u0000]*$")]
    pub country: Option<String>,
    /// Case-insensitive text search in name and external id (at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
}
