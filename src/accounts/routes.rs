//! HTTP routes for managers, accounts and the dossier. Accounts are addressed by their
//! `external_id`; dossier entries by their numeric id under the account.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};

use super::model::*;
use super::service::{self as svc, AccountFilter, finish};
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::state::State;
use crate::error::{ApiError, FieldErrors, Problem};

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

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ManagerFilter {
    /// Case-insensitive search in name and e-mail.
    pub q: Option<String>,
}

/// List key account managers.
#[utoipa::path(tag = "managers", params(PageQuery, ManagerFilter),
    responses((status = 200, body = Paged<ManagerView>), (status = 422, body = Problem)))]
#[get("/managers")]
async fn list_managers(
    state: State,
    page: Query<PageQuery>,
    filter: Query<ManagerFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, &["id", "name", "email", "created_at"], "id")?;
    Ok(HttpResponse::Ok().json(svc::list_managers(&state.db, &page, filter.q.as_deref()).await?))
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
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let a = svc::find_account(&state.db, &external_id).await?;
    let latest = crate::entities::account_snapshot::Entity::find()
        .filter(crate::entities::account_snapshot::Column::AccountId.eq(a.id))
        .order_by_desc(crate::entities::account_snapshot::Column::RunId)
        .one(&state.db)
        .await?;
    let mut view = AccountView::from(a);
    view.analytics = latest.as_ref().map(AnalyticsSummary::from);
    Ok(HttpResponse::Ok().json(view))
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
    errors.into_result()?;
    let p = svc::put_profile(&state.db, state.clock.as_ref(), a.id, body.0).await?;
    Ok(HttpResponse::Ok().json(ProfileView::from(Some(p))))
}

// ---------------------------------------------------------------- relationship history

/// The relationship history, newest first; filter by `kind`, `outcome`; sort by
/// `occurred_on`, `kind`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, svc::EventFilter),
    responses((status = 200, body = Paged<RelationshipEventView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/relationship-events")]
async fn list_events(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<svc::EventFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::EVENT_SORTS, "-occurred_on")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    let (items, total) = svc::page_events(&state.db, a.id, &page, &filter).await?;
    let items = items
        .into_iter()
        .map(|e| RelationshipEventView::new(e, &a.currency))
        .collect();
    Ok(HttpResponse::Ok().json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
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
    use sea_orm::ModelTrait;
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::get_event(&state.db, a.id, path.1)
        .await?
        .delete(&state.db)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------- stakeholders

/// The decision map, most influential first; filter by `role`, `consent`, `q`; sort by
/// `influence`, `name`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, svc::StakeholderFilter),
    responses((status = 200, body = Paged<StakeholderView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/stakeholders")]
async fn list_stakeholders(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<svc::StakeholderFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::STAKEHOLDER_SORTS, "-influence")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    let (items, total) = svc::page_stakeholders(&state.db, a.id, &page, &filter).await?;
    let items = items.into_iter().map(StakeholderView::from).collect();
    Ok(HttpResponse::Ok().json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
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
    use sea_orm::ModelTrait;
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::get_stakeholder(&state.db, a.id, path.1)
        .await?
        .delete(&state.db)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------- competitors

/// Competitors courting the account; filter by `q`; sort by `name`, `strength`, `id`.
#[utoipa::path(tag = "dossier", params(PageQuery, svc::CompetitorFilter),
    responses((status = 200, body = Paged<CompetitorView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/competitors")]
async fn list_competitors(
    state: State,
    external_id: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<svc::CompetitorFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, svc::COMPETITOR_SORTS, "name")?;
    let a = svc::find_account(&state.db, &external_id).await?;
    let (items, total) = svc::page_competitors(&state.db, a.id, &page, &filter).await?;
    let items = items.into_iter().map(CompetitorView::from).collect();
    Ok(HttpResponse::Ok().json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
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
    use sea_orm::ModelTrait;
    let a = svc::find_account(&state.db, &path.0).await?;
    svc::get_competitor(&state.db, a.id, path.1)
        .await?
        .delete(&state.db)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
