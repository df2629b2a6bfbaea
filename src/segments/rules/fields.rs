//! The field registry: every field a rule may name, with its type. The parser rejects unknown
//! fields and values of the wrong type against this list, so segments, template conditions and
//! campaign conditions all speak about the same facts.

/// What a field holds, and so which operators and values it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Bool,
    /// A calendar date (compared as dates; `within_days` counts back from today).
    Date,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A set of words (`contains`, `in`, `exists`); an empty vocabulary means free text.
    List(&'static [&'static str]),
    /// `attributes.*`: whatever the account's attributes hold (text, number or boolean).
    Any,
}

impl FieldType {
    /// How the type is named in error messages and in the field list.
    pub fn describe(self) -> String {
        match self {
            FieldType::Text => "text".into(),
            FieldType::Number => "number".into(),
            FieldType::Bool => "boolean".into(),
            FieldType::Date => "date".into(),
            FieldType::Enum(words) => format!("one of {}", words.join(", ")),
            FieldType::List([]) => "list of text".into(),
            FieldType::List(words) => format!("list of {}", words.join(", ")),
            FieldType::Any => "text, number or boolean".into(),
        }
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Dossier,
    Analytics,
    /// Only set when a rule is evaluated for one stakeholder (template selection).
    Stakeholder,
    /// Only set when an offer is being made (win-back).
    Offer,
}

/// One registered field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub scope: Scope,
    pub doc: &'static str,
}

pub const ABC: &[&str] = &["A", "B", "C"];
pub const XYZ: &[&str] = &["X", "Y", "Z"];
pub const TYPES: &[&str] = &["pillar", "prospect", "image_maker", "expert"];
pub const THREE_P: &[&str] = &["need", "payment", "authority"];
pub const ROLES: &[&str] = &[
    "decision_maker",
    "economic_buyer",
    "influencer",
    "champion",
    "gatekeeper",
    "user",
];
pub const OUTCOMES: &[&str] = &["won", "lost", "pending"];
pub const CONSENT: &[&str] = &["unknown", "granted", "withdrawn"];
pub const RELATIONSHIP_KINDS: &[&str] = &[
    "delivery",
    "tender",
    "meeting",
    "proposal",
    "complaint",
    "contract",
    "visit",
    "call",
    "other",
];
pub const OFFER_KINDS: &[&str] = &["discount", "gift", "terms"];

macro_rules! fields {
    ($($name:literal : $ty:expr, $scope:ident, $doc:literal;)+) => {
        /// Every field a rule may name (plus `attributes.<key>`), in documentation order.
        pub const FIELDS: &[FieldDef] = &[
            $(FieldDef { name: $name, ty: $ty, scope: Scope::$scope, doc: $doc },)+
        ];
    };
}

use FieldType::*;

fields! {
    "name": Text, Account, "the account's name";
    "external_id": Text, Account, "the account's id in the source system";
    "industry": Text, Account, "industry";
    "region": Text, Account, "region";
    "country": Text, Account, "country (ISO code as entered)";
    "currency": Text, Account, "the account's currency (ISO 4217)";
    "timezone": Text, Account, "the account's time zone (IANA name)";
    "manager": Text, Account, "the key account manager's e-mail address";
    "image_maker": Bool, Account, "flagged as an image maker";
    "expert": Bool, Account, "flagged as an expert";
    "budget": Number, Account, "budget in major units of the account's currency";
    "created_at": Date, Account, "when the account was created";
    "employees": Number, Dossier, "number of employees";
    "founded_year": Number, Dossier, "year the company was founded";
    "competitor_present": Bool, Dossier, "at least one competitor is recorded at the account";
    "competitors": List(&[]), Dossier, "names of the competitors recorded at the account";
    "last_outcome": Enum(OUTCOMES), Dossier, "outcome of the latest relationship entry with an outcome";
    "last_outcome_reason": Text, Dossier, "its reason";
    "last_relationship_kind": Enum(RELATIONSHIP_KINDS), Dossier, "kind of the latest relationship entry";
    "last_relationship_at": Date, Dossier, "date of the latest relationship entry";
    "open_tenders": Number, Dossier, "tenders without an outcome or still pending";
    "abc": Enum(ABC), Analytics, "ABC class of the latest analysis run";
    "xyz": Enum(XYZ), Analytics, "XYZ class";
    "types": List(TYPES), Analytics, "account types";
    "revenue": Number, Analytics, "revenue in the analysis window, major units";
    "profit": Number, Analytics, "profit (margin) in the window, major units";
    "value_share": Number, Analytics, "share of the run's total value (0..1)";
    "profit_share": Number, Analytics, "share of the run's total profit (0..1; revenue when no margins)";
    "orders": Number, Analytics, "orders in the window";
    "first_order_at": Date, Analytics, "first order date";
    "last_order_at": Date, Analytics, "last order date";
    "days_since_last_order": Number, Analytics, "days since the last order";
    "cv": Number, Analytics, "coefficient of variation of monthly value";
    "p_alive": Number, Analytics, "BG/NBD probability that the account is still active";
    "expected_purchases": Number, Analytics, "BG/NBD expected purchases over the horizon";
    "lost": Bool, Analytics, "lost by the churn policy";
    "three_p_score": Number, Analytics, "three P score (0..3) of a prospect";
    "three_p_missing": List(THREE_P), Analytics, "the missing P of a prospect";
    "qualified": Bool, Analytics, "a prospect with all three P";
    "engagement_score": Number, Analytics, "engagement score: weighted human responses with time decay";
    "last_opened_at": Date, Analytics, "date of the latest human open (opened_within_days(N) in text)";
    "last_clicked_at": Date, Analytics, "date of the latest human click (clicked_within_days(N) in text)";
    "last_replied_at": Date, Analytics, "date of the latest reply or meeting booked (replied_within_days(N) in text)";
    "stakeholder.role": Enum(ROLES), Stakeholder, "the stakeholder's role";
    "stakeholder.language": Text, Stakeholder, "the stakeholder's language (e.g. vi)";
    "stakeholder.influence": Number, Stakeholder, "the stakeholder's influence (1..5)";
    "stakeholder.consent": Enum(CONSENT), Stakeholder, "the stakeholder's consent to marketing mail";
    "offer.kind": Enum(OFFER_KINDS), Offer, "the kind of offer being made";
    "offer.discount_percent": Number, Offer, "the offer's discount in percent";
}

/// The index of a registered field in [`FIELDS`].
pub fn index_of(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

/// The type of `name`, registered or `attributes.<key>`.
pub fn type_of(name: &str) -> Option<FieldType> {
    if let Some(key) = name.strip_prefix("attributes.") {
        // Keys the text form can print bare: letters, digits, `_` and `.`.
        let ok = key
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        return ok.then_some(FieldType::Any);
    }
    index_of(name).map(|i| FIELDS[i].ty)
}

/// The registered name closest to `name`, for "did you mean" hints.
pub fn closest(name: &str) -> Option<&'static str> {
    if name.chars().count() > 40 {
        return None;
    }
    FIELDS
        .iter()
        .map(|f| (edit_distance(name, f.name), f.name))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unique_and_typed() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(index_of(f.name), Some(i), "{} registered twice", f.name);
        }
        assert_eq!(type_of("attributes.tier"), Some(FieldType::Any));
        assert_eq!(type_of("attributes."), None);
        assert_eq!(type_of("abcd"), None);
        assert_eq!(closest("abcd"), Some("abc"));
        assert_eq!(
            closest("days_since_last_ordr"),
            Some("days_since_last_order")
        );
    }
}
