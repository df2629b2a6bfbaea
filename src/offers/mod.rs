//! Offers for win-back: what a lost key account is offered (a discount, a gift, special terms),
//! its value per class and type, how long an issued code stays valid, how often it may be
//! redeemed and whether others may use it. Definitions live at `/api/v1/offers`.

pub mod codes;
pub mod redeem;
pub mod routes;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::page::{Page, Paged, fetch_page};
use crate::domain::kinds::OfferKind;
use crate::domain::validation::FieldErrors;
use crate::entities::offer;
use crate::error::ApiError;

/// Decimals kept in a fixed discount amount or a cap (the account's currency may keep fewer:
/// the value is cut to them when a code is issued).
const AMOUNT_SCALE: u32 = 4;
/// The largest fixed amount, cap or gift cost: 10^12 currency units.
const MAX_AMOUNT: i64 = 1_000_000_000_000 * 10_000;
/// Most value rules per offer.
const MAX_RULES: usize = 50;
/// Longest code prefix.
pub const MAX_PREFIX: usize = 12;
/// The default code prefix.
pub const DEFAULT_PREFIX: &str = "WB";

/// The fields of [`Definition`]. Unknown fields are refused by [`check_fields`], not by serde:
/// `deny_unknown_fields` would make the schemas that flatten it (`OfferInput`, `OfferView`)
/// unsatisfiable.
pub const FIELDS: &[&str] = &[
    "name",
    "kind",
    "percent",
    "amount",
    "cap",
    "gift",
    "gift_cost",
    "terms",
    "description",
    "rules",
    "valid_days",
    "valid_until",
    "max_per_code",
    "max_per_account",
    "transferable",
    "code_prefix",
];

/// Refuses fields that are not an offer's (`key` is the caller's to take out first).
pub fn check_fields(body: &serde_json::Map<String, serde_json::Value>) -> Result<(), ApiError> {
    match body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            format!("/{}", crate::domain::shorten(k, 64)),
            "is not a field of an offer",
        )),
        None => Ok(()),
    }
}

/// An offer's definition, as written and as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Definition {
    /// One line, at most 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: OfferKind,
    /// A discount in percent (above 0, at most 100); or give `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub percent: Option<f64>,
    /// A fixed discount in the account's currency (a decimal string); or give `percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40)]
    pub amount: Option<String>,
    /// The most a percent discount gives, in the account's currency (a decimal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40)]
    pub cap: Option<String>,
    /// The gift (kind `gift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub gift: Option<String>,
    /// What one gift costs us, in the account's currency (a decimal string): the offer cost of
    /// the win-back report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40)]
    pub gift_cost: Option<String>,
    /// The special terms (kind `terms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub terms: Option<String>,
    /// Shown with the offer in messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Values by class and type (discounts): the first rule whose conditions all hold gives the
    /// value instead of `percent` / `amount`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ValueRule>,
    /// A code is valid this many days after it is issued; or give `valid_until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub valid_days: Option<u32>,
    /// Codes are valid until the end of this day (UTC); or give `valid_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    /// How often one code may be redeemed (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_per_code: u32,
    /// How often one account may redeem this offer, over all its codes (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_per_account: u32,
    /// Whether another account may redeem a code (default false: only the account it was
    /// issued to).
    #[serde(default)]
    pub transferable: bool,
    /// Codes start with this (1 to 12 capital letters or digits; default `WB`).
    #[serde(default = "default_prefix")]
    #[schema(min_length = 1, max_length = 12)]
    pub code_prefix: String,
}

fn one() -> u32 {
    1
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.into()
}

/// A value by class and type: conditions (at least one) and the value they give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueRule {
    /// The account's ABC class (`A`, `B`, `C`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1)]
    pub abc: Option<String>,
    /// The account's XYZ class (`X`, `Y`, `Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1)]
    pub xyz: Option<String>,
    /// An account type it has (`pillar`, `prospect`, `image_maker`, `expert`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20)]
    pub account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40)]
    pub amount: Option<String>,
}

/// An offer as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub key: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<offer::Model> for OfferView {
    type Error = ApiError;

    fn try_from(m: offer::Model) -> Result<Self, ApiError> {
        Ok(OfferView {
            definition: serde_json::from_value(m.definition).map_err(ApiError::internal)?,
            key: m.key,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// Checks a positive decimal amount of at most [`AMOUNT_SCALE`] decimals.
fn amount(errors: &mut FieldErrors, field: &str, raw: &Option<String>) {
    if let Some(raw) = raw {
        match crate::domain::parse_decimal(raw, AMOUNT_SCALE) {
            Ok(v) if v <= 0 => errors.push(field, "must be above 0"),
            Ok(v) if v > MAX_AMOUNT => errors.push(field, "is too large"),
            Ok(_) => {}
            Err(e) => errors.push(field, e),
        }
    }
}

fn percent(errors: &mut FieldErrors, field: &str, p: Option<f64>) {
    if let Some(p) = p
        && !(p.is_finite() && p > 0.0 && p <= 100.0)
    {
        errors.push(field, "must be above 0 and at most 100");
    }
}

fn text(errors: &mut FieldErrors, field: &str, v: &Option<String>, max: usize, one_line: bool) {
    if let Some(v) = v {
        if v.trim().is_empty() {
            errors.push(field, "must not be blank");
        } else if v.chars().count() > max {
            errors.push(field, format!("must be at most {max} characters"));
        } else if one_line {
            errors.check(field, crate::domain::one_line(v));
        } else {
            errors.check(field, crate::domain::multi_line(v));
        }
    }
}

impl Definition {
    /// Every problem of the definition, each under its field.
    pub fn check(&self, errors: &mut FieldErrors) {
        text(errors, "name", &Some(self.name.clone()), 200, true);
        percent(errors, "percent", self.percent);
        amount(errors, "amount", &self.amount);
        amount(errors, "cap", &self.cap);
        amount(errors, "gift_cost", &self.gift_cost);
        text(errors, "gift", &self.gift, 200, true);
        text(errors, "terms", &self.terms, 2000, false);
        text(errors, "description", &self.description, 2000, false);
        match self.kind {
            OfferKind::Discount => {
                if self.percent.is_some() == self.amount.is_some() {
                    errors.push("percent", "a discount gives either percent or amount");
                }
                if self.cap.is_some() && self.percent.is_none() {
                    errors.push("cap", "only a percent discount has a cap");
                }
            }
            OfferKind::Gift => {
                if self.gift.is_none() {
                    errors.push("gift", "a gift offer names the gift");
                }
            }
            OfferKind::Terms => {
                if self.terms.is_none() {
                    errors.push("terms", "a terms offer states the terms");
                }
            }
        }
        if self.kind != OfferKind::Discount {
            for (field, set) in [
                ("percent", self.percent.is_some()),
                ("amount", self.amount.is_some()),
                ("cap", self.cap.is_some()),
                ("rules", !self.rules.is_empty()),
            ] {
                if set {
                    errors.push(field, "only a discount has this");
                }
            }
        }
        if self.kind != OfferKind::Gift && self.gift_cost.is_some() {
            errors.push("gift_cost", "only a gift has this");
        }
        if self.rules.len() > MAX_RULES {
            errors.push("rules", format!("at most {MAX_RULES} rules"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules/{i}/{f}");
            if r.abc.is_none() && r.xyz.is_none() && r.account_type.is_none() {
                errors.push(&at("abc"), "a rule needs abc, xyz or type");
            }
            if r.abc
                .as_deref()
                .is_some_and(|c| !matches!(c, "A" | "B" | "C"))
            {
                errors.push(&at("abc"), "must be A, B or C");
            }
            if r.xyz
                .as_deref()
                .is_some_and(|c| !matches!(c, "X" | "Y" | "Z"))
            {
                errors.push(&at("xyz"), "must be X, Y or Z");
            }
            if r.account_type
                .as_deref()
                .is_some_and(|t| !matches!(t, "pillar" | "prospect" | "image_maker" | "expert"))
            {
                errors.push(
                    &at("type"),
                    "must be pillar, prospect, image_maker or expert",
                );
            }
            if r.percent.is_some() == r.amount.is_some() {
                errors.push(&at("percent"), "a rule gives either percent or amount");
            }
            percent(errors, &at("percent"), r.percent);
            amount(errors, &at("amount"), &r.amount);
        }
        if self.valid_days.is_some() == self.valid_until.is_some() {
            errors.push("valid_days", "give either valid_days or valid_until");
        }
        if self.valid_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            errors.push("valid_days", "must be between 1 and 3650");
        }
        for (field, v) in [
            ("max_per_code", self.max_per_code),
            ("max_per_account", self.max_per_account),
        ] {
            if !(1..=1_000_000).contains(&v) {
                errors.push(field, "must be between 1 and 1000000");
            }
        }
        if self.code_prefix.is_empty()
            || self.code_prefix.len() > MAX_PREFIX
            || !self
                .code_prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            errors.push(
                "code_prefix",
                format!("must be 1 to {MAX_PREFIX} capital letters or digits"),
            );
        }
    }
}

fn checked(d: Definition) -> Result<Definition, ApiError> {
    let mut errors = FieldErrors::with_prefix("");
    d.check(&mut errors);
    if errors.is_empty() {
        Ok(d)
    } else {
        Err(ApiError::Validation(errors.errors))
    }
}

fn not_found(key: &str) -> ApiError {
    ApiError::NotFound(format!(
        "offer `{}` not found",
        crate::domain::shorten(key, 100)
    ))
}

/// The offer `key`.
pub async fn find(db: &impl sea_orm::ConnectionTrait, key: &str) -> Result<offer::Model, ApiError> {
    offer::Entity::find()
        .filter(offer::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| not_found(key))
}

/// Stores a new offer; `409 offer_exists` when the key is taken.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    key: &str,
    d: Definition,
) -> Result<OfferView, ApiError> {
    let d = checked(d)?;
    let exists = || ApiError::Conflict {
        code: "offer_exists",
        detail: format!("an offer with the key `{key}` exists"),
    };
    let txn = crate::db::begin_write(db).await?;
    if offer::Entity::find()
        .filter(offer::Column::Key.eq(key))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(exists());
    }
    let m = offer::ActiveModel {
        key: Set(key.to_string()),
        kind: Set(d.kind.as_str().to_string()),
        definition: Set(serde_json::to_value(&d).map_err(ApiError::internal)?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        // Created at the same moment by another request (PostgreSQL does not queue writers).
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => exists(),
        _ => e.into(),
    })?;
    txn.commit().await?;
    m.try_into()
}

/// Changes the given fields of offer `key` (`null` clears an optional one) and checks the
/// whole again.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    key: &str,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<OfferView, ApiError> {
    let txn = crate::db::begin_write(db).await?;
    let current = find(&txn, key).await?;
    let mut merged = match current.definition.clone() {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let mut fields = patch.clone();
    fields.remove("key");
    check_fields(&fields)?;
    for (k, v) in patch {
        if k == "key" {
            if v.as_str() != Some(key) {
                return Err(ApiError::field("/key", "the key of an offer cannot change"));
            }
            continue;
        }
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let d: Definition = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| ApiError::field("/", e.to_string()))?;
    let d = checked(d)?;
    let mut m: offer::ActiveModel = current.into();
    m.kind = Set(d.kind.as_str().to_string());
    m.definition = Set(serde_json::to_value(&d).map_err(ApiError::internal)?);
    m.updated_at = Set(now);
    let m = m.update(&txn).await?;
    txn.commit().await?;
    m.try_into()
}

/// One page of offers, by key.
pub async fn list(db: &DatabaseConnection, page: &Page) -> Result<Paged<OfferView>, ApiError> {
    let (items, total) = fetch_page(
        db,
        offer::Entity::find(),
        page,
        offer::Column::Key,
        offer::Column::Id,
    )
    .await?;
    Ok(Paged {
        items: items
            .into_iter()
            .map(OfferView::try_from)
            .collect::<Result<_, _>>()?,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_list_is_the_definition_s() {
        let d = Definition {
            name: "n".into(),
            kind: OfferKind::Discount,
            percent: Some(1.0),
            amount: Some("1".into()),
            cap: Some("1".into()),
            gift: Some("g".into()),
            gift_cost: Some("1".into()),
            terms: Some("t".into()),
            description: Some("d".into()),
            rules: vec![ValueRule {
                abc: Some("A".into()),
                xyz: None,
                account_type: None,
                percent: Some(1.0),
                amount: None,
            }],
            valid_days: Some(1),
            valid_until: NaiveDate::from_ymd_opt(2026, 1, 1),
            max_per_code: 1,
            max_per_account: 1,
            transferable: true,
            code_prefix: "WB".into(),
        };
        let serde_json::Value::Object(m) = serde_json::to_value(&d).expect("json") else {
            panic!("an object")
        };
        let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut fields = FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(keys, fields);
        assert!(check_fields(&m).is_ok());
        let mut extra = m.clone();
        extra.insert("colour".into(), "red".into());
        assert!(check_fields(&extra).is_err());
    }
}
