//! HTTP routes for campaigns (addressed by their `key`), their enrolments and schedule
//! preview, and manager tasks. Each handler parses the request, calls one service and shapes
//! the response; this is the only place where a [`CampaignsError`] becomes a status.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::CampaignsError;
use super::model::{
    Audience, CampaignStatus, EnrolmentStatus, ExitCondition, Recipients, Reentry, StepInput,
    TaskStatus,
};
use super::preview::SchedulePreview;
use super::service::{
    self, CampaignDraft, CampaignView, EnrolmentDetail, EnrolmentView, VersionView,
};
use super::tasks::{self, TaskFilter, TaskView};
use crate::api::extract::{JsonBody, PageQuery, Paged, Query, double_option, non_null};
use crate::api::openapi::{Body, BodySchema, ListSorts, Patch};
use crate::api::state::State;
use crate::domain::schema::Slug;
use crate::error::{ApiError, Problem};

type CampaignBody = Body<CampaignInput>;
type CampaignPatch = Patch<CampaignInput>;

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[
    ("/campaigns", service::CAMPAIGN_SORTS),
    ("/campaigns/{key}/enrolments", service::ENROLMENT_SORTS),
    ("/tasks", tasks::TASK_SORTS),
];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_campaigns)
        .service(create_campaign)
        .service(get_campaign)
        .service(update_campaign)
        .service(list_versions)
        .service(activate)
        .service(pause)
        .service(resume)
        .service(archive)
        .service(list_enrolments)
        .service(get_enrolment)
        .service(schedule)
        .service(report)
        .service(report_xlsx)
        .service(list_tasks)
        .service(update_task);
}

/// The one mapping from campaigns errors to what API clients see.
impl From<CampaignsError> for ApiError {
    fn from(e: CampaignsError) -> Self {
        match e {
            CampaignsError::Invalid(errors) | CampaignsError::NotActivatable(errors) => {
                ApiError::Validation(errors)
            }
            e @ (CampaignsError::NotFound(_) | CampaignsError::Missing(..)) => {
                ApiError::NotFound(e.to_string())
            }
            e @ CampaignsError::AlreadyExists(_) => ApiError::Conflict {
                code: "already_exists",
                detail: e.to_string(),
            },
            e @ CampaignsError::WrongStatus { .. } => ApiError::Conflict {
                code: "wrong_status",
                detail: e.to_string(),
            },
            e @ CampaignsError::Conflict(_) => ApiError::Conflict {
                code: "version_conflict",
                detail: e.to_string(),
            },
            CampaignsError::Content(e) => e.into(),
            CampaignsError::Database(e) => e.into(),
        }
    }
}

/// A campaign. On create `name` is required (the `key` is derived from it when absent) and
/// the campaign starts as a draft; a change (draft or paused campaigns only) gives only what
/// changes, and is stored as the next version.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// Stable identifier used in URLs (lowercase letters, digits and `-`, at most 64).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Slug, max_length = 64)]
    pub key: Option<String>,
    /// One line, at most 200 characters.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029][^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$")]
    pub name: Option<String>,
    /// What the campaign is for; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub goal: Option<Option<String>>,
    /// `{"segment": KEY}`, `{"accounts": [EXT, …]}` or `{"trigger": {"event": …}}`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Audience>)]
    pub audience: Option<Option<Audience>>,
    /// Stakeholders by role, in order, at most `max_per_account` (default: decision makers,
    /// economic buyers, champions; 2 per account).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Recipients>)]
    pub recipients: Option<Option<Recipients>>,
    /// `"always"` or `"<days> HH:MM-HH:MM"` in each account's timezone, e.g.
    /// `"mon-fri 09:00-17:00"`; `delivery.default_send_window` when absent.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub send_window: Option<Option<String>>,
    /// Local dates on which nothing is sent.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Vec<String>>, format = Date)]
    pub quiet_dates: Option<Vec<NaiveDate>>,
    /// Cron expression with seconds: enrol the audience at each moment, in each account's
    /// timezone.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub schedule: Option<Option<String>>,
    /// A send or task overdue by more than this is skipped (`"30m"`, `"6h"`, `"2d"`; default
    /// `"1d"`).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 20)]
    pub max_lateness: Option<Option<String>>,
    /// `"never"` (default), `"after_exit"` or `{"after_days": N}`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Reentry>)]
    pub reentry: Option<Option<Reentry>>,
    /// Campaign-wide exit conditions, e.g. `["ordered"]`.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Vec<ExitCondition>>)]
    pub exit_on: Option<Vec<ExitCondition>>,
    /// The steps, run from the first.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Vec<StepInput>>)]
    pub steps: Option<Vec<StepInput>>,
}

/// The key names the campaign; a change may not send another one.
impl BodySchema for CampaignInput {
    const FIXED: &'static [&'static str] = &["key"];
}

impl From<CampaignInput> for CampaignDraft {
    fn from(i: CampaignInput) -> Self {
        Self {
            key: i.key,
            name: i.name,
            goal: i.goal,
            audience: i.audience,
            recipients: i.recipients,
            send_window: i.send_window,
            quiet_dates: i.quiet_dates,
            schedule: i.schedule,
            max_lateness: i.max_lateness,
            reentry: i.reentry,
            exit_on: i.exit_on,
            steps: i.steps,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignQuery {
    /// Only campaigns with this status.
    pub status: Option<CampaignStatus>,
}

/// List campaigns; sort by `key`, `name`, `status`, `created_at`, `updated_at`.
#[utoipa::path(tag = "campaigns", params(PageQuery, CampaignQuery),
    responses((status = 200, body = Paged<CampaignView>), (status = 422, body = Problem)))]
#[get("/campaigns")]
async fn list_campaigns(
    state: State,
    page: Query<PageQuery>,
    q: Query<CampaignQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(
        &state,
        service::CAMPAIGN_SORTS,
        service::CAMPAIGN_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(service::list(&state, &page, q.0.status).await?))
}

/// Create a draft campaign (version 1).
#[utoipa::path(tag = "campaigns", request_body = CampaignBody,
    responses((status = 201, body = CampaignView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/campaigns")]
async fn create_campaign(
    state: State,
    body: JsonBody<CampaignInput>,
) -> Result<HttpResponse, ApiError> {
    let c = service::create(&state, body.0.into()).await?;
    Ok(HttpResponse::Created().json(c))
}

/// Get a campaign.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = CampaignView), (status = 404, body = Problem)))]
#[get("/campaigns/{key}")]
async fn get_campaign(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::get(&state, &key).await?))
}

/// Change a draft or paused campaign; stored as its next version. Enrolments waiting at a step
/// the new version removed leave the campaign with that reason.
#[utoipa::path(tag = "campaigns", request_body = CampaignPatch,
    responses((status = 200, body = CampaignView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/campaigns/{key}")]
async fn update_campaign(
    state: State,
    key: web::Path<String>,
    body: JsonBody<CampaignInput>,
) -> Result<HttpResponse, ApiError> {
    let c = service::update(&state, &key, body.0.into()).await?;
    Ok(HttpResponse::Ok().json(c))
}

/// Every version of a campaign's definition, newest first.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = Vec<VersionView>), (status = 404, body = Problem)))]
#[get("/campaigns/{key}/versions")]
async fn list_versions(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::versions(&state, &key).await?))
}

/// Activate a draft: every step must be reachable, every send must have a template that can
/// match, every rule must check, and the audience must exist (422 names the step and why).
#[utoipa::path(tag = "campaigns", responses((status = 200, body = CampaignView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/campaigns/{key}/activate")]
async fn activate(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::activate(&state, &key).await?))
}

/// Pause an active campaign: nothing runs until it is resumed.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = CampaignView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/campaigns/{key}/pause")]
async fn pause(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::pause(&state, &key).await?))
}

/// Resume a paused campaign (checked like an activation). Steps overdue by more than
/// `max_lateness` are then skipped, with the reason, instead of being sent late.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = CampaignView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/campaigns/{key}/resume")]
async fn resume(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::resume(&state, &key).await?))
}

/// Archive a campaign; its active enrolments leave it.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = CampaignView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/campaigns/{key}/archive")]
async fn archive(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::archive(&state, &key).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrolmentFilter {
    /// Only enrolments in this status.
    pub status: Option<EnrolmentStatus>,
}

/// The enrolments of a campaign (with `total`); sort by `id`, `entered_at`, `due_at`,
/// `status`.
#[utoipa::path(tag = "campaigns", params(PageQuery, EnrolmentFilter),
    responses((status = 200, body = Paged<EnrolmentView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/campaigns/{key}/enrolments")]
async fn list_enrolments(
    state: State,
    key: web::Path<String>,
    page: Query<PageQuery>,
    filter: Query<EnrolmentFilter>,
) -> Result<HttpResponse, ApiError> {
    service::find(&state.db, &key).await?;
    let page = page.validate(
        &state,
        service::ENROLMENT_SORTS,
        service::ENROLMENT_DEFAULT_SORT,
    )?;
    Ok(HttpResponse::Ok().json(service::enrolments(&state, &key, filter.status, &page).await?))
}

/// One enrolment with every step it executed, each with its outcome and reason.
#[utoipa::path(tag = "campaigns", responses((status = 200, body = EnrolmentDetail), (status = 404, body = Problem)))]
#[get("/campaigns/{key}/enrolments/{id}")]
async fn get_enrolment(
    state: State,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (key, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(service::enrolment(&state, &key, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    /// Start of the span: RFC 3339 or `YYYY-MM-DD` (midnight UTC); default now. A draft is
    /// previewed as if activated then.
    #[serde(default, deserialize_with = "instant")]
    #[param(value_type = Option<String>)]
    pub from: Option<DateTime<Utc>>,
    /// End of the span, as `from` (default 30 days after `from`, at most 366 days after).
    #[serde(default, deserialize_with = "instant")]
    #[param(value_type = Option<String>)]
    pub to: Option<DateTime<Utc>>,
}

fn instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s = String::deserialize(d)?;
    super::timing::parse_instant(&s).map(Some).ok_or_else(|| {
        serde::de::Error::custom(
            "expected RFC 3339 (2026-12-01T09:00:00Z) or a date (2026-12-01, midnight UTC)",
        )
    })
}

/// When each step would go out and to whom, per account, between `from` and `to`, with the
/// window, quiet-day or cap deferrals that move it and why anyone is left out. Nothing is
/// sent; the same code as the dispatcher decides.
#[utoipa::path(tag = "campaigns", params(ScheduleQuery),
    responses((status = 200, body = SchedulePreview), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[get("/campaigns/{key}/schedule")]
async fn schedule(
    state: State,
    key: web::Path<String>,
    q: Query<ScheduleQuery>,
) -> Result<HttpResponse, ApiError> {
    let preview = super::preview::schedule(&state, &key, q.from, q.to).await?;
    Ok(HttpResponse::Ok().json(preview))
}

/// The campaign's report: per step and in total, messages sent, delivered, opened and clicked
/// by people (machine activity apart), replied, unsubscribed, bounced, with rates.
#[utoipa::path(tag = "campaigns",
    responses((status = 200, body = super::report::CampaignReport), (status = 404, body = Problem)))]
#[get("/campaigns/{key}/report")]
async fn report(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let r = super::report::report(&state.db, &key, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The campaign's report as an Excel workbook: a row per step and the total.
#[utoipa::path(tag = "campaigns",
    responses((status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = Problem)))]
#[get("/campaigns/{key}/report.xlsx")]
async fn report_xlsx(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let r = super::report::report(&state.db, &key, state.clock.now()).await?;
    let bytes = super::report::workbook(&r).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"abm-campaign-{}.xlsx\"", r.campaign),
        ))
        .body(bytes))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `open` or `done`.
    pub status: Option<TaskStatus>,
    /// An account's external id.
    pub account_id: Option<String>,
    /// A manager's email.
    pub manager: Option<String>,
}

/// Manager tasks created by `manager_task` steps, newest first by default.
#[utoipa::path(tag = "tasks", params(PageQuery, TaskQuery),
    responses((status = 200, body = Paged<TaskView>), (status = 422, body = Problem)))]
#[get("/tasks")]
async fn list_tasks(
    state: State,
    page: Query<PageQuery>,
    q: Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, tasks::TASK_SORTS, tasks::TASK_DEFAULT_SORT)?;
    let q = q.0;
    let filter = TaskFilter {
        status: q.status,
        account: q.account_id,
        manager: q.manager,
    };
    Ok(HttpResponse::Ok().json(tasks::list(&state, &filter, &page).await?))
}

/// A task's new status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TaskChange)]
pub struct TaskInput {
    pub status: TaskStatus,
}

/// Mark a task done (or open again).
#[utoipa::path(tag = "tasks", request_body = TaskInput,
    responses((status = 200, body = TaskView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/tasks/{id}")]
async fn update_task(
    state: State,
    id: web::Path<i64>,
    body: JsonBody<TaskInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(tasks::set_status(&state, *id, body.0.status).await?))
}
