//! Order inputs and views, and the row parser shared by the API and the importers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::model::{derive_id, format_money};
use crate::domain::input::AmountInput;
use crate::domain::schema::{Amount, SignedAmount, Timestamp};
use crate::domain::validation::FieldErrors;
use crate::domain::{Currency, ExternalId, parse_timestamp};
use crate::entities::order;

/// One order as sent to the API. The account must exist; amounts are read with the order's
/// currency (or the account's), whose decimals they may not exceed.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Your order id; orders are upserted by it. On PUT it must be the id in the path.
    #[schema(value_type = ExternalId)]
    pub external_id: String,
    /// The account's external id.
    #[schema(value_type = ExternalId)]
    pub account_id: String,
    /// Date (`YYYY-MM-DD`, midnight UTC) or RFC 3339 timestamp.
    #[schema(value_type = Timestamp)]
    pub ordered_at: String,
    /// Order value in major units, as a decimal string or number; not negative.
    #[schema(value_type = Amount)]
    pub amount: AmountInput,
    /// Margin/profit in major units (may be negative).
    #[serde(default)]
    #[schema(value_type = Option<SignedAmount>)]
    pub margin: Option<AmountInput>,
    /// ISO 4217 code (any case); defaults to the account's currency.
    #[serde(default)]
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// Code of the offer redeemed with this order: one line, at most 64 characters.
    #[serde(default)]
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub offer_code: Option<String>,
}

/// Text fields of one order, as read from a file row or an API item.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawOrder<'a> {
    pub external_id: Option<&'a str>,
    pub account_id: &'a str,
    pub ordered_at: &'a str,
    pub amount: &'a str,
    pub margin: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub offer_code: Option<&'a str>,
}

/// A checked order, ready to write once its account is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOrder {
    pub external_id: String,
    pub account_external_id: String,
    pub ordered_at: DateTime<Utc>,
    /// The amount exactly as written, parsed once the currency is known.
    pub amount: String,
    pub margin: Option<String>,
    pub currency: Option<Currency>,
    pub offer_code: Option<String>,
}

/// A fully resolved order row.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub external_id: String,
    pub account_id: i64,
    pub ordered_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub margin_minor: Option<i64>,
    pub currency: String,
    pub offer_code: Option<String>,
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

impl RawOrder<'_> {
    /// Checks everything that does not need the database. Errors go to `errors` under the
    /// field names. Without an external id, a deterministic one is derived from the content
    /// and `occurrence` (how many identical rows came before in the same file).
    pub fn parse(&self, occurrence: u32, errors: &mut FieldErrors) -> Option<ParsedOrder> {
        let before = errors.errors.len();
        let account = errors.check("account_id", ExternalId::parse(self.account_id));
        let ordered_at = errors.check("ordered_at", parse_timestamp(self.ordered_at));
        let currency = match non_empty(self.currency) {
            Some(c) => errors.check("currency", Currency::parse(c)),
            None => None,
        };
        // Syntax of amounts is checked now with the widest scale; the currency's decimals later.
        let amount = self.amount.trim();
        if let Err(e) = crate::domain::parse_decimal(amount, 4) {
            errors.push("amount", e);
        } else if amount.starts_with('-') {
            errors.push("amount", "must not be negative");
        }
        let margin = non_empty(self.margin);
        if let Some(m) = margin
            && let Err(e) = crate::domain::parse_decimal(m, 4)
        {
            errors.push("margin", e);
        }
        let offer_code = non_empty(self.offer_code).map(str::to_string);
        if let Some(c) = &offer_code {
            if c.chars().count() > 64 {
                errors.push("offer_code", "must be at most 64 characters");
            }
            errors.check("offer_code", crate::domain::one_line(c));
        }
        let external_id = match non_empty(self.external_id) {
            Some(e) => errors.check("external_id", ExternalId::parse(e).map(|e| e.into_string())),
            None => Some(derive_id(
                &format!(
                    "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{occurrence}",
                    self.account_id.trim(),
                    self.ordered_at.trim(),
                    amount,
                    margin.unwrap_or(""),
                    non_empty(self.currency).unwrap_or("").to_ascii_uppercase(),
                    offer_code.as_deref().unwrap_or("")
                ),
                "o",
            )),
        };
        if errors.errors.len() > before {
            return None;
        }
        Some(ParsedOrder {
            external_id: external_id?,
            account_external_id: account?.into_string(),
            ordered_at: ordered_at?,
            amount: amount.to_string(),
            margin: margin.map(str::to_string),
            currency,
            // A code of ours is stored as issued (capitals, dashes), however it was typed.
            offer_code: offer_code.map(|c| crate::offers::codes::normalize(&c).unwrap_or(c)),
        })
    }
}

impl ParsedOrder {
    /// Resolves money with the order's currency (or the account's) into a row.
    pub fn resolve(
        &self,
        account_id: i64,
        account_currency: &str,
        errors: &mut FieldErrors,
    ) -> Option<OrderRow> {
        let currency = match self.currency {
            Some(c) => c,
            None => match Currency::parse(account_currency) {
                Ok(c) => c,
                Err(e) => {
                    errors.push("currency", e);
                    return None;
                }
            },
        };
        let amount = errors.check("amount", currency.parse_amount(&self.amount));
        let margin = match &self.margin {
            Some(m) => Some(errors.check("margin", currency.parse_amount(m))?),
            None => None,
        };
        Some(OrderRow {
            external_id: self.external_id.clone(),
            account_id,
            ordered_at: self.ordered_at,
            amount_minor: amount?,
            margin_minor: margin,
            currency: currency.code().to_string(),
            offer_code: self.offer_code.clone(),
        })
    }
}

/// An order as the API returns it; amounts in the order's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub external_id: String,
    /// The account's external id.
    pub account_id: String,
    pub ordered_at: DateTime<Utc>,
    pub amount: String,
    pub margin: Option<String>,
    pub currency: String,
    pub offer_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderView {
    /// The view of a stored order; amounts are formatted in the order's own currency.
    pub fn new(o: order::Model, account_external_id: String) -> Self {
        Self {
            amount: format_money(&o.currency, o.amount_minor),
            margin: o.margin_minor.map(|m| format_money(&o.currency, m)),
            id: o.id,
            external_id: o.external_id,
            account_id: account_external_id,
            ordered_at: o.ordered_at,
            currency: o.currency,
            offer_code: o.offer_code,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// Body of `POST /api/v1/orders/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBatch {
    /// At most `api.max_batch_orders` orders, each external id (trimmed) at most once.
    pub orders: Vec<OrderInput>,
}

/// What a batch did. `unchanged` orders were already stored with the same values.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default, Clone, Copy)]
pub struct BatchResult {
    pub received: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Filters for the order list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Only orders of this account (external id).
    #[param(pattern = r"^[^\u0000]*$")]
    pub account_id: Option<String>,
    /// Orders at or after this date/timestamp.
    #[param(value_type = Option<Timestamp>, inline)]
    pub from: Option<String>,
    /// Orders before this date/timestamp.
    #[param(value_type = Option<Timestamp>, inline)]
    pub to: Option<String>,
    /// Only orders that redeemed this offer code.
    #[param(pattern = r"^[^\u0000]*$")]
    pub offer_code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(amount: &'a str, ordered_at: &'a str) -> RawOrder<'a> {
        RawOrder {
            account_id: "ACME",
            ordered_at,
            amount,
            ..Default::default()
        }
    }

    #[test]
    fn derived_ids_are_deterministic_and_distinguish_repeats() {
        let mut e = FieldErrors::default();
        let a = raw("10", "2024-01-01").parse(0, &mut e).expect("valid");
        let b = raw("10", "2024-01-01").parse(0, &mut e).expect("valid");
        let c = raw("10", "2024-01-01").parse(1, &mut e).expect("valid");
        assert_eq!(a.external_id, b.external_id);
        assert_ne!(a.external_id, c.external_id);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut e = FieldErrors::default();
        let r = RawOrder {
            account_id: "",
            ordered_at: "2024-13-01",
            amount: "abc",
            currency: Some("ZZZ"),
            ..Default::default()
        };
        assert!(r.parse(0, &mut e).is_none());
        let fields: Vec<_> = e.errors.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            fields,
            ["/account_id", "/ordered_at", "/currency", "/amount"]
        );
    }

    #[test]
    fn currency_decimals_are_enforced_on_resolve() {
        let mut e = FieldErrors::default();
        let p = raw("10.5", "2024-01-01").parse(0, &mut e).expect("valid");
        assert!(p.resolve(1, "VND", &mut e).is_none());
        assert!(e.errors[0].message.contains("whole number"));
        let mut e = FieldErrors::default();
        let row = p.resolve(1, "USD", &mut e).expect("valid");
        assert_eq!(row.amount_minor, 1050);
    }
}
