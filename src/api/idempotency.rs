//! `Idempotency-Key` support for mutating POSTs. The first request with a key runs and its
//! response (status, content type, body) is stored; a retry with the same key and the same
//! request replays it (`Idempotent-Replayed: true`); the same key with a different request is
//! rejected (422); a retry while the first is still running gets 409. Keys are per API token and
//! expire after `api.idempotency_ttl_hours`. 5xx responses are not stored, so they can be retried,
//! and a key left "in progress" by a crashed process is taken over after two minutes.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use super::state::{State, TokenId};
use crate::entities::idempotency_key as idem;
use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";

/// How long a claimed key may stay "in progress" before a retry may take it over.
const IN_PROGRESS_LEASE: chrono::Duration = chrono::Duration::seconds(120);

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match raw_key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= 255 => k.trim().to_string(),
        _ => {
            let e = ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            );
            return Ok(req.into_response(e.error_response()));
        }
    };
    let (Some(state), Some(token)) = (
        req.app_data::<State>().cloned(),
        req.extensions().get::<TokenId>().copied(),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };

    let body = match req.extract::<web::Bytes>().await {
        Ok(b) => b,
        Err(e) => {
            let err = super::extract::payload_error(&e, state.settings.server.max_body_bytes);
            return Ok(req.into_response(err.error_response()));
        }
    };
    req.set_payload(Payload::from(body.clone()));
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(b"POST ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    let request_hash = hex::encode(hasher.finalize());
    let now = state.clock.now();
    let ttl = chrono::Duration::hours(i64::from(state.settings.api.idempotency_ttl_hours));

    // An expired record of this very key no longer counts; the `idempotency_purge` job
    // forgets the others.
    idem::Entity::delete_many()
        .filter(idem::Column::TokenId.eq(token.0))
        .filter(idem::Column::Key.eq(key.clone()))
        .filter(idem::Column::CreatedAt.lt(now - ttl))
        .exec(&state.db)
        .await
        .map_err(ApiError::from)?;

    // Claim the key; if another row holds it, decide from that row.
    let claim = || async {
        idem::Entity::insert(idem::ActiveModel {
            token_id: Set(token.0),
            key: Set(key.clone()),
            method: Set("POST".into()),
            path: Set(path.clone()),
            request_hash: Set(request_hash.clone()),
            created_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([idem::Column::TokenId, idem::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await
    };
    let mut claimed = claim().await.map_err(ApiError::from)? > 0;
    if !claimed {
        let existing = idem::Entity::find()
            .filter(idem::Column::TokenId.eq(token.0))
            .filter(idem::Column::Key.eq(key.as_str()))
            .one(&state.db)
            .await
            .map_err(ApiError::from)?;
        match existing {
            // Expired, or claimed by a request that never finished (crash, restart): reclaim.
            Some(row)
                if row.created_at + ttl < now
                    || (row.status.is_none() && row.created_at + IN_PROGRESS_LEASE < now) =>
            {
                idem::Entity::delete_by_id(row.id)
                    .exec(&state.db)
                    .await
                    .map_err(ApiError::from)?;
                claimed = claim().await.map_err(ApiError::from)? > 0;
                if !claimed {
                    return Ok(req.into_response(in_progress().error_response()));
                }
            }
            Some(row) if row.request_hash != request_hash => {
                let e = ApiError::field(
                    "Idempotency-Key",
                    "was already used for a different request; use a new key",
                );
                return Ok(req.into_response(e.error_response()));
            }
            Some(row) => match row.status {
                Some(status) => return Ok(req.into_response(replay(&row, status))),
                None => return Ok(req.into_response(in_progress().error_response())),
            },
            None => return Ok(req.into_response(in_progress().error_response())),
        }
    }

    let res = next.call(req).await?;
    let status = res.status();
    let (http_req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            forget(&state, token, &key).await;
            return Ok(ServiceResponse::new(
                http_req,
                ApiError::internal(anyhow::anyhow!("response body could not be read"))
                    .error_response(),
            ));
        }
    };
    if status.is_server_error() {
        forget(&state, token, &key).await;
    } else {
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let update = idem::Entity::update_many()
            .set(idem::ActiveModel {
                status: Set(Some(status.as_u16() as i16)),
                content_type: Set(content_type),
                body: Set(Some(bytes.to_vec())),
                ..Default::default()
            })
            .filter(idem::Column::TokenId.eq(token.0))
            .filter(idem::Column::Key.eq(key.as_str()))
            .exec(&state.db)
            .await;
        if let Err(e) = update {
            tracing::warn!(error = %e, "could not store idempotent response");
        }
    }
    let res = res.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(http_req, res))
}

fn in_progress() -> ApiError {
    ApiError::Conflict {
        code: "idempotency_in_progress",
        detail: "a request with this Idempotency-Key is still being processed; retry later".into(),
    }
}

fn replay(row: &idem::Model, status: i16) -> HttpResponse {
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut resp = HttpResponse::build(status);
    if let Some(ct) = &row.content_type {
        resp.insert_header((CONTENT_TYPE, ct.as_str()));
    }
    resp.insert_header((
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    ));
    resp.body(row.body.clone().unwrap_or_default())
}

async fn forget(state: &State, token: TokenId, key: &str) {
    let res = idem::Entity::delete_many()
        .filter(idem::Column::TokenId.eq(token.0))
        .filter(idem::Column::Key.eq(key))
        .exec(&state.db)
        .await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not release idempotency key");
    }
}
