//! `GET/POST /api/v1/offers`, `GET/PATCH /api/v1/offers/{key}`.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Definition, OfferView};
use crate::api::extract::{JsonBody, PageQuery, Query};
use crate::api::openapi::ListSorts;
use crate::api::state::State;
use crate::db::page::Paged;
use crate::error::{ApiError, Problem};

/// Sort fields of the offer list.
const OFFER_SORTS: &[&str] = &["key", "id"];
/// Sort fields of a code list.
const CODE_SORTS: &[&str] = &["id"];

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/offers", OFFER_SORTS),
    ("/offers/{key}/codes", CODE_SORTS),
];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(codes)
        .service(void)
        .service(redeem);
}

/// A new offer: its key and definition.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OfferInput {
    /// Stable identifier used in URLs and campaign steps (lowercase letters, digits and `-`,
    /// at most 64).
    #[schema(value_type = crate::domain::schema::Slug, max_length = 64)]
    pub key: String,
    #[serde(flatten)]
    pub definition: Definition,
}

/// Offers, by key (paged).
#[utoipa::path(tag = "offers", params(PageQuery),
    responses((status = 200, body = Paged<OfferView>), (status = 422, body = Problem)))]
#[get("/offers")]
async fn list(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, OFFER_SORTS, "key")?;
    Ok(HttpResponse::Ok().json(super::list(&state.db, &page).await?))
}

/// Define an offer: a `discount` (`percent`, with an optional `cap`, or a fixed `amount` in the
/// account's currency; values by class and type in `rules`), a `gift` (`gift`, `gift_cost`) or
/// `terms`; validity (`valid_days` after issue or `valid_until`); redemption limits per code
/// and per account; whether codes are `transferable`; the `code_prefix`.
#[utoipa::path(tag = "offers", request_body = OfferInput,
    responses((status = 201, body = OfferView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/offers")]
async fn create(
    state: State,
    body: JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    // Read as a map first: a flattened struct would let unknown fields pass unnoticed.
    let mut body = body.0;
    let key = match body.remove("key") {
        Some(serde_json::Value::String(k)) => k,
        Some(_) => return Err(ApiError::field("/key", "must be a string")),
        None => return Err(ApiError::field("/key", "is required")),
    };
    super::check_fields(&body)?;
    let definition: Definition = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::field("/", e.to_string()))?;
    if key.len() > 64 {
        return Err(ApiError::field("/key", "must be 1 to 64 characters"));
    }
    crate::domain::check_slug(&key).map_err(|e| ApiError::field("/key", e))?;
    let view = super::create(&state.db, state.clock.now(), &key, definition).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/offers/{}", view.key),
        ))
        .json(view))
}

/// One offer.
#[utoipa::path(tag = "offers",
    responses((status = 200, body = OfferView), (status = 404, body = Problem)))]
#[get("/offers/{key}")]
async fn get_one(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let m = super::find(&state.db, &key).await?;
    Ok(HttpResponse::Ok().json(OfferView::try_from(m)?))
}

/// Change an offer: the given fields of the definition (`null` clears an optional one); the
/// whole is checked again. Codes already issued keep their value and expiry.
#[utoipa::path(tag = "offers", request_body(content = Object, description = "Fields of the offer's definition (as in `POST /offers`) to change"),
    responses((status = 200, body = OfferView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/offers/{key}")]
async fn update(
    state: State,
    key: web::Path<String>,
    body: JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let view = super::update(&state.db, state.clock.now(), &key, body.0).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The codes issued for an offer, oldest first (paged): each with the account, campaign and
/// step it was issued for, its `state` (`issued`, `redeemed`, `expired`, `void`), expiry,
/// redemptions and value.
#[utoipa::path(tag = "offers", params(PageQuery),
    responses((status = 200, body = Paged<super::codes::CodeView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/offers/{key}/codes")]
async fn codes(
    state: State,
    key: web::Path<String>,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, CODE_SORTS, "id")?;
    let offer = super::find(&state.db, &key).await?;
    Ok(HttpResponse::Ok()
        .json(super::codes::list(&state.db, offer.id, &page, state.clock.now()).await?))
}

/// Withdraw a code (a mistake, a leak): it can no longer be redeemed and lists as `void`.
/// Voiding a void code changes nothing; a code already redeemed is 409 `code_redeemed`.
#[utoipa::path(tag = "offers",
    responses((status = 200, body = super::codes::Voided), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/offers/{key}/codes/{code}/void")]
async fn void(state: State, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (key, code) = path.into_inner();
    let offer = super::find(&state.db, &key).await?;
    Ok(HttpResponse::Ok().json(super::codes::void(&state.db, &offer, &code).await?))
}

/// A code redeemed outside an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemInput {
    /// The code as the customer gave it (case and spaces do not matter).
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// The external id of the account redeeming it.
    #[schema(min_length = 1, max_length = 200)]
    pub account_id: String,
    /// The order it was redeemed with, if any (an external id).
    #[schema(max_length = 100)]
    pub order_id: Option<String>,
}

/// Redeem a code for systems that redeem outside orders (a shop, a CRM): checked as an order's
/// `offer_code` is (it exists, belongs to the account or is transferable, is not expired, not
/// void and within its limits); `409 offer_code_refused` names the code and the reason.
/// Writes a `redeemed` event (`offer.redeemed` for sales webhooks).
#[utoipa::path(tag = "offers", request_body = RedeemInput,
    responses((status = 201, body = super::redeem::Redemption), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/offers/redeem")]
async fn redeem(state: State, body: JsonBody<RedeemInput>) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    if b.code.chars().count() > 64 {
        return Err(ApiError::field("/code", "must be at most 64 characters"));
    }
    if let Some(o) = &b.order_id {
        if o.is_empty() || o.chars().count() > 100 {
            return Err(ApiError::field("/order_id", "must be 1 to 100 characters"));
        }
        crate::domain::one_line(o).map_err(|e| ApiError::field("/order_id", e))?;
    }
    crate::domain::one_line(&b.code).map_err(|e| ApiError::field("/code", e))?;
    if b.account_id.is_empty() || b.account_id.chars().count() > 200 {
        return Err(ApiError::field(
            "/account_id",
            "must be 1 to 200 characters",
        ));
    }
    crate::domain::one_line(&b.account_id).map_err(|e| ApiError::field("/account_id", e))?;
    let r = super::redeem::redeem_alone(
        &state.db,
        &b.code,
        &b.account_id,
        b.order_id.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(r))
}
