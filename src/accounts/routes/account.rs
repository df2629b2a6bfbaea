//! Routes for accounts, addressed by external id, and the whole dossier of one.

use actix_web::{HttpResponse, delete, get, patch, post, web};

use crate::accounts::error::finish;
use crate::accounts::model::*;
use crate::accounts::service as svc;
use crate::api::extract::{JsonBody, PageQuery, Paged, Query};
use crate::api::openapi::Patch;
use crate::api::state::State;
use crate::domain::validation::FieldErrors;
use crate::error::{ApiError, Problem};

/// The body of `PATCH /accounts/{external_id}`.
type AccountPatch = Patch<AccountInput>;

/// List accounts with filters, text search, sorting (`name`, `external_id`, `created_at`,
/// `updated_at`, `id`) and pagination.
#[utoipa::path(tag = "accounts", params(PageQuery, AccountFilter),
    responses((status = 200, body = Paged<AccountView>), (status = 422, body = Problem)))]
#[get("/accounts")]
pub(super) async fn list_accounts(
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
pub(super) async fn create_account(
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
pub(super) async fn get_account(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(svc::account_view(&state.db, &external_id, state.clock.now()).await?))
}

/// Change an account (only the given fields; `null` clears an optional field).
#[utoipa::path(tag = "accounts", request_body = AccountPatch,
    responses((status = 200, body = AccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/accounts/{external_id}")]
pub(super) async fn update_account(
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
pub(super) async fn delete_account(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    svc::delete_account(&state.db, &external_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The whole dossier: account, manager, profile, relationship history, decision map, competitors.
#[utoipa::path(tag = "dossier", responses((status = 200, body = DossierView), (status = 404, body = Problem)))]
#[get("/accounts/{external_id}/dossier")]
pub(super) async fn get_dossier(
    state: State,
    external_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = svc::find_account(&state.db, &external_id).await?;
    Ok(HttpResponse::Ok().json(svc::dossier(&state.db, a).await?))
}
