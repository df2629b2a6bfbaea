//! Bearer-token authentication of every `/api/v1` route.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};

use super::state::{State, TokenId};
use crate::error::ApiError;

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
