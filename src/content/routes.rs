//! HTTP routes for templates: the registry (shipped files, read-only here, and versioned
//! templates created through the API) and the preview of selection and rendering.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use actix_web::{HttpResponse, delete, get, post, put, web};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::context::{self, EventCtx, OfferCtx};
use super::render::{Library, Rendered};
use super::{Loaded, Origin, Selection, Template, load_dir, locale_chain, parts_of, select};
use crate::api::State;
use crate::api::extract::{JsonBody, non_null};
use crate::entities::{account, stakeholder, template, template_version};
use crate::error::{ApiError, FieldErrors, Problem as ApiProblem};
use crate::segments::routes::rule_problem;
use crate::segments::rules::{FactValue, Rule};

/// The API templates' (id, version, last change) list a library was built for, and the
/// library. The change time tells a re-created template (version 1 again) from the old one.
type Built = (
    Vec<(String, i32, chrono::DateTime<chrono::Utc>)>,
    Arc<Library>,
);

/// The compiled library: shipped templates (read at start-up) plus the latest version of every
/// API template, rebuilt when those change.
pub struct Cache {
    files: Loaded,
    built: RwLock<Option<Built>>,
}

impl Cache {
    /// Reads the templates folder; broken templates are logged and left out.
    pub fn new(dir: &std::path::Path) -> Self {
        let files = load_dir(dir);
        for p in &files.problems {
            tracing::warn!(problem = %p, "template left out (run `abm templates lint`)");
        }
        Self {
            files,
            built: RwLock::new(None),
        }
    }

    /// A shipped template with this id (also when its files are broken: the id is taken).
    pub fn file_template(&self, id: &str) -> Option<&Template> {
        self.files
            .templates
            .iter()
            .chain(&self.files.broken)
            .find(|t| t.id == id)
    }

    pub fn partials(&self) -> &BTreeMap<String, (String, String)> {
        &self.files.partials
    }

    /// The library for the current database templates.
    pub async fn library(&self, db: &DatabaseConnection) -> Result<Arc<Library>, DbErr> {
        let key: Vec<(String, i32, chrono::DateTime<chrono::Utc>)> = template::Entity::find()
            .select_only()
            .columns([
                template::Column::Id,
                template::Column::Version,
                template::Column::UpdatedAt,
            ])
            .order_by_asc(template::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        if let Ok(guard) = self.built.read()
            && let Some((k, lib)) = guard.as_ref()
            && *k == key
        {
            return Ok(lib.clone());
        }
        let mut templates = self.files.templates.clone();
        for (id, version, _) in &key {
            if let Some(v) = template_version::Entity::find()
                .filter(template_version::Column::TemplateId.eq(id.as_str()))
                .filter(template_version::Column::Version.eq(*version))
                .one(db)
                .await?
            {
                match from_version(&v) {
                    Some(t) => templates.push(t),
                    None => tracing::warn!(template = %id, "stored template version is unreadable"),
                }
            }
        }
        let (lib, problems) = Library::build(templates, &self.files.partials);
        for p in problems {
            tracing::warn!(problem = %p, "template left out");
        }
        let lib = Arc::new(lib);
        if let Ok(mut guard) = self.built.write() {
            *guard = Some((key, lib.clone()));
        }
        Ok(lib)
    }
}

fn from_version(v: &template_version::Model) -> Option<Template> {
    let parts = v
        .parts
        .as_object()?
        .iter()
        .map(|(k, s)| s.as_str().map(|s| (k.clone(), s.to_string())))
        .collect::<Option<BTreeMap<_, _>>>()?;
    Some(Template {
        id: v.template_id.clone(),
        purpose: v.purpose.clone(),
        channel: v.channel.clone(),
        locale: v.locale.clone(),
        priority: v.priority,
        when: Rule::from_json(&v.when_rule).ok()?,
        description: v.description.clone(),
        parts,
        origin: Origin::Database { version: v.version },
    })
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(preview)
        .service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(put_template)
        .service(delete_template)
        .service(list_versions);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub purpose: String,
    pub channel: String,
    pub locale: String,
    pub priority: i32,
    #[schema(value_type = Object)]
    pub when: serde_json::Value,
    pub when_text: String,
    pub conditions: usize,
    pub description: Option<String>,
    pub origin: Origin,
    /// Part name → Handlebars source.
    pub parts: BTreeMap<String, String>,
}

impl From<&Template> for TemplateView {
    fn from(t: &Template) -> Self {
        Self {
            id: t.id.clone(),
            purpose: t.purpose.clone(),
            channel: t.channel.clone(),
            locale: t.locale.clone(),
            priority: t.priority,
            when: t.when.to_json(),
            when_text: t.when.to_text(),
            conditions: t.when.conditions(),
            description: t.description.clone(),
            origin: t.origin.clone(),
            parts: t.parts.clone(),
        }
    }
}

/// Every template in use (shipped and API ones), by id.
#[utoipa::path(tag = "templates", responses((status = 200, body = Vec<TemplateView>)))]
#[get("/templates")]
async fn list_templates(state: State) -> Result<HttpResponse, ApiError> {
    let lib = state.templates.library(&state.db).await?;
    let mut list: Vec<TemplateView> = lib.templates.iter().map(TemplateView::from).collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(HttpResponse::Ok().json(list))
}

/// One template with its parts.
#[utoipa::path(tag = "templates", responses((status = 200, body = TemplateView), (status = 404, body = ApiProblem)))]
#[get("/templates/{id}")]
async fn get_template(state: State, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let lib = state.templates.library(&state.db).await?;
    let t = lib
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no template `{id}`")))?;
    Ok(HttpResponse::Ok().json(TemplateView::from(t)))
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

/// Checks a template given through the API, including compiling and rendering it against the
/// lint contexts; problems are reported on the part's path with the line.
fn parse_input(
    id: String,
    input: TemplateInput,
    version: i32,
    partials: &BTreeMap<String, (String, String)>,
) -> Result<Template, ApiError> {
    let mut errors = FieldErrors::default();
    if let Err(m) = crate::domain::check_slug(&id) {
        errors.push("id", m);
    }
    let purpose = input.purpose.unwrap_or_default();
    if !super::PURPOSES.contains(&purpose.as_str()) {
        errors.push(
            "purpose",
            format!("must be one of {}", super::PURPOSES.join(", ")),
        );
    }
    let channel = input.channel.unwrap_or_default();
    let needed = parts_of(&channel);
    if needed.is_none() {
        errors.push("channel", "must be one of email, webhook, task");
    }
    let locale = super::canonical_locale(&input.locale.unwrap_or_default());
    if !super::valid_locale(&locale) {
        errors.push("locale", "must be a locale such as en or vi");
    }
    let when = match (input.when, input.when_text) {
        (Some(_), Some(_)) => {
            errors.push("when_text", "give either `when` or `when_text`, not both");
            None
        }
        (Some(json), None) => Rule::from_json(&json)
            .map_err(|e| {
                let (path, message) = rule_problem(e, "when", "when_text");
                errors.push(&path, message);
            })
            .ok(),
        (None, Some(text)) if text.trim().is_empty() => Some(Rule::always()),
        (None, Some(text)) => Rule::parse_text(&text)
            .map_err(|e| {
                let (path, message) = rule_problem(e, "when", "when_text");
                errors.push(&path, message);
            })
            .ok(),
        (None, None) => Some(Rule::always()),
    };
    let parts = input.parts.unwrap_or_default();
    if let Some(needed) = needed {
        for p in needed {
            if !parts.contains_key(*p) {
                errors.push(
                    &format!("parts/{p}"),
                    format!("is required for a {channel} template"),
                );
            }
        }
        for p in parts.keys().filter(|p| !needed.contains(&p.as_str())) {
            errors.push(
                &format!("parts/{p}"),
                format!("is not a part of a {channel} template"),
            );
        }
    }
    errors.into_result()?;
    let t = Template {
        id,
        purpose,
        channel,
        locale,
        priority: input.priority.unwrap_or(0),
        when: when.unwrap_or_else(Rule::always),
        description: input.description.filter(|d| !d.trim().is_empty()),
        parts,
        origin: Origin::Database { version },
    };
    let problems = super::lint::check(vec![t.clone()], partials);
    if !problems.is_empty() {
        let mut errors = FieldErrors::default();
        for p in problems {
            let part = p
                .file
                .rsplit_once("/parts/")
                .map(|(_, part)| part.to_string())
                .unwrap_or_else(|| "parts".into());
            errors.push(
                &format!("parts/{part}"),
                format!("line {}: {}", p.line, p.message),
            );
        }
        errors.into_result()?;
    }
    Ok(t)
}

async fn save_version(state: &State, t: &Template, creating: bool) -> Result<(), ApiError> {
    let now = state.clock.now();
    let Origin::Database { version } = t.origin else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "not a database template"
        )));
    };
    let txn = crate::db::begin_write(&state.db).await?;
    if creating {
        let row = template::ActiveModel {
            id: Set(t.id.clone()),
            purpose: Set(t.purpose.clone()),
            channel: Set(t.channel.clone()),
            locale: Set(t.locale.clone()),
            priority: Set(t.priority),
            when_rule: Set(t.when.to_json()),
            description: Set(t.description.clone()),
            version: Set(version),
            created_at: Set(now),
            updated_at: Set(now),
        };
        row.insert(&txn).await.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
                code: "already_exists",
                detail: format!("a template `{}` exists", t.id),
            },
            _ => e.into(),
        })?;
    } else {
        // Only over the version this request read: a concurrent PUT makes this one a 409.
        use sea_orm::sea_query::Expr;
        let updated = template::Entity::update_many()
            .col_expr(template::Column::Purpose, Expr::value(t.purpose.clone()))
            .col_expr(template::Column::Channel, Expr::value(t.channel.clone()))
            .col_expr(template::Column::Locale, Expr::value(t.locale.clone()))
            .col_expr(template::Column::Priority, Expr::value(t.priority))
            .col_expr(template::Column::WhenRule, Expr::value(t.when.to_json()))
            .col_expr(
                template::Column::Description,
                Expr::value(t.description.clone()),
            )
            .col_expr(template::Column::Version, Expr::value(version))
            .col_expr(template::Column::UpdatedAt, Expr::value(now))
            .filter(template::Column::Id.eq(t.id.as_str()))
            .filter(template::Column::Version.eq(version - 1))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(ApiError::Conflict {
                code: "version_conflict",
                detail: format!(
                    "`{}` changed while this request ran (it is no longer at version {}); \
                     read it again and retry",
                    t.id,
                    version - 1
                ),
            });
        }
    }
    template_version::ActiveModel {
        template_id: Set(t.id.clone()),
        version: Set(version),
        purpose: Set(t.purpose.clone()),
        channel: Set(t.channel.clone()),
        locale: Set(t.locale.clone()),
        priority: Set(t.priority),
        when_rule: Set(t.when.to_json()),
        description: Set(t.description.clone()),
        parts: Set(serde_json::to_value(&t.parts).map_err(ApiError::internal)?),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

fn read_only(id: &str) -> ApiError {
    ApiError::Conflict {
        code: "read_only_template",
        detail: format!(
            "`{id}` is shipped in the templates folder and is read-only here; change the file, \
             or create a template with another id"
        ),
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
    let input = body.0;
    let id = input.id.clone().unwrap_or_default();
    if state.templates.file_template(&id).is_some() {
        return Err(read_only(&id));
    }
    let t = parse_input(id, input, 1, state.templates.partials())?;
    save_version(&state, &t, true).await?;
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
    let id = id.into_inner();
    if state.templates.file_template(&id).is_some() {
        return Err(read_only(&id));
    }
    let current = template::Entity::find_by_id(id.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no template `{id}`")))?;
    let input = body.0;
    if input.id.as_deref().is_some_and(|i| i != id) {
        return Err(ApiError::field(
            "/id",
            "must match the template in the path",
        ));
    }
    let t = parse_input(id, input, current.version + 1, state.templates.partials())?;
    save_version(&state, &t, false).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(&t)))
}

/// Delete an API template with all its versions.
#[utoipa::path(tag = "templates", responses((status = 204), (status = 404, body = ApiProblem), (status = 409, body = ApiProblem)))]
#[delete("/templates/{id}")]
async fn delete_template(state: State, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if state.templates.file_template(&id).is_some() {
        return Err(read_only(&id));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    template_version::Entity::delete_many()
        .filter(template_version::Column::TemplateId.eq(id.as_str()))
        .exec(&txn)
        .await?;
    let gone = template::Entity::delete_by_id(id.clone())
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(ApiError::NotFound(format!("no template `{id}`")));
    }
    txn.commit().await?;
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
    let versions = template_version::Entity::find()
        .filter(template_version::Column::TemplateId.eq(id.as_str()))
        .order_by_desc(template_version::Column::Version)
        .all(&state.db)
        .await?;
    if versions.is_empty() {
        return Err(match state.templates.file_template(&id) {
            Some(_) => ApiError::NotFound(format!(
                "`{id}` is a shipped file template; it has no API versions"
            )),
            None => ApiError::NotFound(format!("no template `{id}`")),
        });
    }
    Ok(HttpResponse::Ok().json(
        versions
            .iter()
            .filter_map(|v| {
                from_version(v).map(|t| VersionView {
                    version: v.version,
                    created_at: v.created_at,
                    template: TemplateView::from(&t),
                })
            })
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The account's `external_id`.
    pub account: String,
    /// A stakeholder id of that account (the person the content is for).
    #[serde(default)]
    pub stakeholder: Option<i64>,
    pub purpose: String,
    /// `email` (default), `webhook` or `task`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The offer being made (win-back).
    #[serde(default)]
    pub offer: Option<OfferCtx>,
    /// The sales event being announced (event notifications).
    #[serde(default)]
    pub event: Option<EventCtx>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    pub selection: Selection,
    /// The chosen template (null when none matched).
    pub template: Option<TemplateView>,
    /// Rendered parts of the chosen template.
    #[schema(value_type = Option<Object>)]
    pub rendered: Option<Rendered>,
}

/// Choose the template for an account, stakeholder and purpose, explain the choice and render it.
#[utoipa::path(tag = "templates", request_body = PreviewInput,
    responses((status = 200, body = PreviewView), (status = 404, body = ApiProblem),
        (status = 409, description = "the chosen template failed to render with this data (`render_failed`)", body = ApiProblem),
        (status = 422, body = ApiProblem)))]
#[post("/templates/preview")]
async fn preview(state: State, body: JsonBody<PreviewInput>) -> Result<HttpResponse, ApiError> {
    let view = preview_for(
        &state.db,
        &state.settings,
        state.clock.now(),
        &state.templates,
        body.0,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Chooses and renders the template for one account (the preview route and
/// `abm templates preview`).
pub async fn preview_for(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    now: chrono::DateTime<chrono::Utc>,
    cache: &Cache,
    input: PreviewInput,
) -> Result<PreviewView, ApiError> {
    let mut errors = FieldErrors::default();
    if !super::PURPOSES.contains(&input.purpose.as_str()) {
        errors.push(
            "purpose",
            format!("must be one of {}", super::PURPOSES.join(", ")),
        );
    }
    let channel = input.channel.clone().unwrap_or_else(|| "email".into());
    if parts_of(&channel).is_none() {
        errors.push("channel", "must be one of email, webhook, task");
    }
    if let Some(o) = &input.offer {
        if !crate::segments::rules::fields::OFFER_KINDS.contains(&o.kind.as_str()) {
            errors.push("offer/kind", "must be one of discount, gift, terms");
        }
        if o.discount_percent
            .is_some_and(|p| !(0.0..=100.0).contains(&p))
        {
            errors.push("offer/discount_percent", "must be between 0 and 100");
        }
    }
    errors.into_result()?;
    let acc = account::Entity::find()
        .filter(account::Column::ExternalId.eq(input.account.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account `{}`", input.account)))?;
    let person = match input.stakeholder {
        Some(id) => Some(
            stakeholder::Entity::find_by_id(id)
                .filter(stakeholder::Column::AccountId.eq(acc.id))
                .one(db)
                .await?
                .ok_or_else(|| {
                    ApiError::field(
                        "/stakeholder",
                        format!("no stakeholder {id} at this account"),
                    )
                })?,
        ),
        None => None,
    };
    let tz: chrono_tz::Tz = acc.timezone.parse().unwrap_or(chrono_tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    let mut facts = crate::segments::facts::load(
        db,
        now,
        crate::segments::facts::Span::Ids(&[acc.id]),
        crate::segments::facts::Needs::all(),
    )
    .await?
    .pop()
    .map(|a| a.facts)
    .ok_or_else(|| ApiError::NotFound(format!("no account `{}`", input.account)))?;
    if let Some(p) = &person {
        facts.set("stakeholder.role", Some(p.role.clone()));
        facts.set("stakeholder.language", p.language.clone());
        facts.set("stakeholder.influence", Some(f64::from(p.influence)));
        facts.set("stakeholder.consent", Some(p.consent.clone()));
    }
    if let Some(o) = &input.offer {
        facts.set("offer.kind", Some(o.kind.clone()));
        facts.set(
            "offer.discount_percent",
            o.discount_percent.map_or(FactValue::Null, FactValue::Num),
        );
    }
    let locales = locale_chain(
        person.as_ref().and_then(|p| p.language.as_deref()),
        context::account_language(&acc).as_deref(),
        &settings.templates.default_locale,
    );
    let lib = cache.library(db).await?;
    let selection = select(
        lib.templates.iter(),
        &input.purpose,
        &channel,
        &locales,
        &facts,
    );
    let (template, rendered) = match &selection.chosen {
        Some(id) => {
            let t = lib
                .get(id)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("chosen template vanished")))?;
            let mut ctx = context::build(db, &acc, person.as_ref(), today).await?;
            ctx.locale = t.locale.clone();
            ctx.offer = input.offer.clone();
            ctx.event = input.event.clone();
            let rendered = lib
                .clone()
                .render_blocking(id.clone(), ctx)
                .await
                .map_err(|p| ApiError::Conflict {
                    code: "render_failed",
                    detail: format!("{p}"),
                })?;
            (Some(TemplateView::from(t)), Some(rendered))
        }
        None => (None, None),
    };
    Ok(PreviewView {
        selection,
        template,
        rendered,
    })
}
