//! Webhook endpoints: where webhook sends go, each with its own signing secret, and the
//! Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) the official `standardwebhooks` libraries
//! verify. A rotated secret keeps signing next to the new one for `webhooks.secret_grace_hours`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit, Mac};
use rand::Rng;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::DeliveryError;
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::domain::input::{double_option, non_null};
use crate::domain::schema::HttpUrl;
use crate::domain::validation::FieldErrors;
use crate::entities::webhook_endpoint;

/// Sort fields of the endpoint list.
pub const ENDPOINT_SORTS: &[&str] = &["id", "url", "created_at"];
pub const ENDPOINT_DEFAULT_SORT: &str = "id";
/// Prefix of every secret, as Standard Webhooks writes them.
pub const SECRET_PREFIX: &str = "whsec_";
const DESCRIPTION_MAX: usize = 1000;

/// Fields of an endpoint. On create `url` is required; on PATCH both are optional and a
/// `null` or empty description clears it.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointInput)]
pub struct EndpointInput {
    /// Where the POSTs go. Private, loopback and link-local addresses are refused unless
    /// `webhooks.allow_private`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = HttpUrl, required = true)]
    pub url: Option<String>,
    /// Free text, at most 1,000 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub description: Option<Option<String>>,
    /// Sales event types to receive (`message.delivered`, `message.opened`,
    /// `message.clicked`, `message.replied`, `message.bounced`, `stakeholder.unsubscribed`,
    /// `task.created`, `account.hot`, `account.at_risk`, `account.lost`,
    /// `account.recovered`, `offer.redeemed`); `null` or `[]` for none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    /// Only events of accounts this rule matches (rule language, account fields), e.g.
    /// `abc = A`; `null` or empty for every account.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub rule_text: Option<Option<String>>,
    /// `true` turns a disabled endpoint back on (PATCH); `false` disables it by hand.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = bool)]
    pub enabled: Option<bool>,
}

impl crate::api::openapi::BodySchema for EndpointInput {}

/// An endpoint as the API shows it; the secret is shown only when it is made.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub description: Option<String>,
    /// Until when the secret before the last rotation still signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// The sales event types it receives.
    pub event_types: Vec<String>,
    /// Only events of accounts this rule matches.
    pub rule_text: Option<String>,
    /// False once disabled (failing for `webhooks.disable_after_hours`, a 410, or by hand).
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed, while that lasts.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The event types an endpoint row subscribes to.
pub fn event_types_of(m: &webhook_endpoint::Model) -> Vec<String> {
    m.event_types
        .as_ref()
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl From<webhook_endpoint::Model> for EndpointView {
    fn from(m: webhook_endpoint::Model) -> Self {
        Self {
            event_types: event_types_of(&m),
            id: m.id,
            url: m.url,
            description: m.description,
            previous_secret_until: m.previous_secret_until,
            rule_text: m.rule_text,
            enabled: m.disabled_at.is_none(),
            disabled_at: m.disabled_at,
            disabled_reason: m.disabled_reason,
            failing_since: m.failing_since,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A new endpoint, or one with a new secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_` + base64 of 32 random bytes. Keep it: it is not shown again.
    pub secret: String,
}

/// Checked endpoint fields; `None` means "leave unchanged".
#[derive(Debug, Default)]
struct EndpointDraft {
    url: Option<String>,
    description: Option<Option<String>>,
    event_types: Option<Vec<String>>,
    /// The rule in its printed text form.
    rule_text: Option<Option<String>>,
    enabled: Option<bool>,
}

fn parse_input(
    input: EndpointInput,
    creating: bool,
    allow_private: bool,
) -> Result<EndpointDraft, DeliveryError> {
    let mut errors = FieldErrors::default();
    let mut d = EndpointDraft::default();
    match input.url.as_deref() {
        None if creating => errors.push("url", "is required"),
        None => {}
        Some(u) => {
            d.url = errors.check(
                "url",
                crate::domain::webhook_url::parse(u, allow_private).map(String::from),
            )
        }
    }
    if let Some(desc) = input.description {
        let desc = desc.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(s) = &desc {
            if s.chars().count() > DESCRIPTION_MAX {
                errors.push(
                    "description",
                    format!("must be at most {DESCRIPTION_MAX} characters"),
                );
            } else {
                errors.check("description", crate::domain::multi_line(s));
            }
        }
        d.description = Some(desc);
    }
    if let Some(types) = input.event_types {
        let mut types = types.unwrap_or_default();
        if types.len() > 50 {
            errors.push("event_types", "at most 50 event types");
        }
        for (i, t) in types.iter().enumerate().take(50) {
            if !crate::tracking::notify::SALES_TYPES.contains(&t.as_str()) {
                errors.push(
                    &format!("event_types/{i}"),
                    format!(
                        "unknown event type; one of {}",
                        crate::tracking::notify::SALES_TYPES.join(", ")
                    ),
                );
            }
        }
        types.sort();
        types.dedup();
        d.event_types = Some(types);
    }
    if let Some(rule) = input.rule_text {
        match rule.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => d.rule_text = Some(None),
            Some(r) => match crate::segments::rules::Rule::parse_text_for(
                r,
                crate::segments::rules::ACCOUNT_SCOPES,
            ) {
                Ok(rule) => d.rule_text = Some(Some(rule.to_text())),
                Err(e) => {
                    let (field, message) =
                        crate::segments::rules::rule_problem(e, "rule_text", "rule_text");
                    errors.push(&field, message);
                }
            },
        }
    }
    if creating && input.enabled == Some(false) {
        errors.push("enabled", "an endpoint is created enabled");
    }
    d.enabled = input.enabled;
    if errors.is_empty() {
        Ok(d)
    } else {
        Err(DeliveryError::Invalid(errors.errors))
    }
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The `v1,<signature>` of one message under one secret (`whsec_…`; the part after the prefix
/// is the base64 key, as Standard Webhooks defines it). `None` for a secret that is not valid
/// base64, which this service never makes.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header of a message to `endpoint` at `now`: the signature under the
/// current secret, and under the previous one while its grace period lasts, space-separated.
pub fn signature_header(
    endpoint: &webhook_endpoint::Model,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    now: DateTime<Utc>,
) -> String {
    let mut out: Vec<String> = sign(&endpoint.secret, msg_id, timestamp, body)
        .into_iter()
        .collect();
    if let (Some(old), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_until)
        && now < until
    {
        out.extend(sign(old, msg_id, timestamp, body));
    }
    out.join(" ")
}

async fn find(ctx: &AppContext, id: i64) -> Result<webhook_endpoint::Model, DeliveryError> {
    webhook_endpoint::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(DeliveryError::EndpointNotFound(id))
}

/// Creates an endpoint with a new secret.
pub async fn create(
    ctx: &AppContext,
    input: EndpointInput,
) -> Result<EndpointWithSecret, DeliveryError> {
    let d = parse_input(input, true, ctx.settings.webhooks.allow_private)?;
    let now = ctx.clock.now();
    let secret = new_secret();
    let m = webhook_endpoint::ActiveModel {
        url: Set(d.url.unwrap_or_default()),
        description: Set(d.description.flatten()),
        event_types: Set(Some(serde_json::json!(d.event_types.unwrap_or_default()))),
        rule_text: Set(d.rule_text.flatten()),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?;
    Ok(EndpointWithSecret {
        endpoint: m.into(),
        secret,
    })
}

/// One endpoint (without its secret).
pub async fn get(ctx: &AppContext, id: i64) -> Result<EndpointView, DeliveryError> {
    Ok(find(ctx, id).await?.into())
}

/// One page of endpoints.
pub async fn list(ctx: &AppContext, page: &Page) -> Result<Paged<EndpointView>, DeliveryError> {
    let col = match page.sort_field.as_str() {
        "url" => webhook_endpoint::Column::Url,
        "created_at" => webhook_endpoint::Column::CreatedAt,
        _ => webhook_endpoint::Column::Id,
    };
    let (rows, total) = fetch_page(
        &ctx.db,
        webhook_endpoint::Entity::find(),
        page,
        col,
        webhook_endpoint::Column::Id,
    )
    .await?;
    Ok(Paged {
        items: rows.into_iter().map(EndpointView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Changes the given fields; a change that changes nothing leaves `updated_at` alone.
pub async fn update(
    ctx: &AppContext,
    id: i64,
    input: EndpointInput,
) -> Result<EndpointView, DeliveryError> {
    let d = parse_input(input, false, ctx.settings.webhooks.allow_private)?;
    let current = find(ctx, id).await?;
    let now = ctx.clock.now();
    let url = d.url.unwrap_or_else(|| current.url.clone());
    let description = d.description.unwrap_or_else(|| current.description.clone());
    let types = d
        .event_types
        .map(|t| Some(serde_json::json!(t)))
        .unwrap_or_else(|| current.event_types.clone());
    let rule_text = d.rule_text.unwrap_or_else(|| current.rule_text.clone());
    let (disabled_at, disabled_reason, failing_since) = match d.enabled {
        Some(true) => (None, None, None),
        Some(false) if current.disabled_at.is_none() => (
            Some(now),
            Some("disabled by hand".to_string()),
            current.failing_since,
        ),
        _ => (
            current.disabled_at,
            current.disabled_reason.clone(),
            current.failing_since,
        ),
    };
    if url == current.url
        && description == current.description
        && types == current.event_types
        && rule_text == current.rule_text
        && disabled_at == current.disabled_at
        && failing_since == current.failing_since
    {
        return Ok(current.into());
    }
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    use webhook_endpoint::Column as C;
    // Only over what was read: a change made meanwhile is not silently undone.
    let done = webhook_endpoint::Entity::update_many()
        .col_expr(C::Url, Expr::value(url))
        .col_expr(C::Description, Expr::value(description))
        .col_expr(C::EventTypes, Expr::value(types))
        .col_expr(C::RuleText, Expr::value(rule_text))
        .col_expr(C::DisabledAt, Expr::value(disabled_at))
        .col_expr(C::DisabledReason, Expr::value(disabled_reason))
        .col_expr(C::FailingSince, Expr::value(failing_since))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(C::UpdatedAt.eq(current.updated_at))
        .exec(&ctx.db)
        .await?;
    if done.rows_affected == 0 {
        return Err(DeliveryError::Conflict(format!(
            "endpoint {id} was changed at the same time; read it and try again"
        )));
    }
    Ok(find(ctx, id).await?.into())
}

/// Deletes an endpoint.
pub async fn delete(ctx: &AppContext, id: i64) -> Result<(), DeliveryError> {
    let res = webhook_endpoint::Entity::delete_by_id(id)
        .exec(&ctx.db)
        .await?;
    if res.rows_affected == 0 {
        return Err(DeliveryError::EndpointNotFound(id));
    }
    Ok(())
}

/// Gives an endpoint a new secret; the old one keeps signing too for
/// `webhooks.secret_grace_hours` (a second rotation within that time ends the first one's
/// grace: only the secret just replaced keeps signing).
pub async fn rotate_secret(ctx: &AppContext, id: i64) -> Result<EndpointWithSecret, DeliveryError> {
    let current = find(ctx, id).await?;
    let now = ctx.clock.now();
    let grace = Duration::hours(i64::from(ctx.settings.webhooks.secret_grace_hours));
    let secret = new_secret();
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    // Only over the secret just read: of two rotations at once, one wins and the other is
    // told, so no secret is handed out that never signs.
    let done = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::PreviousSecret,
            Expr::value(Some(current.secret.clone())),
        )
        .col_expr(
            webhook_endpoint::Column::PreviousSecretUntil,
            Expr::value(Some(now + grace)),
        )
        .col_expr(
            webhook_endpoint::Column::Secret,
            Expr::value(secret.clone()),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::Secret.eq(current.secret.as_str()))
        .exec(&ctx.db)
        .await?;
    if done.rows_affected == 0 {
        return Err(DeliveryError::Conflict(format!(
            "endpoint {id} was changed at the same time; rotate again"
        )));
    }
    Ok(EndpointWithSecret {
        endpoint: find(ctx, id).await?.into(),
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        // The reference vector of the Standard Webhooks libraries, checked here with the
        // official Python package (`standardwebhooks` 1.x, `Webhook(secret).sign(...)`).
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("whsec_not base64!", "m", 1, b"{}"), None);
    }

    #[test]
    fn a_rotated_secret_signs_next_to_the_new_one_until_its_grace_ends() {
        let now = Utc::now();
        let mut e = webhook_endpoint::Model {
            id: 1,
            url: "https://hooks.example.com/".into(),
            description: None,
            secret: new_secret(),
            previous_secret: Some(new_secret()),
            previous_secret_until: Some(now + Duration::hours(1)),
            created_at: now,
            updated_at: now,
            event_types: None,
            rule_text: None,
            disabled_at: None,
            disabled_reason: None,
            failing_since: None,
        };
        let header = signature_header(&e, "msg_1", 7, b"{}", now);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Some(parts[0]),
            sign(&e.secret, "msg_1", 7, b"{}").as_deref()
        );
        let old = e.previous_secret.clone().expect("old");
        assert_eq!(Some(parts[1]), sign(&old, "msg_1", 7, b"{}").as_deref());
        e.previous_secret_until = Some(now);
        assert_eq!(
            signature_header(&e, "msg_1", 7, b"{}", now),
            sign(&e.secret, "msg_1", 7, b"{}").expect("sig")
        );
        assert!(e.secret.starts_with(SECRET_PREFIX) && e.secret.len() == 6 + 44);
        assert_ne!(new_secret(), new_secret());
    }
}
