//! Content services: the template registry (shipped templates, read-only here, and versioned
//! API templates) and the one select-and-render service that the preview API, the CLI preview
//! and campaign steps all call. Everything here takes an [`AppContext`] and returns
//! [`ContentError`]; statuses and problem codes belong to `content::routes`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::context::{
    AccountKey, EventCtx, OfferCtx, Prepared, Recipient, account_language, prepare_for,
};
use super::error::{ContentError, check};
use super::library::from_version;
use super::render::{Library, Rendered};
use super::{Channel, Origin, Purpose, Selection, Template, locale_chain, select};
use crate::context::AppContext;
use crate::entities::{template, template_version};
use crate::error::FieldErrors;
use crate::segments::rules::{FactValue, Rule, rule_problem};

// ------------------------------------------------------------------------ the registry

/// A template as the API and the CLI show it (and as a rendition records what was chosen).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub purpose: Purpose,
    pub channel: Channel,
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
            purpose: t.purpose,
            channel: t.channel,
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

/// A template as given by a user, before it is checked: every field may be missing.
#[derive(Debug, Clone, Default)]
pub struct TemplateDraft {
    /// Lowercase letters, digits and `-`; on replace, must be the template's id when given.
    pub id: Option<String>,
    pub purpose: Option<String>,
    pub channel: Option<String>,
    pub locale: Option<String>,
    pub priority: Option<i32>,
    /// The `when` rule as a JSON tree (or `when_text`); always applies when both are absent.
    pub when: Option<serde_json::Value>,
    pub when_text: Option<String>,
    pub description: Option<String>,
    /// Part name → Handlebars source.
    pub parts: Option<BTreeMap<String, String>>,
}

/// One stored version of an API template.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub template: Template,
}

/// Every template in use (shipped and API ones), by id.
pub async fn list_templates(ctx: &AppContext) -> Result<Vec<Template>, ContentError> {
    let lib = ctx.templates.library(&ctx.db).await?;
    let mut list = lib.templates.clone();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(list)
}

/// One template in use.
pub async fn get_template(ctx: &AppContext, id: &str) -> Result<Template, ContentError> {
    let lib = ctx.templates.library(&ctx.db).await?;
    lib.get(id)
        .cloned()
        .ok_or_else(|| ContentError::TemplateNotFound(id.to_string()))
}

/// Creates an API template at version 1. It is checked like `abm templates lint` (compiled and
/// rendered against sample contexts) before anything is stored.
pub async fn create_template(
    ctx: &AppContext,
    draft: TemplateDraft,
) -> Result<Template, ContentError> {
    let id = draft.id.clone().unwrap_or_default();
    if ctx.templates.file_template(&id).is_some() {
        return Err(ContentError::ReadOnly(id));
    }
    let t = parse_draft(id, draft, 1, ctx.templates.partials())?;
    save_version(ctx, &t, 1, true).await?;
    Ok(t)
}

/// Replaces an API template: stored as its next version (the earlier ones are kept). A
/// concurrent replace of the same version makes this one a [`ContentError::VersionConflict`].
pub async fn replace_template(
    ctx: &AppContext,
    id: &str,
    draft: TemplateDraft,
) -> Result<Template, ContentError> {
    if ctx.templates.file_template(id).is_some() {
        return Err(ContentError::ReadOnly(id.to_string()));
    }
    let current = template::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| ContentError::TemplateNotFound(id.to_string()))?;
    if draft.id.as_deref().is_some_and(|i| i != id) {
        return Err(ContentError::field(
            "/id",
            "must match the template in the path",
        ));
    }
    let version = current.version + 1;
    let t = parse_draft(id.to_string(), draft, version, ctx.templates.partials())?;
    save_version(ctx, &t, version, false).await?;
    Ok(t)
}

/// Deletes an API template with all its versions.
pub async fn delete_template(ctx: &AppContext, id: &str) -> Result<(), ContentError> {
    if ctx.templates.file_template(id).is_some() {
        return Err(ContentError::ReadOnly(id.to_string()));
    }
    let txn = crate::db::begin_write(&ctx.db).await?;
    template_version::Entity::delete_many()
        .filter(template_version::Column::TemplateId.eq(id))
        .exec(&txn)
        .await?;
    let gone = template::Entity::delete_by_id(id).exec(&txn).await?;
    if gone.rows_affected == 0 {
        return Err(ContentError::TemplateNotFound(id.to_string()));
    }
    txn.commit().await?;
    Ok(())
}

/// Every version of an API template, newest first (unreadable rows are left out).
pub async fn list_versions(ctx: &AppContext, id: &str) -> Result<Vec<StoredVersion>, ContentError> {
    let versions = template_version::Entity::find()
        .filter(template_version::Column::TemplateId.eq(id))
        .order_by_desc(template_version::Column::Version)
        .all(&ctx.db)
        .await?;
    if versions.is_empty() {
        return Err(match ctx.templates.file_template(id) {
            Some(_) => ContentError::NoVersions(id.to_string()),
            None => ContentError::TemplateNotFound(id.to_string()),
        });
    }
    Ok(versions
        .iter()
        .filter_map(|v| {
            from_version(v).map(|template| StoredVersion {
                version: v.version,
                created_at: v.created_at,
                template,
            })
        })
        .collect())
}

/// Checks a draft, including compiling and rendering it against the lint contexts; problems
/// are reported on the part's path with the line.
fn parse_draft(
    id: String,
    input: TemplateDraft,
    version: i32,
    partials: &BTreeMap<String, (String, String)>,
) -> Result<Template, ContentError> {
    let mut errors = FieldErrors::default();
    if let Err(m) = crate::domain::check_slug(&id) {
        errors.push("id", m);
    }
    let purpose = Purpose::parse(input.purpose.as_deref().unwrap_or_default());
    if purpose.is_none() {
        errors.push("purpose", format!("must be one of {}", Purpose::names()));
    }
    let channel = Channel::parse(input.channel.as_deref().unwrap_or_default());
    let needed = channel.map(Channel::parts);
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
    if let (Some(needed), Some(channel)) = (needed, channel) {
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
    let (Some(purpose), Some(channel)) = (purpose, channel) else {
        return Err(ContentError::Invalid(errors.errors));
    };
    check(errors)?;
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
    let mut errors = FieldErrors::default();
    for p in super::lint::check(vec![t.clone()], partials) {
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
    check(errors)?;
    Ok(t)
}

/// Stores `t` as `version` (the template row and its version row in one transaction). When
/// replacing, only over the version this change read: a concurrent replace makes it a conflict.
async fn save_version(
    ctx: &AppContext,
    t: &Template,
    version: i32,
    creating: bool,
) -> Result<(), ContentError> {
    let now = ctx.clock.now();
    let txn = crate::db::begin_write(&ctx.db).await?;
    if creating {
        let row = template::ActiveModel {
            id: Set(t.id.clone()),
            purpose: Set(t.purpose.as_str().to_string()),
            channel: Set(t.channel.as_str().to_string()),
            locale: Set(t.locale.clone()),
            priority: Set(t.priority),
            when_rule: Set(t.when.to_json()),
            description: Set(t.description.clone()),
            version: Set(version),
            created_at: Set(now),
            updated_at: Set(now),
        };
        row.insert(&txn).await.map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ContentError::AlreadyExists(t.id.clone())
            }
            _ => e.into(),
        })?;
    } else {
        let updated = template::Entity::update_many()
            .col_expr(template::Column::Purpose, Expr::value(t.purpose.as_str()))
            .col_expr(template::Column::Channel, Expr::value(t.channel.as_str()))
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
            return Err(ContentError::VersionConflict {
                id: t.id.clone(),
                read: version - 1,
            });
        }
    }
    let parts: serde_json::Map<String, serde_json::Value> = t
        .parts
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    template_version::ActiveModel {
        template_id: Set(t.id.clone()),
        version: Set(version),
        purpose: Set(t.purpose.as_str().to_string()),
        channel: Set(t.channel.as_str().to_string()),
        locale: Set(t.locale.clone()),
        priority: Set(t.priority),
        when_rule: Set(t.when.to_json()),
        description: Set(t.description.clone()),
        parts: Set(serde_json::Value::Object(parts)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ select and render

/// One message to choose a template for and render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub recipient: Recipient,
    pub purpose: Purpose,
    pub channel: Channel,
    /// A fixed template id (a campaign step that names its template): no selection.
    pub template: Option<String>,
    /// The offer being made (win-back).
    pub offer: Option<OfferCtx>,
    /// The sales event being announced (event notifications).
    pub event: Option<EventCtx>,
}

/// The chosen template with every candidate's story, and what it rendered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TemplatePreview)]
pub struct Rendition {
    pub selection: Selection,
    /// The chosen template (null when none matched).
    pub template: Option<TemplateView>,
    /// Rendered parts of the chosen template.
    #[schema(value_type = Option<Object>)]
    pub rendered: Option<Rendered>,
}

/// Chooses and renders a template for each request, in order. A request with invalid fields,
/// an unknown account or stakeholder, or a template that fails with its data gets its own
/// error; the others are still rendered. Only a database failure fails the whole batch.
///
/// The data is read for the whole batch at once (see [`super::context::prepare`] for the query count), plus
/// one query to check the template library is current.
pub async fn select_and_render(
    ctx: &AppContext,
    requests: &[RenderRequest],
) -> Result<Vec<Result<Rendition, ContentError>>, ContentError> {
    let checked: Vec<Result<(), ContentError>> = requests.iter().map(check_request).collect();
    let recipients: Vec<Recipient> = requests
        .iter()
        .zip(&checked)
        .filter(|(_, c)| c.is_ok())
        .map(|(r, _)| r.recipient.clone())
        .collect();
    let lib = ctx.templates.library(&ctx.db).await?;
    // Selection reads only what the templates' `when` rules use.
    let needs = crate::segments::facts::Needs::of(lib.templates.iter().map(|t| &t.when));
    let mut prepared = prepare_for(&ctx.db, ctx.clock.now(), &recipients, needs)
        .await?
        .into_iter();
    let default_locale = ctx.settings.templates.default_locale.clone();
    let work: Vec<(RenderRequest, Result<Prepared, ContentError>)> = requests
        .iter()
        .zip(checked)
        .map(|(req, checked)| {
            let p = checked.and_then(|()| {
                prepared.next().ok_or_else(|| {
                    ContentError::AccountNotFound(req.recipient.account.to_string())
                })?
            });
            (req.clone(), p)
        })
        .collect();
    // Rendering is CPU work bounded per part (see `limits`); it runs on the blocking pool so a
    // large batch never stalls the async workers serving other requests.
    tokio::task::spawn_blocking(move || {
        work.into_iter()
            .map(|(req, p)| choose_and_render(&lib, &default_locale, &req, p?))
            .collect()
    })
    .await
    .map_err(|e| {
        ContentError::RenderFailed(crate::content::Problem {
            file: "batch".into(),
            line: 1,
            message: format!("rendering stopped: {e}"),
        })
    })
}

/// Checks what a request names before any data is read.
fn check_request(r: &RenderRequest) -> Result<(), ContentError> {
    let mut errors = FieldErrors::default();
    if r.offer
        .as_ref()
        .and_then(|o| o.discount_percent)
        .is_some_and(|p| !(0.0..=100.0).contains(&p))
    {
        errors.push("offer/discount_percent", "must be between 0 and 100");
    }
    check(errors)
}

/// Selection and rendering for one prepared recipient: plain data in, plain data out.
fn choose_and_render(
    lib: &Library,
    default_locale: &str,
    req: &RenderRequest,
    p: Prepared,
) -> Result<Rendition, ContentError> {
    let Prepared {
        account,
        stakeholder,
        mut facts,
        mut context,
    } = p;
    if let Some(o) = &req.offer {
        facts.set("offer.kind", Some(o.kind.as_str().to_string()));
        facts.set(
            "offer.discount_percent",
            o.discount_percent.map_or(FactValue::Null, FactValue::Num),
        );
    }
    let locales = locale_chain(
        stakeholder.as_ref().and_then(|s| s.language.as_deref()),
        account_language(&account).as_deref(),
        default_locale,
    );
    let selection = match &req.template {
        Some(id) => Selection {
            purpose: req.purpose.as_str().to_string(),
            channel: req.channel.as_str().to_string(),
            locales: Vec::new(),
            chosen: lib
                .get(id)
                .filter(|t| t.channel == req.channel)
                .map(|t| t.id.clone()),
            explanation: format!("template `{id}` is named by the campaign step"),
            candidates: Vec::new(),
        },
        None => select(
            lib.templates.iter(),
            req.purpose,
            req.channel,
            &locales,
            &facts,
        ),
    };
    let Some(t) = selection.chosen.as_deref().and_then(|id| lib.get(id)) else {
        return Ok(Rendition {
            selection,
            template: None,
            rendered: None,
        });
    };
    context.locale = t.locale.clone();
    context.offer = req.offer.clone();
    context.event = req.event.clone();
    let rendered = lib
        .render(&t.id, &context)
        .map_err(ContentError::RenderFailed)?;
    Ok(Rendition {
        template: Some(TemplateView::from(t)),
        rendered: Some(rendered),
        selection,
    })
}

/// What to preview: one account (by external id), stakeholder, purpose, channel, offer and
/// event, as the API and `abm templates preview` take it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplatePreviewInput)]
pub struct PreviewInput {
    /// The account's `external_id`.
    #[schema(value_type = crate::domain::ExternalId)]
    pub account: String,
    /// A stakeholder id of that account (the person the content is for).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub stakeholder: Option<i64>,
    #[schema(value_type = Purpose)]
    pub purpose: String,
    /// `email` (default), `webhook` or `task`.
    #[serde(default)]
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// The offer being made (win-back).
    #[serde(default)]
    pub offer: Option<OfferCtx>,
    /// The sales event being announced (event notifications).
    #[serde(default)]
    pub event: Option<EventCtx>,
}

/// Chooses and renders the template for one account: [`select_and_render`] with a batch of
/// one.
pub async fn preview(ctx: &AppContext, input: PreviewInput) -> Result<Rendition, ContentError> {
    let account = AccountKey::External(input.account);
    // Parse, don't validate: the wire names become the typed request here, every bad field
    // reported at once.
    let mut errors = FieldErrors::default();
    let purpose = Purpose::parse(&input.purpose);
    if purpose.is_none() {
        errors.push("purpose", format!("must be one of {}", Purpose::names()));
    }
    let channel = match input.channel.as_deref() {
        None => Some(Channel::Email),
        Some(c) => Channel::parse(c),
    };
    if channel.is_none() {
        errors.push("channel", "must be one of email, webhook, task");
    }
    let (Some(purpose), Some(channel)) = (purpose, channel) else {
        return Err(ContentError::Invalid(errors.errors));
    };
    let request = RenderRequest {
        recipient: Recipient {
            account: account.clone(),
            stakeholder: input.stakeholder,
        },
        purpose,
        channel,
        template: None,
        offer: input.offer,
        event: input.event,
    };
    select_and_render(ctx, std::slice::from_ref(&request))
        .await?
        .pop()
        .unwrap_or_else(|| Err(ContentError::AccountNotFound(account.to_string())))
}
