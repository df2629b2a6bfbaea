//! Domain value types shared by every part. Untrusted text becomes one of these once, at the
//! edge (API, CSV/XLSX import, config); inside, functions take the parsed type. Every parser
//! returns a short human message that callers attach to a field path or a CSV column.

pub mod input;
pub mod kinds;
pub mod schema;
pub mod validation;
pub mod webhook_url;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stable identifier chosen by the customer's own systems (CRM, ERP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        one_line(s)?;
        if s.contains('/') {
            return Err("must not contain '/'".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What is wrong with a character that has no place in text: its code point and position.
fn control_at(s: &str, bad: impl Fn(char) -> bool, what: &str) -> Result<(), String> {
    match s.chars().enumerate().find(|(_, c)| bad(*c)) {
        Some((i, c)) => Err(format!(
            "must not contain {what} (found U+{:04X} at character {})",
            u32::from(c),
            i + 1
        )),
        None => Ok(()),
    }
}

/// Checks a one-line field (a name, an id, a title, an e-mail address): no control characters
/// at all (Unicode category Cc: CR, LF, TAB, ESC, NUL, DEL, C1) and no line or paragraph
/// separator. Such fields end up in subjects, headers, CSV cells and logs, where a line break
/// would start a new header or record.
pub fn one_line(s: &str) -> Result<(), String> {
    control_at(
        s,
        |c| c.is_control() || c == '\u{2028}' || c == '\u{2029}',
        "line breaks or other control characters",
    )
}

/// Checks a multi-line field (notes, descriptions): line breaks and tabs are text there, other
/// control characters (NUL, ESC, …) are not — PostgreSQL cannot even store NUL.
pub fn multi_line(s: &str) -> Result<(), String> {
    control_at(
        s,
        |c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'),
        "control characters other than line breaks and tabs",
    )
}

/// Replaces every run of control characters and line separators with one space and trims the
/// ends, so that rendered text can be used where one line is required (an e-mail subject).
/// `s` cut to `max` characters (with `…` when cut), for echoing input in messages.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

pub fn to_one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            gap = true;
        } else {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        }
    }
    out.trim().to_string()
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid e-mail address, stored as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        one_line(s)?;
        email_address::EmailAddress::from_str(s)
            .map_err(|e| format!("`{s}` is not a valid e-mail address ({e})"))?;
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An IANA timezone name such as `Asia/Ho_Chi_Minh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(pub chrono_tz::Tz);

impl Timezone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        chrono_tz::Tz::from_str(s)
            .map(Timezone)
            .map_err(|_| format!("`{s}` is not an IANA timezone (e.g. Europe/Berlin)"))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timezone::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An ISO 4217 currency; knows how many minor units (decimals) it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(pub iso_currency::Currency);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let upper = s.to_ascii_uppercase();
        if upper.len() != 3 {
            return Err(format!("`{s}` is not an ISO 4217 currency code (e.g. USD)"));
        }
        iso_currency::Currency::from_code(&upper)
            .map(Currency)
            .ok_or_else(|| format!("`{s}` is not an ISO 4217 currency code (e.g. USD)"))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit (2 for USD, 0 for VND and JPY, 3 for BHD).
    pub fn exponent(&self) -> u32 {
        // Funds and metals have no exponent; treat them as whole units with 2 decimals.
        self.0.exponent().map(u32::from).unwrap_or(2)
    }

    /// Parses a decimal amount in major units ("1234.5") into exact minor units, at most
    /// [`MAX_AMOUNT_MINOR`] either way.
    pub fn parse_amount(&self, raw: &str) -> Result<i64, String> {
        let v = parse_decimal(raw, self.exponent())
            .map_err(|e| format!("{e} (currency {})", self.code()))?;
        if v.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
            return Err(format!(
                "`{}` is too large: amounts are at most {} {}",
                raw.trim(),
                self.format_amount(MAX_AMOUNT_MINOR),
                self.code()
            ));
        }
        Ok(v)
    }

    /// Formats minor units as a decimal string with the currency's decimals ("1234.50").
    pub fn format_amount(&self, minor: i64) -> String {
        format_decimal(minor, self.exponent())
    }
}

/// The largest money amount accepted anywhere (order amounts and margins, budgets, relationship
/// values), in minor units: 10^15, i.e. 10,000,000,000,000.00 USD or 1,000,000,000,000,000 VND.
/// Far above any real order, and small enough that thousands of them still add up within an
/// `i64`; every total is nevertheless summed saturating or in `i128`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a plain decimal number into an integer scaled by 10^`scale`, exactly.
/// Accepts an optional sign, digits, and at most `scale` decimals; no exponents, no grouping.
pub fn parse_decimal(raw: &str, scale: u32) -> Result<i64, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let (neg, digits) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let bad = || format!("`{s}` is not a decimal number");
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > scale as usize {
        return Err(match scale {
            0 => format!("`{s}` must be a whole number"),
            1 => format!("`{s}` has more than 1 decimal place"),
            _ => format!("`{s}` has more than {scale} decimal places"),
        });
    }
    let too_large = || format!("`{s}` is too large");
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    let mut frac_digits = frac_trimmed.bytes();
    for _ in 0..scale {
        let d = frac_digits.next().map(|b| i64::from(b - b'0')).unwrap_or(0);
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(too_large)?;
    }
    Ok(if neg { -value } else { value })
}

/// A stable identifier used in URLs (segment keys, template ids): 1 to 100 lowercase ASCII
/// letters, digits and `-`.
pub fn check_slug(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 100 {
        return Err("must be 1 to 100 characters".into());
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("may hold lowercase letters, digits and `-` only".into());
    }
    Ok(())
}

/// Formats an integer scaled by 10^`scale` as a decimal string.
pub fn format_decimal(value: i64, scale: u32) -> String {
    format_wide_decimal(i128::from(value), scale)
}

/// [`format_decimal`] for totals, which may exceed an `i64`.
pub fn format_wide_decimal(value: i128, scale: u32) -> String {
    if scale == 0 {
        return value.to_string();
    }
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let div = 10u128.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        abs / div,
        abs % div,
        width = scale as usize
    )
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_uppercase();
        if iso_currency::Country::from_str(&s).is_ok() {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{}` is not an ISO 3166-1 alpha-2 country code (e.g. DE, VN)",
                raw.trim()
            ))
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A BCP 47 language tag such as `en`, `vi` or `pt-BR` (syntax checked, case normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let bad = || format!("`{s}` is not a language tag (e.g. en, vi, pt-BR)");
        let mut parts = s.split(['-', '_']);
        let lang = parts.next().unwrap_or_default();
        if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad());
        }
        let mut out = lang.to_ascii_lowercase();
        for p in parts {
            if !(1..=8).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad());
            }
            out.push('-');
            if p.len() == 2 {
                out.push_str(&p.to_ascii_uppercase());
            } else {
                out.push_str(p);
            }
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for LanguageTag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LanguageTag::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Earliest and latest years accepted for business dates (orders, relationship history).
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2100;

fn check_year(year: i32, s: &str) -> Result<(), String> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is out of range (years {MIN_YEAR}–{MAX_YEAR})"
        ))
    }
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let s = raw.trim();
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{}` is not a date (YYYY-MM-DD)", shorten(s, 40)))?;
    check_year(d.year(), s)?;
    Ok(d)
}

/// Parses a date (`YYYY-MM-DD`, taken as midnight UTC) or an RFC 3339 timestamp.
/// A timestamp without offset (`YYYY-MM-DDTHH:MM:SS`) is taken as UTC.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    let bad = || {
        format!(
            "`{}` is not a date (YYYY-MM-DD) or RFC 3339 timestamp (2024-05-01T10:00:00Z)",
            shorten(s, 40)
        )
    };
    let ts = if s.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).ok_or_else(bad)?)
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .map_err(|_| bad())?;
        Utc.from_utc_datetime(&naive)
    };
    check_year(ts.year(), s)?;
    Ok(ts)
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
        #[schema(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                let s = raw.trim();
                match s.to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "`{s}` is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// A stakeholder's role in the account's decision map.
    StakeholderRole {
        DecisionMaker => "decision_maker",
        EconomicBuyer => "economic_buyer",
        Influencer => "influencer",
        Champion => "champion",
        Gatekeeper => "gatekeeper",
        User => "user",
    }
);

string_enum!(
    /// Whether we may contact a stakeholder for marketing.
    Consent {
        Unknown => "unknown",
        Granted => "granted",
        Withdrawn => "withdrawn",
    }
);

string_enum!(
    /// What happened in one entry of the relationship history.
    RelationshipKind {
        Delivery => "delivery",
        Tender => "tender",
        Meeting => "meeting",
        Proposal => "proposal",
        Complaint => "complaint",
        Contract => "contract",
        Visit => "visit",
        Call => "call",
        Other => "other",
    }
);

string_enum!(
    /// Result of a tender, proposal or other relationship entry.
    Outcome {
        Won => "won",
        Lost => "lost",
        Pending => "pending",
    }
);

/// Parses a yes/no cell: true/false, yes/no, 1/0, y/n (case-insensitive).
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("`{}` is not a boolean (true/false)", raw.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("1234.5", 2), Ok(123450));
        assert_eq!(parse_decimal("-0.01", 2), Ok(-1));
        assert_eq!(parse_decimal("7", 0), Ok(7));
        assert_eq!(parse_decimal("7.000", 0), Ok(7));
        assert_eq!(parse_decimal(".5", 2), Ok(50));
        assert!(parse_decimal("1.234", 2).unwrap_err().contains("2 decimal"));
        assert!(parse_decimal("1e5", 2).is_err());
        assert!(parse_decimal("", 2).is_err());
        assert!(parse_decimal("-", 2).is_err());
        assert!(
            parse_decimal("99999999999999999999", 2)
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn currencies_know_their_decimals() {
        let vnd = Currency::parse("vnd").expect("VND");
        assert_eq!(vnd.exponent(), 0);
        assert!(vnd.parse_amount("10.5").is_err());
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(usd.format_amount(123450), "1234.50");
        assert!(Currency::parse("XXY").is_err());
    }

    #[test]
    fn timestamps_accept_dates_and_rfc3339() {
        assert_eq!(
            parse_timestamp("2024-02-29").expect("date").to_rfc3339(),
            "2024-02-29T00:00:00+00:00"
        );
        assert_eq!(
            parse_timestamp("2024-05-01T10:00:00+07:00")
                .expect("ts")
                .to_rfc3339(),
            "2024-05-01T03:00:00+00:00"
        );
        assert!(parse_timestamp("2023-02-29").is_err());
        assert!(
            parse_timestamp("1850-01-01")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn simple_values_parse() {
        assert!(Timezone::parse("Asia/Ho_Chi_Minh").is_ok());
        assert!(Timezone::parse("Mars/Base").is_err());
        assert!(CountryCode::parse("vn").is_ok());
        assert!(CountryCode::parse("XX").is_err());
        assert_eq!(LanguageTag::parse("pt_br").expect("tag").as_str(), "pt-BR");
        assert!(LanguageTag::parse("english!").is_err());
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("not-an-email").is_err());
        assert!(ExternalId::parse("  ").is_err());
        assert!(ExternalId::parse("a/b").is_err());
        assert_eq!(
            StakeholderRole::parse("Decision_Maker"),
            Ok(StakeholderRole::DecisionMaker)
        );
    }

    #[test]
    fn one_line_fields_refuse_every_control_character_and_multi_line_ones_keep_line_breaks() {
        assert!(one_line("Acme Corp – Ngân hàng").is_ok());
        for bad in [
            "Acme\r\nBcc: x",
            "a\nb",
            "a\tb",
            "a\u{1b}[31m",
            "a\0b",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert!(one_line(bad).is_err(), "{bad:?}");
        }
        let e = one_line("Acme\r\nBcc: x").expect_err("CR");
        assert!(e.contains("U+000D at character 5"), "{e}");
        assert!(multi_line("line 1\r\nline 2\tend").is_ok());
        assert!(multi_line("a\0b").is_err());
        assert!(multi_line("a\u{1b}b").is_err());
        assert!(ExternalId::parse("A\nB").is_err());
        assert!(Email::parse("\"a\r\nb\"@example.com").is_err());
        assert_eq!(
            to_one_line("Hi Acme\r\nBcc: evil@x\n"),
            "Hi Acme Bcc: evil@x"
        );
        assert_eq!(to_one_line("\u{1b}[1mBold\u{2028}"), "[1mBold");
    }

    #[test]
    fn amounts_are_bounded_whatever_the_currency() {
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(usd.parse_amount("10000000000000.00"), Ok(MAX_AMOUNT_MINOR));
        assert_eq!(usd.parse_amount("-10000000000000"), Ok(-MAX_AMOUNT_MINOR));
        let e = usd
            .parse_amount("922337203685477.58")
            .expect_err("too large");
        assert!(e.contains("at most 10000000000000.00 USD"), "{e}");
        let vnd = Currency::parse("VND").expect("VND");
        assert_eq!(vnd.parse_amount("1000000000000000"), Ok(MAX_AMOUNT_MINOR));
        assert!(vnd.parse_amount("1000000000000001").is_err());
        // Totals of many maximum amounts still print.
        assert_eq!(
            format_wide_decimal(i128::from(i64::MAX) * 1_000, 2),
            "92233720368547758070.00"
        );
    }

    proptest! {
        #[test]
        fn decimal_round_trips(v in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u32..4) {
            prop_assert_eq!(parse_decimal(&format_decimal(v, scale), scale), Ok(v));
        }

        #[test]
        fn decimal_parser_never_panics(s in "\\PC{0,30}") {
            let _ = parse_decimal(&s, 2);
        }
    }
}
