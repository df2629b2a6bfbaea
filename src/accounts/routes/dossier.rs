//! Routes for the parts of an account's dossier: profile, relationship history, stakeholders
//! and competitors, addressed by numeric id under the account.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};

use crate::accounts::error::finish;
use crate::accounts::model::*;
use crate::accounts::service as svc;
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::openapi::Patch;
use crate::api::state::State;
use crate::domain::validation::FieldErrors;
use crate::error::{ApiError, Problem};

/// The bodies of the dossier's PATCH requests.
type RelationshipEventPatch = Patch<RelationshipEventInput>;
type StakeholderPatch = Patch<StakeholderInput>;
type CompetitorPatch = Patch<CompetitorInput>;

// ---------------------------------------------------------------- profile

/// Get the account's profile (all fields null when none was written yet).
#[utoipa::path(tag = "dossier", responses((status = 200, body = ProfileView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/profile")]
pub(super) async fn get_profile(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(ProfileView::from(svc::get_profile(&state.db, a.id).await?)))
}

/// Replace the account's profile.
#[utoipa::path(tag = "dossier", request_body = ProfileInput,
    responses((status = 200, body = ProfileView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/accounts/{external_id}/profile")]
pub(super) async fn put_profile(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    let mut errors = FieldErrors::default();
    body.0.validate(&mut errors);
    finish((), errors)?;
    let p = svc::put_profile(&state.db, state.clock.as_ref(), a.id, body.0).await?;
    Ok(HttpResponse::Ok().json(ProfileView::from(Some(p))))
}

// ---------------------------------------------------------------- relationship history

/// The relationship history, newest first; filter by `kind`, `outcome`; sort by
/// `occurred_on`, `kind`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, EventFilter),
    responses((status = 200, body = Paged<RelationshipEventView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/relationship-events")]
pub(super) async fn list_events(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<EventFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::EVENT_SORTS, "-occurred_on")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(svc::page_events(&state.db, &a, &page, &filter).await?))
}

/// Add a relationship history entry (`kind` and `occurred_on` required).
#[utoipa::path(tag = "dossier", request_body = RelationshipEventInput,
    responses((status = 201, body = RelationshipEventView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/accounts/{external_id}/relationship-events")]
pub(super) async fn create_event(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<RelationshipEventInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(true, &a.currency, &mut errors);
    let draft = finish(draft, errors)?;
    let e = svc::save_event(&state.db, state.clock.as_ref(), a.id, None, draft).await?;
    Ok(HttpResponse::Created().json(RelationshipEventView::new(e, &a.currency)))
}

/// Get one relationship history entry.
#[utoipa::path(tag = "dossier", responses((status = 200, body = RelationshipEventView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/relationship-events/{id}")]
pub(super) async fn get_event(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    let e = svc::get_event(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::Ok().json(RelationshipEventView::new(e, &a.currency)))
}

/// Change a relationship history entry.
#[utoipa::path(tag = "dossier", request_body = RelationshipEventPatch,
    responses((status = 200, body = RelationshipEventView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/relationship-events/{id}")]
pub(super) async fn update_event(
    state: State,
    path: web::Path<(String, i64)>,
    body: JsonBody<RelationshipEventInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    let current = svc::get_event(&state.db, a.id, path.1).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(false, &a.currency, &mut errors);
    let draft = finish(draft, errors)?;
    let e = svc::save_event(&state.db, state.clock.as_ref(), a.id, Some(current), draft).await?;
    Ok(HttpResponse::Ok().json(RelationshipEventView::new(e, &a.currency)))
}

/// Delete a relationship history entry.
#[utoipa::path(tag = "dossier", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/accounts/{external_id}/relationship-events/{id}")]
pub(super) async fn delete_event(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::delete_event(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------- stakeholders

/// The decision map, most influential first; filter by `role`, `consent`, `q`; sort by
/// `influence`, `name`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, StakeholderFilter),
    responses((status = 200, body = Paged<StakeholderView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/stakeholders")]
pub(super) async fn list_stakeholders(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<StakeholderFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::STAKEHOLDER_SORTS, "-influence")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(svc::page_stakeholders(&state.db, a.id, &page, &filter).await?))
}

/// Add a stakeholder (`name` and `role` required).
#[utoipa::path(tag = "dossier", request_body = StakeholderInput,
    responses((status = 201, body = StakeholderView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/accounts/{external_id}/stakeholders")]
pub(super) async fn create_stakeholder(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<StakeholderInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(true, &a.external_id, &mut errors);
    let draft = finish(draft, errors)?;
    let s = svc::create_stakeholder(&state.db, state.clock.as_ref(), a.id, draft).await?;
    Ok(HttpResponse::Created().json(StakeholderView::from(s)))
}

/// Get one stakeholder.
#[utoipa::path(tag = "dossier", responses((status = 200, body = StakeholderView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/stakeholders/{id}")]
pub(super) async fn get_stakeholder(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    Ok(HttpResponse::Ok().json(StakeholderView::from(
        svc::get_stakeholder(&state.db, a.id, path.1).await?,
    )))
}

/// Change a stakeholder.
#[utoipa::path(tag = "dossier", request_body = StakeholderPatch,
    responses((status = 200, body = StakeholderView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/stakeholders/{id}")]
pub(super) async fn update_stakeholder(
    state: State,
    path: web::Path<(String, i64)>,
    body: JsonBody<StakeholderInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    let current = svc::get_stakeholder(&state.db, a.id, path.1).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(false, &a.external_id, &mut errors);
    let draft = finish(draft, errors)?;
    let s = svc::update_stakeholder(&state.db, state.clock.as_ref(), current, draft).await?;
    Ok(HttpResponse::Ok().json(StakeholderView::from(s)))
}

/// Delete a stakeholder.
#[utoipa::path(tag = "dossier", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/accounts/{external_id}/stakeholders/{id}")]
pub(super) async fn delete_stakeholder(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::delete_stakeholder(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------- competitors

/// Competitors courting the account; filter by `q`; sort by `name`, `strength`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, CompetitorFilter),
    responses((status = 200, body = Paged<CompetitorView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/competitors")]
pub(super) async fn list_competitors(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<CompetitorFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::COMPETITOR_SORTS, "name")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(svc::page_competitors(&state.db, a.id, &page, &filter).await?))
}

/// Add a competitor (`name` required).
#[utoipa::path(tag = "dossier", request_body = CompetitorInput,
    responses((status = 201, body = CompetitorView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/accounts/{external_id}/competitors")]
pub(super) async fn create_competitor(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<CompetitorInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(true, &mut errors);
    let draft = finish(draft, errors)?;
    let c = svc::save_competitor(&state.db, state.clock.as_ref(), a.id, None, draft).await?;
    Ok(HttpResponse::Created().json(CompetitorView::from(c)))
}

/// Get one competitor.
#[utoipa::path(tag = "dossier", responses((status = 200, body = CompetitorView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/competitors/{id}")]
pub(super) async fn get_competitor(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    Ok(HttpResponse::Ok().json(CompetitorView::from(
        svc::get_competitor(&state.db, a.id, path.1).await?,
    )))
}

/// Change a competitor.
#[utoipa::path(tag = "dossier", request_body = CompetitorPatch,
    responses((status = 200, body = CompetitorView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/competitors/{id}")]
pub(super) async fn update_competitor(
    state: State,
    path: web::Path<(String, i64)>,
    body: JsonBody<CompetitorInput>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    let current = svc::get_competitor(&state.db, a.id, path.1).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(false, &mut errors);
    let draft = finish(draft, errors)?;
    let c =
        svc::save_competitor(&state.db, state.clock.as_ref(), a.id, Some(current), draft).await?;
    Ok(HttpResponse::Ok().json(CompetitorView::from(c)))
}

/// Delete a competitor.
#[utoipa::path(tag = "dossier", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/accounts/{external_id}/competitors/{id}")]
pub(super) async fn delete_competitor(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::delete_competitor(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}
