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

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[("/offers", OFFER_SORTS)];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update);
}

/// A new offer: its key and definition.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OfferInput {
    /// Stable identifier used in URLs and campaign steps (lowercase letters, digits and `-`,
    /// at most 64).
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = r"^[a-z0-9-]{1,64}$")]
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
