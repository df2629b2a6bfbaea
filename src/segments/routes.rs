//! HTTP routes for segments (addressed by their `key`) and the rule language. Each handler
//! parses the request, calls one service in [`super::service`] and shapes the response; this is
//! the only place where a [`SegmentsError`] becomes a status and a problem code.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::draft::{RuleDraft, SegmentDraft};
use super::error::SegmentsError;
use super::membership::SegmentChange;
use super::service::{
    self, FieldView, MemberView, PreviewView, RuleView, SegmentEventView, SegmentView,
};
use crate::api::extract::{JsonBody, PageQuery, Paged, Query, double_option, non_null};
use crate::api::state::State;
use crate::error::{ApiError, Problem};
use crate::jobs::Trigger;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_fields)
        .service(parse_rule)
        .service(preview)
        .service(recompute)
        .service(list_segments)
        .service(create_segment)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(list_members)
        .service(list_events);
}

/// The one mapping from segments errors to what API clients see.
impl From<SegmentsError> for ApiError {
    fn from(e: SegmentsError) -> Self {
        match e {
            SegmentsError::Invalid(errors) => ApiError::Validation(errors),
            e @ SegmentsError::NotFound(_) => ApiError::NotFound(e.to_string()),
            e @ SegmentsError::Builtin(_) => ApiError::Conflict {
                code: "builtin_segment",
                detail: e.to_string(),
            },
            e @ SegmentsError::AlreadyExists(_) => ApiError::Conflict {
                code: "already_exists",
                detail: e.to_string(),
            },
            SegmentsError::Job(e) => e.into(),
            SegmentsError::Database(e) => e.into(),
        }
    }
}

/// A rule given either as the JSON tree (`rule`) or as text (`rule_text`).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The canonical JSON tree, e.g. `{"all": [{"field": "abc", "op": "eq", "value": "A"}]}`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Object>)]
    pub rule: Option<serde_json::Value>,
    /// The text form, e.g. `abc in (A, B) and lost = false`.
    #[serde(default, deserialize_with = "non_null")]
    pub rule_text: Option<String>,
}

impl From<RuleInput> for RuleDraft {
    fn from(i: RuleInput) -> Self {
        Self {
            rule: i.rule,
            rule_text: i.rule_text,
        }
    }
}

/// The fields rules may use (plus `attributes.<key>` for the account's attributes).
#[utoipa::path(tag = "rules", responses((status = 200, body = Vec<FieldView>)))]
#[get("/rules/fields")]
async fn list_fields() -> HttpResponse {
    HttpResponse::Ok().json(service::fields())
}

/// Check a rule and get it back in both forms (text ⇄ JSON). Every field is allowed here
/// (segments refuse stakeholder and offer fields).
#[utoipa::path(tag = "rules", request_body = RuleInput,
    responses((status = 200, body = RuleView), (status = 422, body = Problem)))]
#[post("/rules/parse")]
async fn parse_rule(body: JsonBody<RuleInput>) -> Result<HttpResponse, ApiError> {
    let rule = service::check_rule(&body.0.into())?;
    Ok(HttpResponse::Ok().json(rule))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Object>)]
    pub rule: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "non_null")]
    pub rule_text: Option<String>,
    /// How many matching accounts to list (default 20, at most 200).
    #[serde(default, deserialize_with = "non_null")]
    pub sample_size: Option<u32>,
}

/// Count and sample the accounts an unsaved rule selects.
#[utoipa::path(tag = "segments", request_body = PreviewInput,
    responses((status = 200, body = PreviewView), (status = 422, body = Problem)))]
#[post("/segments/preview")]
async fn preview(state: State, body: JsonBody<PreviewInput>) -> Result<HttpResponse, ApiError> {
    let PreviewInput {
        rule,
        rule_text,
        sample_size,
    } = body.0;
    let draft = RuleDraft { rule, rule_text };
    Ok(HttpResponse::Ok().json(service::preview(&state, &draft, sample_size).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecomputeView {
    pub segments: Vec<SegmentChange>,
}

/// Recompute the membership of every segment now (also queued after each analysis run).
/// 503 with `Retry-After` while a recomputation runs elsewhere.
#[utoipa::path(tag = "segments", responses((status = 200, body = RecomputeView), (status = 503, body = Problem)))]
#[post("/segments/recompute")]
async fn recompute(state: State) -> Result<HttpResponse, ApiError> {
    let segments = service::recompute(&state.into_inner(), Trigger::Api).await?;
    Ok(HttpResponse::Ok().json(RecomputeView { segments }))
}

/// List segments (built-in ones included); sort by `key`, `name`, `member_count`, `created_at`.
#[utoipa::path(tag = "segments", params(PageQuery),
    responses((status = 200, body = Paged<SegmentView>), (status = 422, body = Problem)))]
#[get("/segments")]
async fn list_segments(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let page = page.validate(
        &state,
        service::SEGMENT_SORTS,
        service::SEGMENT_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(service::list(&state, &page).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Stable identifier used in URLs (lowercase letters, digits and `-`); derived from the
    /// name when omitted on create. Cannot be changed.
    #[serde(default, deserialize_with = "non_null")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Object>)]
    pub rule: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "non_null")]
    pub rule_text: Option<String>,
}

impl From<SegmentInput> for SegmentDraft {
    fn from(i: SegmentInput) -> Self {
        Self {
            key: i.key,
            name: i.name,
            description: i.description,
            rule: RuleDraft {
                rule: i.rule,
                rule_text: i.rule_text,
            },
        }
    }
}

/// Create a segment; its membership is computed at once.
#[utoipa::path(tag = "segments", request_body = SegmentInput,
    responses((status = 201, body = SegmentView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/segments")]
async fn create_segment(
    state: State,
    body: JsonBody<SegmentInput>,
) -> Result<HttpResponse, ApiError> {
    let s = service::create(&state.into_inner(), body.0.into()).await?;
    Ok(HttpResponse::Created().json(s))
}

/// Get a segment.
#[utoipa::path(tag = "segments", responses((status = 200, body = SegmentView), (status = 404, body = Problem)))]
#[get("/segments/{key}")]
async fn get_segment(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::get(&state, &key).await?))
}

/// Change a segment's name, description or rule; a new rule recomputes its membership.
#[utoipa::path(tag = "segments", request_body = SegmentInput,
    responses((status = 200, body = SegmentView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/segments/{key}")]
async fn update_segment(
    state: State,
    key: web::Path<String>,
    body: JsonBody<SegmentInput>,
) -> Result<HttpResponse, ApiError> {
    let s = service::update(&state.into_inner(), &key, body.0.into()).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Delete a segment with its membership history and events.
#[utoipa::path(tag = "segments", responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/segments/{key}")]
async fn delete_segment(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete(&state, &key).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersFilter {
    /// Include past stays (with `left_at`) as well as current members.
    pub history: Option<bool>,
}

/// Members of a segment (current ones, or every stay with `history=true`), newest first.
#[utoipa::path(tag = "segments", params(PageQuery, MembersFilter),
    responses((status = 200, body = Paged<MemberView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/segments/{key}/members")]
async fn list_members(
    state: State,
    key: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<MembersFilter>,
) -> Result<HttpResponse, ApiError> {
    // An unknown segment is a 404 whatever the page asks for.
    let s = service::find(&state, &key).await?;
    let page = page.validate(&state, service::MEMBER_SORTS, service::MEMBER_DEFAULT_SORT)?;
    let history = filter.history.unwrap_or(false);
    Ok(HttpResponse::Ok().json(service::members(&state, &s, &page, history).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsFilter {
    /// Only events with a larger id (to follow the stream).
    pub after_id: Option<i64>,
}

/// Entered/left events of a segment, oldest first (follow with `after_id`).
#[utoipa::path(tag = "segments", params(PageQuery, EventsFilter),
    responses((status = 200, body = Paged<SegmentEventView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/segments/{key}/events")]
async fn list_events(
    state: State,
    key: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<EventsFilter>,
) -> Result<HttpResponse, ApiError> {
    let s = service::find(&state, &key).await?;
    let page = page.validate(&state, service::EVENT_SORTS, service::EVENT_DEFAULT_SORT)?;
    Ok(HttpResponse::Ok().json(service::events(&state, &s, &page, filter.after_id).await?))
}
