//! HTTP routes for templates: the registry (shipped files, read-only here, and versioned
//! templates created through the API) and the preview of selection and rendering. Each handler
//! parses the request, calls one service in [`super::service`] and shapes the response; this is
//! the only place where a [`ContentError`] becomes a status and a problem code.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ContentError;
use super::service::{self, PreviewInput, Rendition, TemplateDraft, TemplateView};
use crate::api::extract::{JsonBody, non_null};
use crate::api::state::State;
use crate::error::{ApiError, Problem as ApiProblem};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(preview)
        .service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(put_template)
        .service(delete_template)
        .service(list_versions);
}

/// The one mapping from content errors to what API clients see.
impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Invalid(errors) => ApiError::Validation(errors),
            e @ (ContentError::TemplateNotFound(_)
            | ContentError::NoVersions(_)
            | ContentError::AccountNotFound(_)) => ApiError::NotFound(e.to_string()),
            e @ ContentError::ReadOnly(_) => ApiError::Conflict {
                code: "read_only_template",
                detail: e.to_string(),
            },
            e @ ContentError::AlreadyExists(_) => ApiError::Conflict {
                code: "already_exists",
                detail: e.to_string(),
            },
            e @ ContentError::VersionConflict { .. } => ApiError::Conflict {
                code: "version_conflict",
                detail: e.to_string(),
            },
            e @ ContentError::RenderFailed(_) => ApiError::Conflict {
                code: "render_failed",
                detail: e.to_string(),
            },
            ContentError::Database(e) => e.into(),
        }
    }
}

/// Every template in use (shipped and API ones), by id.
#[utoipa::path(tag = "templates", responses((status = 200, body = Vec<TemplateView>)))]
#[get("/templates")]
async fn list_templates(state: State) -> Result<HttpResponse, ApiError> {
    let list = service::list_templates(&state).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(TemplateView::from).collect::<Vec<_>>()))
}

/// One template with its parts.
#[utoipa::path(tag = "templates", responses((status = 200, body = TemplateView), (status = 404, body = ApiProblem)))]
#[get("/templates/{id}")]
async fn get_template(state: State, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let t = service::get_template(&state, &id).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(&t)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Lowercase letters, digits and `-` (create only; must match the path on PUT).
    #[serde(default, deserialize_with = "non_null")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub purpose: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub locale: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    pub priority: Option<i32>,
    /// The `when` rule as a JSON tree (or `when_text`); always applies when both are absent.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Option<Object>)]
    pub when: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "non_null")]
    pub when_text: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Part name (`subject`, `html`, `text` for email; `body.json` for webhook; `task`) →
    /// Handlebars source.
    #[serde(default, deserialize_with = "non_null")]
    pub parts: Option<BTreeMap<String, String>>,
}

impl From<TemplateInput> for TemplateDraft {
    fn from(i: TemplateInput) -> Self {
        Self {
            id: i.id,
            purpose: i.purpose,
            channel: i.channel,
            locale: i.locale,
            priority: i.priority,
            when: i.when,
            when_text: i.when_text,
            description: i.description,
            parts: i.parts,
        }
    }
}

/// Create a template (version 1). It is checked by compiling and rendering it against sample
/// contexts, like `abm templates lint`.
#[utoipa::path(tag = "templates", request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 409, body = ApiProblem), (status = 422, body = ApiProblem)))]
#[post("/templates")]
async fn create_template(
    state: State,
    body: JsonBody<TemplateInput>,
) -> Result<HttpResponse, ApiError> {
    let t = service::create_template(&state, body.0.into()).await?;
    Ok(HttpResponse::Created().json(TemplateView::from(&t)))
}

/// Replace a template: stored as its next version (the earlier ones are kept).
#[utoipa::path(tag = "templates", request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 404, body = ApiProblem), (status = 409, body = ApiProblem), (status = 422, body = ApiProblem)))]
#[put("/templates/{id}")]
async fn put_template(
    state: State,
    id: web::Path<String>,
    body: JsonBody<TemplateInput>,
) -> Result<HttpResponse, ApiError> {
    let t = service::replace_template(&state, &id, body.0.into()).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(&t)))
}

/// Delete an API template with all its versions.
#[utoipa::path(tag = "templates", responses((status = 204), (status = 404, body = ApiProblem), (status = 409, body = ApiProblem)))]
#[delete("/templates/{id}")]
async fn delete_template(state: State, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete_template(&state, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub template: TemplateView,
}

/// Every version of an API template, newest first.
#[utoipa::path(tag = "templates", responses((status = 200, body = Vec<VersionView>), (status = 404, body = ApiProblem)))]
#[get("/templates/{id}/versions")]
async fn list_versions(state: State, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let versions = service::list_versions(&state, &id).await?;
    Ok(HttpResponse::Ok().json(
        versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                created_at: v.created_at,
                template: TemplateView::from(&v.template),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Choose the template for an account, stakeholder and purpose, explain the choice and render it.
#[utoipa::path(tag = "templates", request_body = PreviewInput,
    responses((status = 200, body = Rendition), (status = 404, body = ApiProblem),
        (status = 409, description = "the chosen template failed to render with this data (`render_failed`)", body = ApiProblem),
        (status = 422, body = ApiProblem)))]
#[post("/templates/preview")]
async fn preview(state: State, body: JsonBody<PreviewInput>) -> Result<HttpResponse, ApiError> {
    let rendition = service::preview(&state, body.0).await?;
    Ok(HttpResponse::Ok().json(rendition))
}
