//! HTTP routes of the jobs: list them, list a job's runs, trigger one now.

use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{JobInfo, RunView, Trigger};
use crate::api::extract::{PageQuery, Paged, Query};
use crate::api::openapi::ListSorts;
use crate::api::state::State;
use crate::error::{ApiError, Problem};

/// Sort fields of a job's runs.
const RUN_SORTS: &[&str] = &["id"];

/// The sort fields of the part's lists, for the OpenAPI document.
pub const SORTS: &[ListSorts] = &[("/jobs/{name}/runs", RUN_SORTS)];

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_jobs).service(list_runs).service(run_job);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobInfo>,
}

/// Every background job with its schedule, last run and next run.
#[utoipa::path(tag = "jobs", responses((status = 200, body = JobList)))]
#[get("/jobs")]
async fn list_jobs(state: State) -> Result<HttpResponse, ApiError> {
    let items = super::list(&state).await?;
    Ok(HttpResponse::Ok().json(JobList { items }))
}

/// A job's runs, newest first.
#[utoipa::path(tag = "jobs", params(("name" = String, Path, description = "Job name"), PageQuery),
    responses((status = 200, body = Paged<RunView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/jobs/{name}/runs")]
async fn list_runs(
    state: State,
    name: web::Path<String>,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.validate(&state, RUN_SORTS, "-id")?;
    let (items, total) =
        super::runs_of(&state, &name, page.limit, page.offset, page.descending).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Run a job now: queues a run for a worker and answers 202 with it; 409 while a run of the
/// job is queued or running.
#[utoipa::path(tag = "jobs", params(("name" = String, Path, description = "Job name")),
    responses((status = 202, body = RunView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/jobs/{name}/run")]
async fn run_job(state: State, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let run = super::trigger(&state, &name, Trigger::Api).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/jobs/{}/runs", run.job),
        ))
        .json(RunView::from(run)))
}
