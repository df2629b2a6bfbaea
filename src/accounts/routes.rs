//! HTTP routes for managers, accounts and the dossier. Accounts are addressed by their
//! `external_id`; dossier entries by their numeric id under the account. Handlers parse the
//! request, call the service and shape the response; [`AccountsError`] becomes a problem
//! document here and nowhere else.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};

use super::error::{AccountsError, finish};
use super::model::*;
use super::service as svc;
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::state::State;
use crate::domain::validation::FieldErrors;
use crate::error::{ApiError, Problem};

/// The one status mapping of the accounts part: invalid input 422, missing 404, clashes 409
/// with their code, database failures as [`ApiError::from`] decides (a unique violation is
/// 409 `already_exists`, contention 503 `busy`, anything else an opaque 500).
impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(errors) => ApiError::Validation(errors),
            AccountsError::NotFound(detail) => ApiError::NotFound(detail),
            AccountsError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            AccountsError::Database(e) => ApiError::from(e),
        }
    }
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_managers)
        .service(create_manager)
        .service(get_manager)
        .service(update_manager)
        .service(delete_manager)
        .service(list_accounts)
        .service(create_account)
        .service(get_account)
        .service(update_account)
        .service(delete_account)
        .service(get_dossier)
        .service(get_profile)
        .service(put_profile)
        .service(list_events)
        .service(create_event)
        .service(get_event)
        .service(update_event)
        .service(delete_event)
        .service(list_stakeholders)
        .service(create_stakeholder)
        .service(get_stakeholder)
        .service(update_stakeholder)
        .service(delete_stakeholder)
        .service(list_competitors)
        .service(create_competitor)
        .service(get_competitor)
        .service(update_competitor)
        .service(delete_competitor);
}

// ---------------------------------------------------------------- managers

/// List key account managers.
#[utoipa::path(tag = "managers", params(PageQuery, ManagerFilter),
    responses((status = 200, body = Paged<ManagerView>), (status = 422, body = Problem)))]
#[get("/managers")]
async fn list_managers(
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
async fn create_manager(
    state: State,
    body: JsonBody<ManagerInput>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(true, &mut errors);
    let draft = finish(draft, errors)?;
    let m = svc::create_manager(&state.db, state.clock.as_ref(), draft).await?;
    Ok(HttpResponse::Created().json(ManagerView::from(m)))
}

/// Get a manager.
#[utoipa::path(tag = "managers", responses((status = 200, body = ManagerView), (status = 404, body = Problem)))]
#[get("/managers/{id}")]
async fn get_manager(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ManagerView::from(svc::get_manager(&state.db, *id).await?)))
}

/// Change a manager (only the given fields).
#[utoipa::path(tag = "managers", request_body = ManagerInput,
    responses((status = 200, body = ManagerView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/managers/{id}")]
async fn update_manager(
    state: State,
    id: web::Path<i64>,
    body: JsonBody<ManagerInput>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(false, &mut errors);
    let draft = finish(draft, errors)?;
    let m = svc::update_manager(&state.db, state.clock.as_ref(), *id, draft).await?;
    Ok(HttpResponse::Ok().json(ManagerView::from(m)))
}

/// Delete a manager; their accounts keep existing without a manager.
#[utoipa::path(tag = "managers", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/managers/{id}")]
async fn delete_manager(state: State, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    svc::delete_manager(&state.db, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------- accounts

/// List accounts with filters, text search, sorting (`name`, `external_id`, `created_at`,
/// `updated_at`, `id`) and pagination.
#[utoipa::path(tag = "accounts", params(PageQuery, AccountFilter),
    responses((status = 200, body = Paged<AccountView>), (status = 422, body = Problem)))]
#[get("/accounts")]
async fn list_accounts(
    state: State,
    page: Query<PageQuery>,
    filter: Query<AccountFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::ACCOUNT_SORTS, "name")?;
    Ok(HttpResponse::Ok().json(svc::list_accounts(&state.db, &page, &filter).await?))
}

/// Create an account.
#[utoipa::path(tag = "accounts", request_body = AccountInput,
    responses((status = 201, body = AccountView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/accounts")]
async fn create_account(
    state: State,
    body: JsonBody<AccountInput>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let draft = body
        .0
        .parse(true, &state.settings.defaults, None, &mut errors);
    let draft = finish(draft, errors)?;
    let a = svc::create_account(&state.db, state.clock.as_ref(), draft).await?;
    Ok(HttpResponse::Created().json(AccountView::from(a)))
}

/// Get an account by external id.
#[utoipa::path(tag = "accounts", responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}")]
async fn get_account(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc::account_view(&state.db, &external_id).await?))
}

/// Change an account (only the given fields; `null` clears an optional field).
#[utoipa::path(tag = "accounts", request_body = AccountInput,
    responses((status = 200, body = AccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}")]
async fn update_account(
    state: State,
    external_id: web::Path<String>,
    body: JsonBody<AccountInput>,
) -> Result<HttpResponse, ApiError> {
    let current = svc::find_account(&state.db, &external_id).await?;
    let mut errors = FieldErrors::default();
    let draft = body.0.parse(
        false,
        &state.settings.defaults,
        Some(&current.currency),
        &mut errors,
    );
    let draft = finish(draft, errors)?;
    let a = svc::update_account(&state.db, state.clock.as_ref(), current, draft).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(a)))
}

/// Delete an account with its dossier and orders.
#[utoipa::path(tag = "accounts", responses((status = 204), (status = 404, body = Problem)))]
#[delete("/accounts/{external_id}")]
async fn delete_account(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_account(&state.db, &external_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The whole dossier: account, manager, profile, relationship history, decision map, competitors.
#[utoipa::path(tag = "dossier", responses((status = 200, body = DossierView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/dossier")]
async fn get_dossier(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(svc::dossier(&state.db, a).await?))
}

// ---------------------------------------------------------------- profile

/// Get the account's profile (all fields null when none was written yet).
#[utoipa::path(tag = "dossier", responses((status = 200, body = ProfileView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/profile")]
async fn get_profile(
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
async fn put_profile(
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
async fn list_events(
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
async fn create_event(
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
async fn get_event(state: State, path: web::Path<(String, i64)>) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    let e = svc::get_event(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::Ok().json(RelationshipEventView::new(e, &a.currency)))
}

/// Change a relationship history entry.
#[utoipa::path(tag = "dossier", request_body = RelationshipEventInput,
    responses((status = 200, body = RelationshipEventView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/relationship-events/{id}")]
async fn update_event(
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
async fn delete_event(
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
async fn list_stakeholders(
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
async fn create_stakeholder(
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
async fn get_stakeholder(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    Ok(HttpResponse::Ok().json(StakeholderView::from(
        svc::get_stakeholder(&state.db, a.id, path.1).await?,
    )))
}

/// Change a stakeholder.
#[utoipa::path(tag = "dossier", request_body = StakeholderInput,
    responses((status = 200, body = StakeholderView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/stakeholders/{id}")]
async fn update_stakeholder(
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
async fn delete_stakeholder(
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
async fn list_competitors(
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
async fn create_competitor(
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
async fn get_competitor(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    Ok(HttpResponse::Ok().json(CompetitorView::from(
        svc::get_competitor(&state.db, a.id, path.1).await?,
    )))
}

/// Change a competitor.
#[utoipa::path(tag = "dossier", request_body = CompetitorInput,
    responses((status = 200, body = CompetitorView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}/competitors/{id}")]
async fn update_competitor(
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
async fn delete_competitor(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::delete_competitor(&state.db, a.id, path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}
