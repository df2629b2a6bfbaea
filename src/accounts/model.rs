//! Plain-data inputs and views for accounts, managers and dossier parts, and the parsing that
//! turns untrusted input into checked values. Used by the API and by the CSV/XLSX importers.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::DefaultSettings;
use crate::domain::input::{AmountInput, double_option, non_null};
use crate::domain::{
    Consent, CountryCode, Currency, Email, ExternalId, LanguageTag, Outcome, RelationshipKind,
    StakeholderRole, Timezone, multi_line, one_line, parse_date,
};
use crate::entities::{
    account, competitor, dossier_profile, manager, relationship_event, stakeholder,
};
use crate::error::FieldErrors;

/// Trimmed text of at most `max` characters. One-line fields (names, titles, phones) refuse
/// every control character; multi-line ones (notes, reasons, products) keep line breaks and tabs.
fn text(
    errors: &mut FieldErrors,
    field: &str,
    raw: &str,
    max: usize,
    lines: Lines,
) -> Option<String> {
    let s = raw.trim();
    if s.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
        return None;
    }
    let checked = match lines {
        Lines::One => one_line(s),
        Lines::Many => multi_line(s),
    };
    errors.check(field, checked)?;
    Some(s.to_string())
}

/// Whether a text field may hold line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// Optional text: empty means "no value".
fn opt_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    max: usize,
    lines: Lines,
) -> Option<String> {
    text(errors, field, raw?, max, lines).filter(|s| !s.is_empty())
}

/// A required one-line field.
fn required_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    match raw.map(str::trim) {
        None | Some("") => {
            errors.push(field, "is required");
            None
        }
        Some(s) => text(errors, field, s, max, Lines::One),
    }
}

// ---------------------------------------------------------------- managers

/// Fields of a key account manager. On create `email` and `name` are required; on PATCH every
/// field is optional and `null` clears an optional one.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerInput {
    #[serde(default, deserialize_with = "non_null")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Where this manager's alerts are posted (http/https URL).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
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
    pub fn parse(&self, creating: bool, errors: &mut FieldErrors) -> ManagerDraft {
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
                    Some(u) => errors.check("webhook_url", parse_http_url(u)),
                },
            );
        }
        d
    }
}

fn parse_http_url(raw: &str) -> Result<String, String> {
    match url::Url::parse(raw) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {
            Ok(u.to_string())
        }
        _ => Err(format!("`{raw}` is not an http(s) URL")),
    }
}

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

// ---------------------------------------------------------------- accounts

/// Fields of a key account. On create `external_id` and `name` are required (`timezone` and
/// `currency` default from config); on PATCH every field is optional, `null` clears an optional
/// one, and `external_id` cannot change.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Stable id from your CRM/ERP; unique; used in URLs.
    #[serde(default, deserialize_with = "non_null")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    /// ISO 3166-1 alpha-2 code, e.g. `VN`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
    /// IANA timezone, e.g. `Asia/Ho_Chi_Minh`.
    #[serde(default, deserialize_with = "non_null")]
    pub timezone: Option<String>,
    /// ISO 4217 code, e.g. `VND`.
    #[serde(default, deserialize_with = "non_null")]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub manager_id: Option<Option<i64>>,
    /// Famous name, leader of its sector (set by people).
    #[serde(default, deserialize_with = "non_null")]
    pub image_maker: Option<bool>,
    /// Demanding, knows the market (set by people).
    #[serde(default, deserialize_with = "non_null")]
    pub expert: Option<bool>,
    /// Budget (for prospects) in the account's currency, as a decimal string or number.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "250000.00")]
    pub budget: Option<Option<AmountInput>>,
    /// Free-form JSON object of your own fields.
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "non_null")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
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

impl From<&crate::entities::account_snapshot::Model> for AnalyticsSummary {
    fn from(s: &crate::entities::account_snapshot::Model) -> Self {
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

pub fn format_money(currency: &str, minor: i64) -> String {
    format_total(currency, i128::from(minor))
}

/// [`format_money`] for a total of many amounts (which may exceed an `i64`).
pub fn format_total(currency: &str, minor: i128) -> String {
    match Currency::parse(currency) {
        Ok(c) => crate::domain::format_wide_decimal(minor, c.exponent()),
        Err(_) => minor.to_string(),
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
        }
    }
}

// ---------------------------------------------------------------- profile

/// The account's profile; PUT replaces it whole.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub description: Option<String>,
    pub employees: Option<i32>,
    pub founded_year: Option<i32>,
    /// Company history.
    pub history: Option<String>,
    /// Organisational structure.
    pub org_structure: Option<String>,
    /// Business environment: market, regulation, partners.
    pub business_environment: Option<String>,
}

impl ProfileInput {
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

// ---------------------------------------------------------------- relationship history

/// One entry of the relationship history (delivery, tender, meeting, complaint, proposal…).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipEventInput {
    #[schema(value_type = Option<RelationshipKind>)]
    #[serde(default, deserialize_with = "non_null")]
    pub kind: Option<String>,
    /// Date, `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "non_null")]
    pub occurred_on: Option<String>,
    /// Value in the account's currency.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub value: Option<Option<AmountInput>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Outcome>)]
    pub outcome: Option<Option<String>>,
    /// Why it was won or lost.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Default)]
pub struct RelationshipEventDraft {
    pub kind: Option<String>,
    pub occurred_on: Option<NaiveDate>,
    pub value_minor: Option<Option<i64>>,
    pub outcome: Option<Option<String>>,
    pub reason: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

impl RelationshipEventInput {
    pub fn parse(
        &self,
        creating: bool,
        currency: &str,
        errors: &mut FieldErrors,
    ) -> RelationshipEventDraft {
        let mut d = RelationshipEventDraft::default();
        match &self.kind {
            Some(k) => {
                d.kind = errors
                    .check("kind", RelationshipKind::parse(k))
                    .map(|k| k.as_str().into())
            }
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
                    Some(o) => errors
                        .check("outcome", Outcome::parse(o))
                        .map(|o| o.as_str().into()),
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

// ---------------------------------------------------------------- stakeholders

/// A person in the account's decision map.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StakeholderInput {
    /// Stable id from your CRM; derived from the account and e-mail (or name) when omitted.
    #[serde(default, deserialize_with = "non_null")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[schema(value_type = Option<StakeholderRole>)]
    #[serde(default, deserialize_with = "non_null")]
    pub role: Option<String>,
    /// 1 (little) to 5 (decisive); default 3.
    #[serde(default, deserialize_with = "non_null")]
    pub influence: Option<i64>,
    /// Preferred language (BCP 47), e.g. `vi`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    #[schema(value_type = Option<Consent>)]
    #[serde(default, deserialize_with = "non_null")]
    pub consent: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct StakeholderDraft {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub title: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub role: Option<String>,
    pub influence: Option<i16>,
    pub language: Option<Option<String>>,
    pub consent: Option<String>,
}

impl StakeholderInput {
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
            Some(r) => {
                d.role = errors
                    .check("role", StakeholderRole::parse(r))
                    .map(|r| r.as_str().into())
            }
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
            Some(c) => {
                d.consent = errors
                    .check("consent", Consent::parse(c))
                    .map(|c| c.as_str().into())
            }
            None if creating => d.consent = Some(Consent::Unknown.as_str().into()),
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

/// A short, deterministic id derived from content (`<tag>-<hex>`), for rows that come without
/// an external id, so re-importing the same data finds the same rows.
pub fn derive_id(basis: &str, tag: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(basis.as_bytes());
    format!("{tag}-{}", hex::encode(&digest[..12]))
}

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

// ---------------------------------------------------------------- competitors

/// A competitor courting the account.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompetitorInput {
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub products: Option<Option<String>>,
    /// How strong their position at the account is, 1 (weak) to 5 (entrenched).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub strength: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Default)]
pub struct CompetitorDraft {
    pub name: Option<String>,
    pub products: Option<Option<String>>,
    pub strength: Option<Option<i16>>,
    pub notes: Option<Option<String>>,
}

impl CompetitorInput {
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

/// Everything known about one account.
#[derive(Debug, Serialize, ToSchema)]
pub struct DossierView {
    pub account: AccountView,
    pub manager: Option<ManagerView>,
    pub profile: ProfileView,
    pub relationship_history: Vec<RelationshipEventView>,
    pub stakeholders: Vec<StakeholderView>,
    pub competitors: Vec<CompetitorView>,
}
