//! What the parsers of this module accept, written as OpenAPI schemas, so that the API document
//! states the rules the server enforces. Every schema is a subset of what its parser accepts:
//! a value valid against the schema is never refused. Where a rule cannot be written in JSON
//! Schema (money decimals depend on the currency, dates must exist in the calendar), the schema
//! is stricter than the parser and its description says what the server really takes.
//!
//! Patterns are ECMA-262 regular expressions (what JSON Schema means by `pattern`) and use only
//! syntax that Rust's `regex` reads the same way; the tests below generate strings from each
//! one and check that the parser takes them.
//!
//! The text patterns are repeated as literals in `#[schema(pattern = …)]` attributes (utoipa
//! takes nothing else there); a test of `crate::api::openapi` checks that every pattern in the
//! document is one of [`PATTERNS`] or of the few tested next to their own parsers.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

use super::{CountryCode, Currency, Email, ExternalId, LanguageTag, Timezone};

/// A one-line text ([`super::one_line`] after trimming): no control character (C0, DEL, C1) and
/// no line or paragraph separator. May be empty or blank where the field is optional.
pub const ONE_LINE: &str = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$";

/// A required one-line text: [`ONE_LINE`] whose first character is not white space, so that it
/// is not blank once trimmed.
pub const ONE_LINE_REQUIRED: &str =
    r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$";

/// A multi-line text ([`super::multi_line`]): line breaks and tabs, but no other control
/// character.
pub const MULTI_LINE: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// [`ExternalId`]: a required one-line text without `/`.
pub const EXTERNAL_ID: &str =
    r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029/][^\u0000-\u001F\u007F-\u009F\u2028\u2029/]*$";

/// [`Email`], plain addresses only: letters and digits in dot, `_`, `+` or `-` separated runs,
/// `@`, and a domain of two to four labels. Quoted local parts, other `atext` characters,
/// non-ASCII addresses and domain literals are accepted by the server but not described.
pub const EMAIL: &str = r"^[A-Za-z0-9]{1,20}([._+-][A-Za-z0-9]{1,20}){0,2}@[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20})?(\.[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20})?){1,3}$";

/// [`LanguageTag`]: a 2–3 letter language and up to three subtags of 1–8 letters or digits.
pub const LANGUAGE_TAG: &str = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}$";

/// A money amount that may not be negative, in whole units of any currency: up to 11 digits
/// (10^15 minor units of a currency with 4 decimals), optionally followed by zero decimals.
pub const AMOUNT: &str = r"^[0-9]{1,11}(\.0{1,4})?$";

/// [`AMOUNT`] with an optional minus sign.
pub const SIGNED_AMOUNT: &str = r"^-?[0-9]{1,11}(\.0{1,4})?$";

/// A business date `YYYY-MM-DD` ([`super::parse_date`]), years 1900 to 2100; days up to 28 so
/// that every match exists in the calendar.
pub const BUSINESS_DATE: &str =
    r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$";

/// A date or timestamp ([`super::parse_timestamp`]): a [`BUSINESS_DATE`], or
/// `YYYY-MM-DDTHH:MM:SS` with optional fraction and offset in years 1901 to 2099 (an offset may
/// move the instant into the year before or after).
pub const TIMESTAMP: &str = r"^((19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(190[1-9]|19[1-9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)$";

/// A URL key ([`super::check_slug`]): 1 to 100 lowercase ASCII letters, digits and `-`.
pub const SLUG: &str = r"^[a-z0-9-]{1,100}$";

/// An `http`/`https` URL with a host name, port and plain path (what `url` parses with a host
/// for these schemes). The last label of the host starts with a letter: one that is all digits
/// would be read as an IPv4 address.
pub const HTTP_URL: &str = r"^https?://([a-z0-9]{1,20}(-[a-z0-9]{1,20})*\.){0,4}[a-z][a-z0-9]{0,20}(:[0-9]{1,4})?(/[A-Za-z0-9._~-]{0,30}){0,5}$";

/// A query parameter: any text without NUL, which the query extractor refuses everywhere.
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// Every pattern of this module, for the check that the document uses no other.
pub const PATTERNS: &[&str] = &[
    ONE_LINE,
    ONE_LINE_REQUIRED,
    MULTI_LINE,
    EXTERNAL_ID,
    EMAIL,
    LANGUAGE_TAG,
    AMOUNT,
    SIGNED_AMOUNT,
    BUSINESS_DATE,
    TIMESTAMP,
    SLUG,
    HTTP_URL,
    NO_NUL,
];

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn string_enum(description: &str, values: Vec<String>) -> RefOr<Schema> {
    string(description).enum_values(Some(values)).into()
}

impl PartialSchema for ExternalId {
    fn schema() -> RefOr<Schema> {
        string(
            "A stable id from your own systems (CRM, ERP): 1 to 128 characters once trimmed, \
             one line, no `/`.",
        )
        .min_length(Some(1))
        .max_length(Some(ExternalId::MAX_LEN))
        .pattern(Some(EXTERNAL_ID))
        .examples(["ACME-001"])
        .into()
    }
}

impl ToSchema for ExternalId {}

impl PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        string(
            "An e-mail address, at most 254 characters. The pattern describes plain addresses; \
             the server also takes the rest of RFC 5322's `addr-spec` (quoted local parts, \
             other punctuation, non-ASCII letters).",
        )
        .max_length(Some(254))
        .pattern(Some(EMAIL))
        .examples(["lan.nguyen@example.com"])
        .into()
    }
}

impl ToSchema for Email {}

impl PartialSchema for Timezone {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "An IANA timezone name.",
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name().to_string())
                .collect(),
        )
    }
}

impl ToSchema for Timezone {}

/// Every ISO 4217 code the server knows, upper-case (it also takes lower case).
pub fn currency_codes() -> Vec<String> {
    letter_codes(3)
        .filter(|c| iso_currency::Currency::from_code(c).is_some())
        .collect()
}

/// Every ISO 3166-1 alpha-2 code the server knows, upper-case (it also takes lower case).
pub fn country_codes() -> Vec<String> {
    letter_codes(2)
        .filter(|c| c.parse::<iso_currency::Country>().is_ok())
        .collect()
}

/// `AA…ZZ` or `AAA…ZZZ`.
fn letter_codes(len: u32) -> impl Iterator<Item = String> {
    (0..26u32.pow(len)).map(move |mut n| {
        let mut code = String::new();
        for _ in 0..len {
            code.insert(0, char::from(b'A' + (n % 26) as u8));
            n /= 26;
        }
        code
    })
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        string_enum("An ISO 4217 currency code.", currency_codes())
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CurrencyCode")
    }
}

impl PartialSchema for CountryCode {
    fn schema() -> RefOr<Schema> {
        string_enum("An ISO 3166-1 alpha-2 country code.", country_codes())
    }
}

impl ToSchema for CountryCode {}

impl PartialSchema for LanguageTag {
    fn schema() -> RefOr<Schema> {
        string("A BCP 47 language tag such as `en`, `vi` or `pt-BR` (`_` is read as `-`).")
            .pattern(Some(LANGUAGE_TAG))
            .examples(["vi"])
            .into()
    }
}

impl ToSchema for LanguageTag {}

/// The schema of a money amount that may not be negative (the value itself is an
/// [`AmountInput`](super::input::AmountInput)).
pub struct Amount;

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        string(
            "A money amount in major units of its currency, not negative. The server takes a \
             decimal string or a JSON number with up to as many decimals as the currency has \
             (2 for USD, 0 for VND, 3 for BHD), at most 10^15 minor units; the pattern \
             describes the whole amounts every currency accepts.",
        )
        .pattern(Some(AMOUNT))
        .examples(["250000"])
        .into()
    }
}

impl ToSchema for Amount {}

/// [`Amount`] that may be negative (margins, relationship values).
pub struct SignedAmount;

impl PartialSchema for SignedAmount {
    fn schema() -> RefOr<Schema> {
        string(
            "A money amount in major units of its currency, may be negative. The server takes \
             a decimal string or a JSON number with up to as many decimals as the currency has, \
             at most 10^15 minor units either way; the pattern describes the whole amounts \
             every currency accepts.",
        )
        .pattern(Some(SIGNED_AMOUNT))
        .examples(["-1200"])
        .into()
    }
}

impl ToSchema for SignedAmount {}

/// The schema of a business date `YYYY-MM-DD` ([`super::parse_date`]).
pub struct BusinessDate;

impl PartialSchema for BusinessDate {
    fn schema() -> RefOr<Schema> {
        string(
            "A calendar date `YYYY-MM-DD` between 1900 and 2100. The pattern stops at day 28; \
             every date of the calendar is accepted.",
        )
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date,
        )))
        .pattern(Some(BUSINESS_DATE))
        .examples(["2026-03-15"])
        .into()
    }
}

impl ToSchema for BusinessDate {}

/// The schema of a date or timestamp ([`super::parse_timestamp`]).
pub struct Timestamp;

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        string(
            "A date `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp; without an offset it \
             is UTC. Years 1900 to 2100 (in UTC).",
        )
        .pattern(Some(TIMESTAMP))
        .examples(["2026-03-15T09:30:00+07:00"])
        .into()
    }
}

impl ToSchema for Timestamp {}

/// The schema of a URL key ([`super::check_slug`]).
pub struct Slug;

impl PartialSchema for Slug {
    fn schema() -> RefOr<Schema> {
        string("A stable key used in URLs: 1 to 100 lowercase ASCII letters, digits and `-`.")
            .min_length(Some(1))
            .max_length(Some(100))
            .pattern(Some(SLUG))
            .examples(["key-accounts-north"])
            .into()
    }
}

impl ToSchema for Slug {}

/// The schema of an `http`/`https` URL.
pub struct HttpUrl;

impl PartialSchema for HttpUrl {
    fn schema() -> RefOr<Schema> {
        string(
            "An `http` or `https` URL with a host. The pattern describes plain URLs (ASCII host \
             name, port, path); the server takes any URL with a host for these schemes, except \
             a private, loopback or link-local host unless `webhooks.allow_private`.",
        )
        .max_length(Some(1000))
        .pattern(Some(HTTP_URL))
        .examples(["https://hooks.example.com/abm/alerts"])
        .into()
    }
}

impl ToSchema for HttpUrl {}

/// Strings matching `pattern` (anchored with `^…$`), checked against the `regex` crate too:
/// what a schema-driven client may send, for tests of the parser behind a pattern.
#[cfg(test)]
pub(crate) fn matching(pattern: &str) -> impl proptest::strategy::Strategy<Value = String> + use<> {
    use proptest::strategy::Strategy;
    let re = regex::Regex::new(pattern).expect("a valid pattern");
    // proptest generates from the pattern without its anchors (`^…$` wraps all of them).
    let inner = &pattern[1..pattern.len() - 1];
    proptest::string::string_regex(inner)
        .expect("a pattern proptest can generate from")
        .prop_filter("matches", move |s| re.is_match(s))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain;

    #[test]
    fn every_pattern_is_a_rust_regex_too() {
        for p in PATTERNS {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
            assert!(p.starts_with('^') && p.ends_with('$'), "{p} is anchored");
        }
    }

    #[test]
    fn enumerations_hold_exactly_what_the_parsers_take() {
        let currencies = currency_codes();
        assert!(currencies.len() > 150, "{}", currencies.len());
        for c in &currencies {
            assert!(Currency::parse(c).is_ok(), "{c}");
        }
        assert!(currencies.iter().any(|c| c == "VND"));
        let countries = country_codes();
        assert!(countries.len() > 200, "{}", countries.len());
        for c in &countries {
            assert!(CountryCode::parse(c).is_ok(), "{c}");
        }
        for tz in chrono_tz::TZ_VARIANTS {
            assert!(Timezone::parse(tz.name()).is_ok(), "{}", tz.name());
        }
    }

    #[test]
    fn whole_amounts_fit_every_currency() {
        for code in currency_codes() {
            let c = Currency::parse(&code).expect("currency");
            for s in ["99999999999", "99999999999.0000", "0", "-99999999999.00"] {
                assert!(c.parse_amount(s).is_ok(), "{s} {code}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn one_line_texts_are_accepted(s in matching(ONE_LINE)) {
            prop_assert!(domain::one_line(s.trim()).is_ok());
        }

        #[test]
        fn required_one_line_texts_are_not_blank(s in matching(ONE_LINE_REQUIRED)) {
            prop_assert!(!s.trim().is_empty());
            prop_assert!(domain::one_line(s.trim()).is_ok());
        }

        #[test]
        fn multi_line_texts_are_accepted(s in matching(MULTI_LINE)) {
            prop_assert!(domain::multi_line(s.trim()).is_ok());
        }

        #[test]
        fn external_ids_are_accepted(s in matching(EXTERNAL_ID)) {
            prop_assume!(s.chars().count() <= ExternalId::MAX_LEN);
            prop_assert!(ExternalId::parse(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn emails_are_accepted(s in matching(EMAIL)) {
            prop_assert!(s.len() <= 254);
            prop_assert!(Email::parse(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn language_tags_are_accepted(s in matching(LANGUAGE_TAG)) {
            prop_assert!(LanguageTag::parse(&s).is_ok(), "{:?}", s);
            prop_assert!(s.len() <= 35, "fits the stored column");
        }

        #[test]
        fn amounts_are_accepted_in_every_currency(s in matching(SIGNED_AMOUNT), i in 0usize..1000) {
            let codes = currency_codes();
            let c = Currency::parse(&codes[i % codes.len()]).expect("currency");
            prop_assert!(c.parse_amount(&s).is_ok(), "{:?} {}", s, c.code());
            prop_assert!(domain::parse_decimal(&s, 4).is_ok());
        }

        #[test]
        fn unsigned_amounts_are_not_negative(s in matching(AMOUNT)) {
            prop_assert!(!s.starts_with('-'));
            prop_assert!(domain::parse_decimal(&s, 0).is_ok_and(|v| v >= 0));
        }

        #[test]
        fn business_dates_are_accepted(s in matching(BUSINESS_DATE)) {
            prop_assert!(domain::parse_date(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn timestamps_are_accepted(s in matching(TIMESTAMP)) {
            prop_assert!(domain::parse_timestamp(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn slugs_are_accepted(s in matching(SLUG)) {
            prop_assert!(domain::check_slug(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn http_urls_have_a_host(s in matching(HTTP_URL)) {
            let u = url::Url::parse(&s);
            prop_assert!(u.as_ref().is_ok_and(|u| u.host().is_some()), "{:?} {:?}", s, u);
            prop_assert!(u.is_ok_and(|u| u.as_str().chars().count() <= 2000));
        }
    }
}
