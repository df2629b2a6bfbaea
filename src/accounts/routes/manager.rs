//! Routes for key account managers, addressed by numeric id.

use actix_web::{HttpResponse, delete, get, patch, post, web};

use crate::accounts::error::finish;
use crate::accounts::model::*;
use crate::accounts::service as svc;
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::openapi::Patch;
use crate::api::state::State;
use crate::domain::validation::FieldErrors;
use crate::error::{ApiError, Problem};

/// The body of `PATCH /managers/{id}`.
type ManagerPatch = Patch<ManagerInput>;

/// List key account managers.
#[utoipa::path(tag = "managers", params(PageQuery, ManagerFilter),
    responses((status = 200, body = Paged<ManagerView>), (status = 422, body = Problem)))]
#[get("/managers")]
pub(super) async fn list_managers(
    state: State,
    page: Query<PageQuery>,
    filter: Query<ManagerFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::MANAGER_SORTS, "id")?;
    Ok(HttpResponse::Ok().json(svc::list_managers(&state.db, &page, &filter).await?))
}

/// Create a manager.
#[utoipa::path(tag = "managers", request_body = ManagerInput,
    responses((status = 201, body = ManagerView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/managers")]
pub(super) async fn create_manager(
    state: State,
    body: JsonBody<ManagerInput>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let draft = body
        .0
        .parse(true, state.settings.webhooks.allow_private, &mut errors);
    let draft = finish(draft, errors)?;
    let m = svc::create_manager(&state.db, state.clock.as_ref(), draft).await?;
    Ok(HttpResponse::Created().json(ManagerView::from(m)))
}

/// Get a manager.
#[utoipa::path(tag = "managers", responses((status = 200, body = ManagerView), (status = 404, body = Problem)))]
#[get("/managers/{id}")]
pub(super) async fn get_manager(
    state: State,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ManagerView::from(svc::get_manager(&state.db, *id).await?)))
}

/// Change a manager (only the given fields).
#[utoipa::path(tag = "managers", request_body = ManagerPatch,
    responses((status = 200, body = ManagerView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/managers/{id}")]
pub(super) async fn update_manager(
    state: State,
    id: web::Path<i64>,
    body: JsonBody<ManagerInput>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let draft = body
        .0
        .parse(false, state.settings.webhooks.allow_private, &mut errors);
    let draft = finish(draft, errors)?;
    let m = svc::update_manager(&state.db, state.clock.as_ref(), *id, draft).await?;
    Ok(HttpResponse::Ok().json(ManagerView::from(m)))
}

/// Delete a manager; their accounts keep existing without a manager.
#[utoipa::path(tag = "managers", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/managers/{id}")]
pub(super) async fn delete_manager(
    state: State,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_manager(&state.db, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
