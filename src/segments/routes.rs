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
use crate::api::openapi::{Body, BodySchema, ListSorts, Patch};
use crate::api::state::State;
use crate::domain::schema::Slug;
use crate::error::{ApiError, Problem};
use crate::jobs::Trigger;
use crate::segments::rules::schema::{AccountRule, AccountRuleText, Rule, RuleText};

/// The request bodies with their rules (see [`BodySchema`]).
type RuleBody = Body<RuleInput>;
type PreviewBody = Body<PreviewInput>;
type SegmentBody = Body<SegmentInput>;
type SegmentPatch = Patch<SegmentInput>;

/// A segment's name as documented (repeated in its `#[schema]`): not blank, one line, and
/// holding an ASCII letter or digit to derive a key from.
#[cfg(test)]
pub(crate) const NAME: &str = r"^([A-Za-z0-9]|[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*[A-Za-z0-9])[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$";

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/segments", service::SEGMENT_SORTS),
    ("/segments/{key}/members", service::MEMBER_SORTS),
    ("/segments/{key}/events", service::EVENT_SORTS),
];

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

/// A rule given either as the JSON tree (`rule`) or as text (`rule_text`): exactly one.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The canonical JSON tree, e.g. `{"all": [{"field": "abc", "op": "eq", "value": "A"}]}`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Rule)]
    pub rule: Option<serde_json::Value>,
    /// The text form, e.g. `abc in (A, B) and lost = false`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = RuleText)]
    pub rule_text: Option<String>,
}

impl BodySchema for RuleInput {
    const ONE_OF: &'static [[&'static str; 2]] = &[["rule", "rule_text"]];
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
#[utoipa::path(tag = "rules", request_body = RuleBody,
    responses((status = 200, body = RuleView), (status = 422, body = Problem)))]
#[post("/rules/parse")]
async fn parse_rule(body: JsonBody<RuleInput>) -> Result<HttpResponse, ApiError> {
    let rule = service::check_rule(&body.0.into())?;
    Ok(HttpResponse::Ok().json(rule))
}

/// An unsaved rule over accounts, as the JSON tree (`rule`) or as text (`rule_text`): exactly
/// one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SegmentPreviewInput)]
pub struct PreviewInput {
    /// The canonical JSON tree.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = AccountRule)]
    pub rule: Option<serde_json::Value>,
    /// The text form.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = AccountRuleText)]
    pub rule_text: Option<String>,
    /// How many matching accounts to list (default 20, at most 200).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = u32, minimum = 0, maximum = 200)]
    pub sample_size: Option<u32>,
}

impl BodySchema for PreviewInput {
    const ONE_OF: &'static [[&'static str; 2]] = &[["rule", "rule_text"]];
}

/// Count and sample the accounts an unsaved rule selects.
#[utoipa::path(tag = "segments", request_body = PreviewBody,
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

/// A segment: a saved rule over accounts. On create `name` and one of `rule` or `rule_text`
/// are required; a change gives only what changes (at most one of `rule` and `rule_text`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Stable identifier used in URLs (lowercase letters, digits and `-`); derived from the
    /// name when omitted on create. Cannot be changed.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Slug)]
    pub key: Option<String>,
    /// One line, at most 200 characters once trimmed. The schema asks for an ASCII letter or
    /// digit, from which a `key` can be derived (the server needs one only when the key is
    /// omitted on create).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^([A-Za-z0-9]|[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*[A-Za-z0-9])[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// Line breaks and tabs allowed, no other control characters; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub description: Option<Option<String>>,
    /// The rule as the canonical JSON tree.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = AccountRule)]
    pub rule: Option<serde_json::Value>,
    /// The rule as text.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = AccountRuleText)]
    pub rule_text: Option<String>,
}

/// The key names the segment; a change may not send another one (so it sends none).
impl BodySchema for SegmentInput {
    const ONE_OF: &'static [[&'static str; 2]] = &[["rule", "rule_text"]];
    const FIXED: &'static [&'static str] = &["key"];
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
#[utoipa::path(tag = "segments", request_body = SegmentBody,
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
#[utoipa::path(tag = "segments", request_body = SegmentPatch,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::segments::draft::SegmentDraft;

    proptest! {
        #[test]
        fn documented_names_give_a_key(
            name in crate::domain::schema::matching(super::NAME)
                .prop_filter("200 characters", |n| n.chars().count() <= 200),
        ) {
            let draft = SegmentDraft {
                name: Some(name.clone()),
                rule: crate::segments::draft::RuleDraft {
                    rule_text: Some("lost = true".into()),
                    rule: None,
                },
                ..Default::default()
            };
            prop_assert!(draft.for_create().is_ok(), "{:?}", name);
        }
    }
}
