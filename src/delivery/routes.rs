//! HTTP routes for the outbox (messages) and the suppression list; the only place where a
//! [`DeliveryError`] becomes a status.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::DeliveryError;
use super::outbox::{self, MessageDetail, MessageFilter, MessageView};
use super::suppression::{self, SuppressionView};
use super::webhooks::{self, EndpointInput, EndpointView, EndpointWithSecret};
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::openapi::{ListSorts, Patch};
use crate::api::state::State;
use crate::campaigns::model::{MessageStatus, SuppressionReason};
use crate::error::{ApiError, Problem};

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/messages", outbox::MESSAGE_SORTS),
    ("/suppressions", suppression::SUPPRESSION_SORTS),
    ("/webhooks/endpoints", webhooks::ENDPOINT_SORTS),
];

type EndpointPatch = Patch<EndpointInput>;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_messages)
        .service(get_message)
        .service(retry_message)
        .service(replay_message)
        .service(list_suppressions)
        .service(add_suppression)
        .service(remove_suppression)
        .service(list_endpoints)
        .service(create_endpoint)
        .service(get_endpoint)
        .service(update_endpoint)
        .service(delete_endpoint)
        .service(rotate_endpoint_secret);
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Invalid(errors) => ApiError::Validation(errors),
            e @ (DeliveryError::MessageNotFound(_)
            | DeliveryError::NotSuppressed(_)
            | DeliveryError::EndpointNotFound(_)
            | DeliveryError::CampaignNotFound(_)
            | DeliveryError::NoMatch(_)) => ApiError::NotFound(e.to_string()),
            DeliveryError::NotRetryable(detail) => ApiError::Conflict {
                code: "not_retryable",
                detail,
            },
            DeliveryError::Conflict(detail) => ApiError::Conflict {
                code: "conflict",
                detail,
            },
            DeliveryError::Database(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// A campaign's key.
    pub campaign: Option<String>,
    pub status: Option<MessageStatus>,
    /// An account's external id.
    pub account_id: Option<String>,
    /// A webhook endpoint's id: the messages sent to it (its delivery log).
    pub endpoint: Option<i64>,
}

/// Messages in the outbox; sort by `id`, `created_at`, `status`, `next_attempt_at`.
#[utoipa::path(tag = "messages", params(PageQuery, MessageQuery),
    responses((status = 200, body = Paged<MessageView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/messages")]
async fn list_messages(
    state: State,
    page: Query<PageQuery>,
    q: Query<MessageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, outbox::MESSAGE_SORTS, outbox::MESSAGE_DEFAULT_SORT)?;
    let q = q.0;
    let filter = MessageFilter {
        campaign: q.campaign,
        status: q.status,
        account: q.account_id,
        endpoint: q.endpoint,
    };
    Ok(HttpResponse::Ok().json(outbox::list(&state, &filter, &page).await?))
}

/// One message with its rendered parts.
#[utoipa::path(tag = "messages", responses((status = 200, body = MessageDetail), (status = 404, body = Problem)))]
#[get("/messages/{id}")]
async fn get_message(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(outbox::get(&state, *id).await?))
}

/// Requeue a `dead`, `failed` or `deferred` message: due now, attempts counted from 0 again
/// (409 for any other status: a sent message is never sent twice).
#[utoipa::path(tag = "messages", responses((status = 200, body = MessageDetail), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/messages/{id}/retry")]
async fn retry_message(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(outbox::retry(&state, *id).await?))
}

/// Send a delivered webhook message again, with the same `webhook-id` (receivers that
/// deduplicate by it see a repeat); 409 for an email or a message that is not `sent`.
#[utoipa::path(tag = "messages", responses((status = 200, body = MessageDetail), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/messages/{id}/replay")]
async fn replay_message(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(outbox::replay(&state, *id).await?))
}

/// Suppressed addresses, newest first by default; sort by `address`, `created_at`, `reason`.
#[utoipa::path(tag = "suppressions", params(PageQuery),
    responses((status = 200, body = Paged<SuppressionView>), (status = 422, body = Problem)))]
#[get("/suppressions")]
async fn list_suppressions(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = page.validate(
        &state,
        suppression::SUPPRESSION_SORTS,
        suppression::SUPPRESSION_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(suppression::list(&state, &page).await?))
}

/// An address to suppress.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionInput {
    #[schema(format = Email, max_length = 320)]
    pub address: String,
    /// Default `manual`.
    #[serde(default)]
    pub reason: Option<SuppressionReason>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// Suppress an address: nothing is sent to it any more (201 when new, 200 when it was
/// already suppressed; the first reason stands).
#[utoipa::path(tag = "suppressions", request_body = SuppressionInput,
    responses((status = 201, body = SuppressionView), (status = 200, body = SuppressionView), (status = 422, body = Problem)))]
#[post("/suppressions")]
async fn add_suppression(
    state: State,
    body: JsonBody<SuppressionInput>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let (view, new) = suppression::add(
        &state,
        &b.address,
        b.reason.unwrap_or(SuppressionReason::Manual),
        b.note,
    )
    .await?;
    Ok(if new {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Remove an address from the suppression list.
#[utoipa::path(tag = "suppressions", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/suppressions/{address}")]
async fn remove_suppression(
    state: State,
    address: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    suppression::remove(&state, &address).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Webhook endpoints; sort by `id`, `url`, `created_at`. Secrets are not listed.
#[utoipa::path(tag = "webhooks", params(PageQuery),
    responses((status = 200, body = Paged<EndpointView>), (status = 422, body = Problem)))]
#[get("/webhooks/endpoints")]
async fn list_endpoints(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = page.validate(
        &state,
        webhooks::ENDPOINT_SORTS,
        webhooks::ENDPOINT_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(webhooks::list(&state, &page).await?))
}

/// Add a webhook endpoint. The answer carries its signing secret, shown this once.
#[utoipa::path(tag = "webhooks", request_body = EndpointInput,
    responses((status = 201, body = EndpointWithSecret), (status = 422, body = Problem)))]
#[post("/webhooks/endpoints")]
async fn create_endpoint(
    state: State,
    body: JsonBody<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(webhooks::create(&state, body.0).await?))
}

/// One webhook endpoint (without its secret).
#[utoipa::path(tag = "webhooks", responses((status = 200, body = EndpointView), (status = 404, body = Problem)))]
#[get("/webhooks/endpoints/{id}")]
async fn get_endpoint(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(webhooks::get(&state, *id).await?))
}

/// Change a webhook endpoint's URL, description, event types, rule, or turn it back on with
/// `enabled: true` (only the given fields; 409 when it was changed at the same time).
#[utoipa::path(tag = "webhooks", request_body = EndpointPatch,
    responses((status = 200, body = EndpointView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/webhooks/endpoints/{id}")]
async fn update_endpoint(
    state: State,
    id: web::Path<i64>,
    body: JsonBody<EndpointInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(webhooks::update(&state, *id, body.0).await?))
}

/// Delete a webhook endpoint.
#[utoipa::path(tag = "webhooks", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/webhooks/endpoints/{id}")]
async fn delete_endpoint(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    webhooks::delete(&state, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give a webhook endpoint a new signing secret, shown this once. The previous secret keeps
/// signing too (a second signature in `webhook-signature`) for `webhooks.secret_grace_hours`.
#[utoipa::path(tag = "webhooks",
    responses((status = 200, body = EndpointWithSecret), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/webhooks/endpoints/{id}/rotate-secret")]
async fn rotate_endpoint_secret(
    state: State,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(webhooks::rotate_secret(&state, *id).await?))
}
