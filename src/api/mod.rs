//! The HTTP API: state, authentication, idempotency keys, health checks, the OpenAPI
//! document and the docs page. Routes of each part live in that part's `routes` module.

pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod problems;

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, get, web};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, FieldError, Problem};

pub use crate::context::AppContext;

/// The application context as handlers receive it.
pub type State = web::Data<AppContext>;

/// The id of the API token that authenticated the request.
#[derive(Debug, Clone, Copy)]
pub struct TokenId(pub i64);

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
    components(schemas(Problem, FieldError)),
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

/// Rejects requests without a valid bearer token (401 problem+json).
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Ok(
            req.into_response(ApiError::internal(anyhow::anyhow!("no state")).error_response())
        );
    };
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let Some(presented) = presented else {
        return Ok(req.into_response(ApiError::Unauthorized.error_response()));
    };
    match crate::auth::verify_token(&state.db, &presented).await {
        Ok(Some(id)) => {
            req.extensions_mut().insert(TokenId(id));
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(None) => Ok(req.into_response(ApiError::Unauthorized.error_response())),
        Err(e) => Ok(req.into_response(ApiError::Unavailable(e).error_response())),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "health", security(()), responses((status = 200, body = Health)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The process can serve requests: the database answers.
#[utoipa::path(
    tag = "health",
    security(()),
    responses((status = 200, body = Health), (status = 503, body = Problem))
)]
#[get("/health/ready")]
pub async fn ready(state: State) -> Result<HttpResponse, ApiError> {
    crate::db::ping(&state.db)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(Health { status: "ok" }))
}

/// Registers every route and returns the configured app pieces plus the OpenAPI document.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(live).service(ready).service(
        utoipa_actix_web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(idempotency::idempotency))
            .wrap(actix_web::middleware::from_fn(require_token))
            .configure(crate::accounts::routes::configure)
            .configure(crate::orders::routes::configure)
            .configure(crate::analytics::routes::configure)
            .configure(crate::segments::routes::configure)
            .configure(crate::content::routes::configure)
            .configure(crate::jobs::routes::configure),
    );
}

/// The OpenAPI document of the routes registered by [`configure`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    openapi::complete(&mut api);
    api
}

/// Shared, immutable OpenAPI JSON (built once at start-up).
pub type OpenApiJson = Arc<String>;
