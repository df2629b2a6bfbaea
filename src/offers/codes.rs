//! Offer codes: unique and unguessable (a prefix, 11 random characters from an alphabet
//! without look-alikes, and a check character that catches a mistyped or swapped character),
//! issued once per (enrolment, step) with the value and expiry fixed at issue.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Definition, ValueRule};
use crate::content::context::OfferCtx;
use crate::domain::kinds::OfferKind;
use crate::entities::{account, account_snapshot, offer, offer_code};

/// The characters of a code's random part and check character: digits and capitals without
/// the look-alikes 0/O, 1/I/L (31 characters: a prime, so the check catches every single
/// substitution and every swap of neighbours).
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Random characters per code: 31^11 ≈ 2.5 × 10^16 codes per prefix.
const RANDOM: usize = 11;

/// The check character of `random` (characters of [`ALPHABET`]): weighted sum mod 31.
fn check_char(random: &[u8]) -> Option<u8> {
    let mut sum = 0usize;
    for (i, c) in random.iter().enumerate() {
        let v = ALPHABET.iter().position(|a| a == c)?;
        sum += (i + 1) * v;
    }
    Some(ALPHABET[sum % ALPHABET.len()])
}

/// A new code: `PREFIX-XXXX-XXXX-XXXX`, the last character the check character.
pub fn generate(prefix: &str, rng: &mut impl Rng) -> String {
    let random: Vec<u8> = (0..RANDOM)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect();
    let mut body = random.clone();
    body.extend(check_char(&random));
    let body = String::from_utf8(body).unwrap_or_default();
    format!("{prefix}-{}-{}-{}", &body[0..4], &body[4..8], &body[8..12])
}

/// Whether `raw` has the shape of a code of ours (a prefix, a dash and twelve letters or
/// digits, dashes and spaces aside), right or mistyped. An order's `offer_code` of another
/// shape (a shop's own promotion code, `SUMMER10`) is stored as it is and redeems nothing.
pub fn has_our_shape(raw: &str) -> bool {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let Some((prefix, rest)) = s.split_once('-') else {
        return false;
    };
    let body: Vec<char> = rest.chars().filter(|c| *c != '-').collect();
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_alphanumeric())
        && body.len() == RANDOM + 1
        && body.iter().all(char::is_ascii_alphanumeric)
}

/// `raw` as codes are stored: capitals, without spaces; `None` when it cannot be a code of
/// ours (wrong shape or check character: a typo).
pub fn normalize(raw: &str) -> Option<String> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let (prefix, rest) = s.split_once('-')?;
    let body: Vec<u8> = rest.bytes().filter(|b| *b != b'-').collect();
    if prefix.is_empty() || body.len() != RANDOM + 1 {
        return None;
    }
    if check_char(&body[..RANDOM])? != body[RANDOM] {
        return None;
    }
    let body = String::from_utf8(body).ok()?;
    Some(format!(
        "{prefix}-{}-{}-{}",
        &body[0..4],
        &body[4..8],
        &body[8..12]
    ))
}

/// What an issued code gives, fixed at issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IssuedValue {
    pub kind: OfferKind,
    /// The account's currency at issue.
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// A fixed discount (decimal string in `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The most a percent discount gives (decimal string in `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gift: Option<String>,
    /// What the gift costs us (decimal string in `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gift_cost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A decimal of the definition (up to 4 places) in `currency`'s minor units, cut to its
/// decimals, formatted.
fn in_currency(raw: &str, currency: &crate::domain::Currency) -> Option<String> {
    let v = crate::domain::parse_decimal(raw, super::AMOUNT_SCALE).ok()?;
    let drop = super::AMOUNT_SCALE.saturating_sub(currency.exponent());
    let minor = v / 10i64.pow(drop);
    Some(currency.format_amount(minor))
}

fn rule_holds(r: &ValueRule, s: Option<&account_snapshot::Model>) -> bool {
    let Some(s) = s else {
        return false;
    };
    r.abc.as_ref().is_none_or(|c| s.abc.as_ref() == Some(c))
        && r.xyz.as_ref().is_none_or(|c| s.xyz.as_ref() == Some(c))
        && r.account_type
            .as_ref()
            .is_none_or(|t| s.types.split(',').any(|x| x == t))
}

/// The value `d` gives an account with the classes of `s`, in `currency`.
pub fn value_for(
    d: &Definition,
    s: Option<&account_snapshot::Model>,
    currency: &str,
) -> IssuedValue {
    let cur = crate::domain::Currency::parse(currency).ok();
    let money = |raw: &Option<String>| {
        raw.as_deref()
            .and_then(|r| cur.as_ref().and_then(|c| in_currency(r, c)))
    };
    let (percent, amount) = match d.rules.iter().find(|r| rule_holds(r, s)) {
        Some(r) => (r.percent, money(&r.amount)),
        None => (d.percent, money(&d.amount)),
    };
    IssuedValue {
        kind: d.kind,
        currency: currency.to_string(),
        cap: percent.and(money(&d.cap)),
        percent,
        amount,
        gift: d.gift.clone(),
        gift_cost: money(&d.gift_cost),
        terms: d.terms.clone(),
        description: d.description.clone(),
    }
}

/// When a code issued at `now` expires.
pub fn expiry(d: &Definition, now: DateTime<Utc>) -> DateTime<Utc> {
    match (d.valid_days, d.valid_until) {
        (Some(days), _) => now + Duration::days(i64::from(days)),
        (None, Some(day)) => day
            .and_hms_opt(23, 59, 59)
            .map(|t| t.and_utc())
            .unwrap_or(now),
        (None, None) => now,
    }
}

/// Where a code comes from.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub offer: &'a offer::Model,
    pub account_id: i64,
    pub campaign_id: Option<i64>,
    pub enrolment_id: Option<i64>,
    pub step: Option<String>,
}

/// The code of (enrolment, step), issued now if it has none: the same code however often the
/// step is rendered, also when two instances render it at once.
pub async fn issue(
    db: &impl ConnectionTrait,
    what: Issue<'_>,
    now: DateTime<Utc>,
) -> Result<offer_code::Model, DbErr> {
    let existing = || async {
        match (what.enrolment_id, &what.step) {
            (Some(e), Some(step)) => {
                offer_code::Entity::find()
                    .filter(offer_code::Column::EnrolmentId.eq(e))
                    .filter(offer_code::Column::Step.eq(step.as_str()))
                    .one(db)
                    .await
            }
            _ => Ok(None),
        }
    };
    if let Some(c) = existing().await? {
        return Ok(c);
    }
    let d: Definition = serde_json::from_value(what.offer.definition.clone())
        .map_err(|e| DbErr::Custom(format!("offer {}: {e}", what.offer.key)))?;
    let currency = account::Entity::find_by_id(what.account_id)
        .one(db)
        .await?
        .map(|a| a.currency)
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {}", what.account_id)))?;
    let snapshot = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::AccountId.eq(what.account_id))
        .order_by_desc(account_snapshot::Column::RunId)
        .one(db)
        .await?;
    let value = value_for(&d, snapshot.as_ref(), &currency);
    let value = serde_json::to_value(&value).map_err(|e| DbErr::Custom(e.to_string()))?;
    for _ in 0..5 {
        let code = generate(&d.code_prefix, &mut rand::rng());
        let row = offer_code::ActiveModel {
            code: Set(code.clone()),
            offer_id: Set(what.offer.id),
            account_id: Set(what.account_id),
            campaign_id: Set(what.campaign_id),
            enrolment_id: Set(what.enrolment_id),
            step: Set(what.step.clone()),
            message_id: Set(None),
            value: Set(value.clone()),
            issued_at: Set(now),
            expires_at: Set(expiry(&d, now)),
            state: Set("issued".into()),
            redemptions: Set(0),
            redeemed_at: Set(None),
            order_id: Set(None),
            ..Default::default()
        };
        match offer_code::Entity::insert(row).exec(db).await {
            Ok(_) => {
                return offer_code::Entity::find()
                    .filter(offer_code::Column::Code.eq(code))
                    .one(db)
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("the code just issued".into()));
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                // Another instance issued this step's code first, or (rarely) the code exists.
                if let Some(c) = existing().await? {
                    return Ok(c);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(DbErr::Custom(
        "no unused code after 5 tries: use a longer prefix".into(),
    ))
}

/// The template context of an issued code.
pub fn context(code: &offer_code::Model) -> OfferCtx {
    let v: Option<IssuedValue> = serde_json::from_value(code.value.clone()).ok();
    let expires_on: NaiveDate = code.expires_at.date_naive();
    OfferCtx {
        code: Some(code.code.clone()),
        kind: v.as_ref().map_or(OfferKind::Discount, |v| v.kind),
        discount_percent: v.as_ref().and_then(|v| v.percent),
        amount: v.as_ref().and_then(|v| v.amount.clone()),
        gift: v.as_ref().and_then(|v| v.gift.clone()),
        terms: v.as_ref().and_then(|v| v.terms.clone()),
        valid_until: Some(expires_on),
        expires_on: Some(expires_on),
        description: v.and_then(|v| v.description),
    }
}

/// An issued code as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    pub code: String,
    /// The external id of the account it was issued to.
    pub account_id: String,
    /// The campaign that issued it (its key).
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// `issued`, `redeemed`, `expired` (issued and past `expires_at`) or `void`.
    pub state: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub redemptions: i32,
    pub redeemed_at: Option<DateTime<Utc>>,
    /// The external id of the order that redeemed it last.
    pub order_id: Option<String>,
    pub value: IssuedValue,
}

/// The state of `c` at `now`.
pub fn state(c: &offer_code::Model, now: DateTime<Utc>) -> &str {
    if c.state == "issued" && c.expires_at < now {
        "expired"
    } else {
        c.state.as_str()
    }
}

/// One page of the codes of offer `offer_id`, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    offer_id: i64,
    page: &crate::db::page::Page,
    now: DateTime<Utc>,
) -> Result<crate::db::page::Paged<CodeView>, DbErr> {
    use std::collections::HashMap;
    let (codes, total) = crate::db::page::fetch_page(
        db,
        offer_code::Entity::find().filter(offer_code::Column::OfferId.eq(offer_id)),
        page,
        offer_code::Column::Id,
        offer_code::Column::Id,
    )
    .await?;
    let accounts: HashMap<i64, String> = account::Entity::find()
        .filter(account::Column::Id.is_in(codes.iter().map(|c| c.account_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.external_id))
        .collect();
    let campaigns: HashMap<i64, String> = crate::entities::campaign::Entity::find()
        .filter(
            crate::entities::campaign::Column::Id.is_in(codes.iter().filter_map(|c| c.campaign_id)),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.key))
        .collect();
    let items = codes
        .into_iter()
        .filter_map(|c| {
            Some(CodeView {
                account_id: accounts.get(&c.account_id)?.clone(),
                campaign: c.campaign_id.and_then(|id| campaigns.get(&id).cloned()),
                state: state(&c, now).to_string(),
                value: serde_json::from_value(c.value.clone()).ok()?,
                code: c.code,
                step: c.step,
                issued_at: c.issued_at,
                expires_at: c.expires_at,
                redemptions: c.redemptions,
                redeemed_at: c.redeemed_at,
                order_id: c.order_id,
            })
        })
        .collect();
    Ok(crate::db::page::Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// A code withdrawn.
#[derive(Debug, Serialize, ToSchema)]
pub struct Voided {
    pub code: String,
    /// Always `void`.
    pub state: String,
}

/// Withdraws code `raw` of `offer`: it can no longer be redeemed. A redeemed code stays.
pub async fn void(
    db: &sea_orm::DatabaseConnection,
    offer: &crate::entities::offer::Model,
    raw: &str,
) -> Result<Voided, crate::error::ApiError> {
    use crate::error::ApiError;
    use sea_orm::sea_query::Expr;
    let shown = crate::domain::shorten(raw, 40);
    let not_found = || ApiError::NotFound(format!("offer `{}` has no code `{shown}`", offer.key));
    let code = normalize(raw).ok_or_else(not_found)?;
    let voided = offer_code::Entity::update_many()
        .col_expr(offer_code::Column::State, Expr::value("void"))
        .filter(offer_code::Column::OfferId.eq(offer.id))
        .filter(offer_code::Column::Code.eq(code.as_str()))
        .filter(offer_code::Column::State.eq("issued"))
        .exec(db)
        .await?;
    if voided.rows_affected == 0 {
        let c = offer_code::Entity::find()
            .filter(offer_code::Column::OfferId.eq(offer.id))
            .filter(offer_code::Column::Code.eq(code.as_str()))
            .one(db)
            .await?
            .ok_or_else(not_found)?;
        if c.state == "redeemed" {
            return Err(ApiError::Conflict {
                code: "code_redeemed",
                detail: format!("offer code `{code}` was already redeemed; it cannot be voided"),
            });
        }
    }
    Ok(Voided {
        code,
        state: "void".into(),
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn codes_carry_a_check_character_that_catches_typos_and_swaps() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let code = generate("WB", &mut rng);
            assert_eq!(code.len(), "WB-".len() + 14, "{code}");
            assert!(code.starts_with("WB-"));
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalize(&format!(" {} ", code.to_lowercase())).as_deref(),
                Some(code.as_str())
            );
            let spaced = code[3..].replace('-', " ");
            assert_eq!(
                normalize(&format!("wb-{spaced}")).as_deref(),
                Some(code.as_str())
            );
            assert!(
                !code[3..]
                    .chars()
                    .any(|c| matches!(c, '0' | 'O' | '1' | 'I' | 'L')),
                "{code}"
            );
            let body: Vec<u8> = code[3..].bytes().filter(|b| *b != b'-').collect();
            // Every single substitution is caught.
            for i in 0..body.len() {
                for &c in ALPHABET.iter().filter(|&&c| c != body[i]) {
                    let mut typo = body.clone();
                    typo[i] = c;
                    let typo = format!("WB-{}", String::from_utf8(typo).expect("ascii"));
                    assert_eq!(normalize(&typo), None, "{typo} passed for {code}");
                }
            }
            // Every swap of different neighbours is caught.
            for i in 0..body.len() - 1 {
                if body[i] != body[i + 1] {
                    let mut swapped = body.clone();
                    swapped.swap(i, i + 1);
                    let swapped = format!("WB-{}", String::from_utf8(swapped).expect("ascii"));
                    assert_eq!(normalize(&swapped), None, "{swapped} passed for {code}");
                }
            }
        }
        // Our shape, right or mistyped, is checked; other promotion codes are not ours.
        assert!(has_our_shape("wb-2345-6789-abcd"));
        assert!(has_our_shape("WB- 2345 6789 ABC0"));
        assert!(has_our_shape("WB-23456789ABCD"));
        for other in [
            "WB10",
            "WINBACK10",
            "SUMMER-SALE",
            "WB-2345-6789-ABC",
            "-2345-6789-ABCD",
            "WB-2345-6789-ABCÄ",
            "",
        ] {
            assert!(!has_our_shape(other), "{other}");
        }
        assert_eq!(normalize("WB-"), None);
        assert_eq!(normalize("no code"), None);
        assert_eq!(normalize("WB-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ"), None);
    }
}
