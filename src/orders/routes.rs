//! HTTP routes for orders. Orders are addressed by their `external_id`. Handlers parse the
//! request, call the service and shape the response; [`OrdersError`] becomes a problem document
//! here and nowhere else.

use actix_web::{HttpResponse, delete, get, post, put, web};

use super::error::OrdersError;
use super::model::*;
use super::service::{self as svc, Put};
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::openapi::ListSorts;
use crate::api::state::State;
use crate::error::{ApiError, Problem};

/// The one status mapping of the orders part: invalid input 422, missing 404, clashes 409 with
/// their code, database failures as [`ApiError::from`] decides (a unique violation is 409
/// `already_exists`, contention 503 `busy`, anything else an opaque 500), and a broken
/// invariant an opaque 500.
impl From<OrdersError> for ApiError {
    fn from(e: OrdersError) -> Self {
        match e {
            OrdersError::Invalid(errors) => ApiError::Validation(errors),
            OrdersError::NotFound(detail) => ApiError::NotFound(detail),
            OrdersError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            OrdersError::Database(e) => ApiError::from(e),
            OrdersError::CodeRefused { path, refusals } => ApiError::Conflict {
                code: "offer_code_refused",
                detail: refusals
                    .iter()
                    .map(|r| {
                        if path.is_empty() {
                            r.detail.clone()
                        } else {
                            format!("{path}/{}: {}", r.index, r.detail)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            OrdersError::Internal(what) => ApiError::internal(anyhow::anyhow!(what)),
        }
    }
}

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[("/orders", svc::ORDER_SORTS)];

/// Registers every route of the part (with its OpenAPI description).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_orders)
        .service(create_order)
        .service(ingest_batch)
        .service(get_order)
        .service(put_order)
        .service(delete_order);
}

/// List orders, newest first by default; sort by `ordered_at`, `amount`, `external_id`, `id`.
#[utoipa::path(tag = "orders", params(PageQuery, OrderFilter),
    responses((status = 200, body = Paged<OrderView>), (status = 422, body = Problem)))]
#[get("/orders")]
async fn list_orders(
    state: State,
    page: Query<PageQuery>,
    filter: Query<OrderFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::ORDER_SORTS, "-ordered_at")?;
    Ok(HttpResponse::Ok().json(svc::list_orders(&state.db, &page, &filter).await?))
}

/// Record one order; 409 if its external id exists (use PUT to replace).
#[utoipa::path(tag = "orders", request_body = OrderInput,
    responses((status = 201, body = OrderView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/orders")]
async fn create_order(state: State, body: JsonBody<OrderInput>) -> Result<HttpResponse, ApiError> {
    let view = svc::create_order(
        &state.db,
        &state.settings.winback,
        state.clock.now(),
        &body.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Upsert up to `api.max_batch_orders` (default 10,000) orders by external id, all or nothing.
/// Sending the same batch again changes nothing (`unchanged` counts those orders).
#[utoipa::path(tag = "orders", request_body = OrderBatch,
    responses((status = 200, body = BatchResult), (status = 422, body = Problem)))]
#[post("/orders/batch")]
async fn ingest_batch(state: State, body: JsonBody<OrderBatch>) -> Result<HttpResponse, ApiError> {
    let result = svc::ingest_batch(
        &state.db,
        state.clock.as_ref(),
        &state.settings.winback,
        &body.0.orders,
        state.settings.api.max_batch_orders,
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Get an order by external id.
#[utoipa::path(tag = "orders", responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
#[get("/orders/{external_id}")]
async fn get_order(state: State, external_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc::find_order(&state.db, &external_id).await?))
}

/// Create or replace an order; the path's external id wins over the body's.
#[utoipa::path(tag = "orders", request_body = OrderInput,
    responses((status = 200, body = OrderView), (status = 201, body = OrderView), (status = 422, body = Problem)))]
#[put("/orders/{external_id}")]
async fn put_order(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<OrderInput>,
) -> Result<HttpResponse, ApiError> {
    let mut input = body.0;
    if input.external_id.trim() != external_id.as_str() {
        return Err(ApiError::field(
            "/external_id",
            "must match the external id in the URL",
        ));
    }
    input.external_id = external_id.into_inner();
    let (view, put) = svc::put_order(
        &state.db,
        &state.settings.winback,
        state.clock.now(),
        &input,
    )
    .await?;
    Ok(match put {
        Put::Replaced => HttpResponse::Ok().json(view),
        Put::Created => HttpResponse::Created().json(view),
    })
}

/// Delete an order.
#[utoipa::path(tag = "orders", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/orders/{external_id}")]
async fn delete_order(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_order(&state.db, &external_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
