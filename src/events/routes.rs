//! `GET /api/v1/events`: the event stream, filtered and paged.

use actix_web::{HttpResponse, get};
use serde::Deserialize;

use super::{EVENT_DEFAULT_SORT, EVENT_SORTS, EventFilter, EventKind, EventView};
use crate::api::extract::{PageQuery, Paged, Query};
use crate::api::openapi::ListSorts;
use crate::api::state::State;
use crate::error::{ApiError, Problem};

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/events", EVENT_SORTS),
    (
        "/accounts/{external_id}/timeline",
        super::timeline::TIMELINE_SORTS,
    ),
];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_events).service(account_timeline);
}

/// An account's timeline, newest first: every touch and response (its events) merged with the
/// relationship history of its dossier (`offset + limit` at most 10,000).
#[utoipa::path(tag = "events", params(PageQuery),
    responses((status = 200, body = Paged<super::timeline::TimelineItem>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/accounts/{external_id}/timeline")]
async fn account_timeline(
    state: State,
    external_id: actix_web::web::Path<String>,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(
        &state,
        super::timeline::TIMELINE_SORTS,
        super::timeline::TIMELINE_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(super::timeline::timeline(&state, &external_id, &page).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// An account's external id.
    #[param(pattern = r"^[^\u0000]*$")]
    pub account_id: Option<String>,
    pub kind: Option<EventKind>,
    /// A campaign's key.
    #[param(pattern = r"^[^\u0000]*$")]
    pub campaign: Option<String>,
    /// Only events with a larger id: follow the stream with the last id seen.
    pub after_id: Option<i64>,
}

/// Events, oldest first: delivered, dead, bounced, and everything tracking records; follow
/// the stream with `after_id`.
#[utoipa::path(tag = "events", params(PageQuery, EventQuery),
    responses((status = 200, body = Paged<EventView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/events")]
async fn list_events(
    state: State,
    page: Query<PageQuery>,
    q: Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, EVENT_SORTS, EVENT_DEFAULT_SORT)?;
    let q = q.0;
    let filter = EventFilter {
        account: q.account_id,
        kind: q.kind,
        campaign: q.campaign,
        after_id: q.after_id,
    };
    Ok(HttpResponse::Ok().json(super::list(&state, &filter, &page).await?))
}
