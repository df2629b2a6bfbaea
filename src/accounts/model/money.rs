//! Money as the API and reports show it: amounts are stored in minor units of their currency and
//! read as a plain decimal string (no symbol, no grouping; templates format for people).

use crate::domain::Currency;

/// A stored amount in `currency` (ISO 4217) as a decimal string, e.g. `12345` USD → `123.45`.
/// An unknown currency code prints the minor units unchanged rather than failing a read.
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
