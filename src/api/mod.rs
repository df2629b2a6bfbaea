//! The HTTP edge, a leaf of the crate: the state handlers receive, extractors, authentication,
//! idempotency keys, health checks, the OpenAPI document, and the route table assembled here in
//! one place. Routes of each part live in that part's `routes` module and import the
//! submodules (`api::state`, `api::extract`); nothing but routes and start-up imports `api`.

pub mod auth;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod methods;
pub mod openapi;
pub mod problems;
pub mod state;

use std::sync::Arc;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "abm — key-account ABM engine",
        description = "Accounts, dossiers and orders of key accounts. Every `/api/v1` route \
                       except this document needs `Authorization: Bearer <token>` \
                       (create one with `abm token create --name NAME`). Errors are \
                       `application/problem+json` (RFC 9457). Mutating POSTs accept an \
                       `Idempotency-Key` header."
    ),
    modifiers(&BearerAuth),
    components(schemas(
        Problem,
        FieldError,
        crate::tracking::notify::SalesWebhook,
        crate::tracking::notify::SalesWebhookData,
        crate::tracking::notify::SalesAccount,
        crate::tracking::notify::SalesStakeholder
    )),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness and readiness probes (no token)"),
        (name = "managers", description = "Key account managers"),
        (name = "accounts", description = "Key accounts"),
        (name = "dossier", description = "Profile, relationship history, decision map, competitors"),
        (name = "orders", description = "Orders and bulk ingestion"),
        (name = "analytics", description = "ABC/XYZ, account types, three P, churn"),
        (name = "rules", description = "The rule language: fields, parsing (text ⇄ JSON)"),
        (name = "segments", description = "Saved rules over accounts, membership and events"),
        (name = "templates", description = "Template registry, selection and rendering"),
        (name = "jobs", description = "Background jobs: schedules, runs, run now"),
        (name = "campaigns", description = "Campaigns, versions, enrolments, schedule preview"),
        (name = "tasks", description = "Manager tasks created by campaign steps"),
        (name = "messages", description = "The outbox: every message a campaign decided to send"),
        (name = "suppressions", description = "Addresses nothing is sent to"),
        (name = "webhooks", description = "Webhook endpoints and their signing secrets"),
        (name = "events", description = "What happened to messages, stakeholders and accounts"),
        (name = "tracking", description = "Public tracking links: open pixel, clicks, unsubscribe, web view"),
        (name = "winback", description = "Lost key accounts ranked by value at risk, and win-back by hand"),
        (name = "offers", description = "Win-back offers: discounts, gifts and special terms"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Registers every route and returns the configured app pieces plus the OpenAPI document.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::live)
        .service(health::ready)
        .configure(crate::tracking::routes::public)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(idempotency::idempotency))
                .wrap(actix_web::middleware::from_fn(auth::require_token))
                .configure(crate::accounts::routes::configure)
                .configure(crate::orders::routes::configure)
                .configure(crate::analytics::routes::configure)
                .configure(crate::segments::routes::configure)
                .configure(crate::content::routes::configure)
                .configure(crate::jobs::routes::configure)
                .configure(crate::campaigns::routes::configure)
                .configure(crate::delivery::routes::configure)
                .configure(crate::events::routes::configure)
                .configure(crate::tracking::routes::configure)
                .configure(crate::winback::routes::configure)
                .configure(crate::offers::routes::configure),
        );
}

/// The sort fields of every list operation (see [`openapi::ListSorts`]).
fn list_sorts() -> Vec<openapi::ListSorts> {
    [
        crate::accounts::routes::SORTS,
        crate::orders::routes::SORTS,
        crate::analytics::routes::SORTS,
        crate::segments::routes::SORTS,
        crate::jobs::routes::SORTS,
        crate::campaigns::routes::SORTS,
        crate::delivery::routes::SORTS,
        crate::events::routes::SORTS,
        crate::offers::routes::SORTS,
    ]
    .concat()
}

/// The OpenAPI document of the routes registered by [`configure`], with the input rules that
/// depend on `settings` (page and batch sizes).
pub fn openapi(settings: &crate::config::ApiSettings) -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    openapi::complete(&mut api, settings, &list_sorts());
    api
}

/// Shared, immutable OpenAPI JSON (built once at start-up).
pub type OpenApiJson = Arc<String>;
