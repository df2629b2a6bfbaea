//! HTTP routes for managers, accounts and the dossier. Accounts are addressed by their
//! `external_id`; dossier entries by their numeric id under the account. Handlers parse the
//! request, call the service and shape the response; [`AccountsError`] becomes a problem
//! document here and nowhere else.

mod account;
mod dossier;
mod manager;

use super::error::AccountsError;
use super::model::{
    AccountInput, CompetitorInput, ManagerInput, RelationshipEventInput, StakeholderInput,
};
use super::service as svc;
use crate::api::openapi::{BodySchema, ListSorts};
use crate::error::ApiError;

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/managers", svc::MANAGER_SORTS),
    ("/accounts", svc::ACCOUNT_SORTS),
    (
        "/accounts/{external_id}/relationship-events",
        svc::EVENT_SORTS,
    ),
    (
        "/accounts/{external_id}/stakeholders",
        svc::STAKEHOLDER_SORTS,
    ),
    ("/accounts/{external_id}/competitors", svc::COMPETITOR_SORTS),
];

/// The external id names the account; a change cannot send it.
impl BodySchema for AccountInput {
    const FIXED: &'static [&'static str] = &["external_id"];
}

impl BodySchema for ManagerInput {}

/// The external id is fixed once the stakeholder exists.
impl BodySchema for StakeholderInput {
    const FIXED: &'static [&'static str] = &["external_id"];
}

impl BodySchema for CompetitorInput {}

impl BodySchema for RelationshipEventInput {}

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

/// Registers every route of the part (with its OpenAPI description).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(manager::list_managers)
        .service(manager::create_manager)
        .service(manager::get_manager)
        .service(manager::update_manager)
        .service(manager::delete_manager)
        .service(account::list_accounts)
        .service(account::create_account)
        .service(account::get_account)
        .service(account::update_account)
        .service(account::delete_account)
        .service(account::get_dossier)
        .service(dossier::get_profile)
        .service(dossier::put_profile)
        .service(dossier::list_events)
        .service(dossier::create_event)
        .service(dossier::get_event)
        .service(dossier::update_event)
        .service(dossier::delete_event)
        .service(dossier::list_stakeholders)
        .service(dossier::create_stakeholder)
        .service(dossier::get_stakeholder)
        .service(dossier::update_stakeholder)
        .service(dossier::delete_stakeholder)
        .service(dossier::list_competitors)
        .service(dossier::create_competitor)
        .service(dossier::get_competitor)
        .service(dossier::update_competitor)
        .service(dossier::delete_competitor);
}
