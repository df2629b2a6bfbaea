//! Liveness and readiness probes (no token).

use actix_web::{HttpResponse, get};
use serde::Serialize;

use super::state::State;
use crate::error::{ApiError, Problem};

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
