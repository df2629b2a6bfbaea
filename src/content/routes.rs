//! HTTP routes for templates: the registry (shipped files, read-only here, and versioned
//! templates created through the API) and the preview of selection and rendering. Each handler
//! parses the request, calls one service in [`super::service`] and shapes the response; this is
//! the only place where a [`ContentError`] becomes a status and a problem code.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AnyOf, Object, ObjectBuilder, Schema};

use super::error::ContentError;
use super::service::{self, PreviewInput, Rendition, TemplateDraft, TemplateView};
use super::{Channel, Purpose};
use crate::api::extract::{JsonBody, non_null};
use crate::api::openapi::{Body, BodySchema, Replace};
use crate::api::state::State;
use crate::domain::schema::Slug;
use crate::error::{ApiError, Problem as ApiProblem};
use crate::segments::rules::schema::{Rule, RuleText};

/// The bodies of template creation and replacement (see [`BodySchema`]).
type TemplateBody = Body<TemplateInput>;
type TemplateReplacement = Replace<TemplateInput>;

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

/// A template. It must compile and render with sample data (like `abm templates lint`);
/// the schema describes parts of literal text with the `{{account.name}}` and
/// `{{account.external_id}}` placeholders, the server takes any Handlebars source that
/// passes the lint.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Lowercase letters, digits and `-` (create only; must match the path on PUT, where the
    /// schema leaves it out). Not the id of a shipped template.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Slug, required = true)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Purpose, required = true)]
    pub purpose: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Channel, required = true)]
    pub channel: Option<String>,
    /// A language tag such as `en`, `vi` or `pt-BR` (`_` is read as `-`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = String, required = true,
        pattern = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")]
    pub locale: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = i32)]
    pub priority: Option<i32>,
    /// The `when` rule as a JSON tree (or `when_text`, not both); always applies when both
    /// are absent.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = Rule)]
    pub when: Option<serde_json::Value>,
    /// The `when` rule as text (blank: always).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = RuleText)]
    pub when_text: Option<String>,
    /// Line breaks and tabs allowed, no other control characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub description: Option<String>,
    /// Part name → Handlebars source: exactly `subject`, `html` and `text` for email,
    /// `body.json` for webhook, `task` for task.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = BTreeMap<String, String>, required = true)]
    pub parts: Option<BTreeMap<String, String>>,
}

/// A locale as `locale` is documented (repeated in its `#[schema]`).
#[cfg(test)]
pub(crate) const LOCALE: &str = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$";

/// A part's Handlebars source as the schema describes it: literal text (no braces or
/// backslashes; line breaks and tabs allowed) and the placeholders every sample context fills.
pub(crate) const PART: &str = r"^([^{}\\\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|\{\{account\.(name|external_id)\}\})*$";

/// A webhook body as the schema describes it: a JSON object of up to ten text members whose
/// values are literal text and placeholders (rendered escaped for JSON).
pub(crate) const JSON_PART: &str = r#"^\{( *"[a-z_]{1,20}": *"([A-Za-z0-9 .,:;!?_-]|\{\{account\.(name|external_id)\}\})*"( *, *"[a-z_]{1,20}": *"([A-Za-z0-9 .,:;!?_-]|\{\{account\.(name|external_id)\}\})*"){0,9})? *\}$"#;

/// The schema of one part's source.
fn part_schema(part: &str) -> RefOr<Schema> {
    let pattern = if part == "body.json" { JSON_PART } else { PART };
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .max_length(Some(10_000))
        .pattern(Some(pattern))
        .into()
}

/// The template with `channel` fixed and `parts` holding exactly that channel's parts.
fn for_channel(mut schema: Object, channel: Channel) -> RefOr<Schema> {
    schema.properties.insert(
        "channel".into(),
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some([channel.as_str()]))
            .into(),
    );
    let mut parts = ObjectBuilder::new().additional_properties(Some(
        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
    ));
    for p in channel.parts() {
        parts = parts.property(*p, part_schema(p)).required(*p);
    }
    schema.properties.insert("parts".into(), parts.into());
    RefOr::T(Schema::Object(schema))
}

/// The parts a template has depend on its channel: one alternative per channel.
impl BodySchema for TemplateInput {
    const AT_MOST_ONE_OF: &'static [[&'static str; 2]] = &[["when", "when_text"]];
    const FIXED: &'static [&'static str] = &["id"];

    fn refine(schema: Object) -> RefOr<Schema> {
        let mut any = AnyOf::new();
        any.description = schema.description.clone();
        any.items = Channel::ALL
            .iter()
            .map(|c| for_channel(schema.clone(), *c))
            .collect();
        RefOr::T(Schema::AnyOf(any))
    }
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
#[utoipa::path(tag = "templates", request_body = TemplateBody,
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
#[utoipa::path(tag = "templates", request_body = TemplateReplacement,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::content::{Origin, Template, canonical_locale, lint, valid_locale};
    use crate::domain::schema::matching;

    fn template(channel: Channel, parts: BTreeMap<String, String>) -> Template {
        Template {
            id: "documented".into(),
            purpose: Purpose::Outreach,
            channel,
            locale: "en".into(),
            priority: 0,
            when: crate::segments::rules::Rule::always(),
            description: None,
            parts,
            origin: Origin::Database { version: 1 },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn documented_parts_pass_the_lint(
            subject in matching(PART),
            html in matching(PART),
            text in matching(PART),
            body in matching(JSON_PART),
            task in matching(PART),
        ) {
            let email = template(
                Channel::Email,
                [("subject", subject), ("html", html), ("text", text)]
                    .map(|(k, v)| (k.to_string(), v))
                    .into(),
            );
            let webhook = template(Channel::Webhook, [("body.json".to_string(), body)].into());
            let task = template(Channel::Task, [("task".to_string(), task)].into());
            for t in [email, webhook, task] {
                let problems = lint::check(vec![t.clone()], &BTreeMap::new());
                prop_assert!(problems.is_empty(), "{:?} {:?}", t.parts, problems);
            }
        }

        #[test]
        fn documented_locales_are_valid(
            locale in matching(LOCALE),
        ) {
            prop_assert!(valid_locale(&canonical_locale(&locale)), "{:?}", locale);
        }
    }
}
