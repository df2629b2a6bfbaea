//! HTTP routes for segments (addressed by their `key`) and the rule language.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts;
use crate::api::extract::{JsonBody, PageQuery, Paged, Query, double_option, fetch_page, non_null};
use crate::api::state::State;
use crate::entities::{account, segment, segment_event, segment_membership};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::segments::rules::fields::{FIELDS, FieldType};
use crate::segments::rules::{Rule, rule_problem};

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

impl RuleInput {
    /// The checked rule, or `None` with the problem recorded (`required`: one must be given).
    pub fn parse(
        &self,
        required: bool,
        scopes: &[crate::segments::rules::fields::Scope],
        errors: &mut FieldErrors,
    ) -> Option<Rule> {
        match (&self.rule, &self.rule_text) {
            (Some(_), Some(_)) => {
                errors.push("rule_text", "give either `rule` or `rule_text`, not both");
                None
            }
            (Some(json), None) => Rule::from_json_for(json, scopes)
                .map_err(|e| {
                    let (path, message) = rule_problem(e, "rule", "rule_text");
                    errors.push(&path, message);
                })
                .ok(),
            (None, Some(text)) => Rule::parse_text_for(text, scopes)
                .map_err(|e| {
                    let (path, message) = rule_problem(e, "rule", "rule_text");
                    errors.push(&path, message);
                })
                .ok(),
            (None, None) => {
                if required {
                    errors.push("rule", "is required (or give `rule_text`)");
                }
                None
            }
        }
    }
}

/// One registered field of the rule language.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    pub name: &'static str,
    /// `text`, `number`, `boolean`, `date`, `enum`, `list` or `any`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The allowed words of an `enum` or `list` field.
    pub values: Vec<&'static str>,
    /// `account`, `dossier`, `analytics`, `stakeholder` or `offer`.
    pub scope: String,
    pub description: &'static str,
}

/// The fields rules may use (plus `attributes.<key>` for the account's attributes).
#[utoipa::path(tag = "rules", responses((status = 200, body = Vec<FieldView>)))]
#[get("/rules/fields")]
async fn list_fields() -> HttpResponse {
    let fields: Vec<FieldView> = FIELDS
        .iter()
        .map(|f| {
            let (kind, values) = match f.ty {
                FieldType::Text => ("text", Vec::new()),
                FieldType::Number => ("number", Vec::new()),
                FieldType::Bool => ("boolean", Vec::new()),
                FieldType::Date => ("date", Vec::new()),
                FieldType::Enum(v) => ("enum", v.to_vec()),
                FieldType::List(v) => ("list", v.to_vec()),
                FieldType::Any => ("any", Vec::new()),
            };
            FieldView {
                name: f.name,
                kind,
                values,
                scope: format!("{:?}", f.scope).to_lowercase(),
                description: f.doc,
            }
        })
        .collect();
    HttpResponse::Ok().json(fields)
}

/// A checked rule in both forms.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    pub rule_text: String,
    /// Number of conditions (template selection prefers the most specific).
    pub conditions: usize,
}

impl From<&Rule> for RuleView {
    fn from(r: &Rule) -> Self {
        Self {
            rule: r.to_json(),
            rule_text: r.to_text(),
            conditions: r.conditions(),
        }
    }
}

/// Check a rule and get it back in both forms (text ⇄ JSON). Every field is allowed here
/// (segments refuse stakeholder and offer fields).
#[utoipa::path(tag = "rules", request_body = RuleInput,
    responses((status = 200, body = RuleView), (status = 422, body = Problem)))]
#[post("/rules/parse")]
async fn parse_rule(body: JsonBody<RuleInput>) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let rule = body
        .0
        .parse(true, crate::segments::rules::ALL_SCOPES, &mut errors);
    errors.into_result()?;
    let rule = rule.ok_or_else(|| ApiError::field("/rule", "is required"))?;
    Ok(HttpResponse::Ok().json(RuleView::from(&rule)))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRef {
    pub external_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    /// Accounts the rule selects now.
    pub count: u64,
    /// All accounts.
    pub total: u64,
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    pub rule_text: String,
    /// The first matching accounts, by name.
    pub sample: Vec<AccountRef>,
}

/// Count and sample the accounts an unsaved rule selects.
#[utoipa::path(tag = "segments", request_body = PreviewInput,
    responses((status = 200, body = PreviewView), (status = 422, body = Problem)))]
#[post("/segments/preview")]
async fn preview(state: State, body: JsonBody<PreviewInput>) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let input = RuleInput {
        rule: body.0.rule.clone(),
        rule_text: body.0.rule_text.clone(),
    };
    let rule = input.parse(true, crate::segments::rules::ACCOUNT_SCOPES, &mut errors);
    let size = body.0.sample_size.unwrap_or(20);
    if size > 200 {
        errors.push("sample_size", "must be at most 200");
    }
    errors.into_result()?;
    let rule = rule.ok_or_else(|| ApiError::field("/rule", "is required"))?;
    let loader =
        facts::Loader::new(&state.db, state.clock.now(), facts::Needs::of([&rule])).await?;
    let compiled = crate::segments::rules::Compiled::new(&rule);
    let (mut total, mut matched) = (0u64, Vec::new());
    for (from, to) in facts::id_ranges(&state.db, super::SLICE).await? {
        let accounts = loader.load(&state.db, facts::Span::Range(from, to)).await?;
        total += accounts.len() as u64;
        matched.extend(
            accounts
                .into_iter()
                .filter(|a| compiled.matches(&a.facts))
                .map(|a| (a.name, a.external_id)),
        );
    }
    let count = matched.len() as u64;
    matched.sort();
    Ok(HttpResponse::Ok().json(PreviewView {
        count,
        total,
        rule: rule.to_json(),
        rule_text: rule.to_text(),
        sample: matched
            .into_iter()
            .take(size as usize)
            .map(|(name, external_id)| AccountRef { external_id, name })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecomputeView {
    pub segments: Vec<super::SegmentChange>,
}

/// Recompute the membership of every segment now (also queued after each analysis run).
/// 503 with `Retry-After` while a recomputation runs elsewhere.
#[utoipa::path(tag = "segments", responses((status = 200, body = RecomputeView), (status = 503, body = Problem)))]
#[post("/segments/recompute")]
async fn recompute(state: State) -> Result<HttpResponse, ApiError> {
    let ctx = state.into_inner();
    let segments = super::recompute_now(&ctx, crate::jobs::Trigger::Api, None).await?;
    Ok(HttpResponse::Ok().json(RecomputeView { segments }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentView {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// Built-in segments cannot be changed or deleted.
    pub builtin: bool,
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    pub rule_text: String,
    /// Members at the last computation.
    pub member_count: i32,
    pub computed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<segment::Model> for SegmentView {
    fn from(s: segment::Model) -> Self {
        let rule_text = Rule::from_json(&s.rule)
            .map(|r| r.to_text())
            .unwrap_or_default();
        Self {
            key: s.key,
            name: s.name,
            description: s.description,
            builtin: s.builtin,
            rule: s.rule,
            rule_text,
            member_count: s.member_count,
            computed_at: s.computed_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// List segments (built-in ones included); sort by `key`, `name`, `member_count`, `created_at`.
#[utoipa::path(tag = "segments", params(PageQuery),
    responses((status = 200, body = Paged<SegmentView>), (status = 422, body = Problem)))]
#[get("/segments")]
async fn list_segments(state: State, page: Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    super::ensure_builtins(&state.db, state.clock.now()).await?;
    let page = page.validate(
        &state,
        &["key", "name", "member_count", "created_at"],
        "key",
    )?;
    let col = match page.sort_field.as_str() {
        "name" => segment::Column::Name,
        "member_count" => segment::Column::MemberCount,
        "created_at" => segment::Column::CreatedAt,
        _ => segment::Column::Key,
    };
    let (items, total) = fetch_page(
        &state.db,
        segment::Entity::find(),
        &page,
        col,
        segment::Column::Id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: items.into_iter().map(SegmentView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
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

/// A URL key from a name: accents dropped (`Khách hàng lớn` → `khach-hang-lon`), other
/// characters folded to `-`.
fn slug(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::new();
    for c in name.trim().nfd() {
        let c = match c {
            'đ' | 'Đ' => 'd',
            c if unicode_normalization::char::is_combining_mark(c) => continue,
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_from_vietnamese_names_drop_the_accents() {
        assert_eq!(super::slug("Khách hàng lớn"), "khach-hang-lon");
        assert_eq!(super::slug("Đại lý  miền Bắc!"), "dai-ly-mien-bac");
        assert_eq!(super::slug("★★★"), "");
    }
}

async fn find(state: &State, key: &str) -> Result<segment::Model, ApiError> {
    super::ensure_builtins(&state.db, state.clock.now()).await?;
    segment::Entity::find()
        .filter(segment::Column::Key.eq(key))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no segment `{key}`")))
}

/// Create a segment; its membership is computed at once.
#[utoipa::path(tag = "segments", request_body = SegmentInput,
    responses((status = 201, body = SegmentView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/segments")]
async fn create_segment(
    state: State,
    body: JsonBody<SegmentInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let mut errors = FieldErrors::default();
    let name = match input.name.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push("name", "is required");
            None
        }
        Some(n) if n.chars().count() > 200 => {
            errors.push("name", "must be at most 200 characters");
            None
        }
        Some(n) => errors
            .check("name", crate::domain::one_line(n))
            .map(|()| n.to_string()),
    };
    if let Some(Some(d)) = &input.description {
        errors.check("description", crate::domain::multi_line(d));
    }
    let key = input
        .key
        .clone()
        .or_else(|| name.as_deref().map(slug))
        .unwrap_or_default();
    if input.key.is_none() && name.is_some() && key.is_empty() {
        errors.push(
            "key",
            "is required: the name has no letters or digits to derive it from",
        );
    } else if (name.is_some() || input.key.is_some())
        && let Err(m) = crate::domain::check_slug(&key)
    {
        errors.push("key", m);
    }
    let rule = RuleInput {
        rule: input.rule.clone(),
        rule_text: input.rule_text.clone(),
    }
    .parse(true, crate::segments::rules::ACCOUNT_SCOPES, &mut errors);
    errors.into_result()?;
    let (Some(name), Some(rule)) = (name, rule) else {
        return Err(ApiError::field("/rule", "is required"));
    };
    super::ensure_builtins(&state.db, state.clock.now()).await?;
    let now = state.clock.now();
    let created = segment::ActiveModel {
        key: Set(key.clone()),
        name: Set(name),
        description: Set(input.description.flatten()),
        rule: Set(rule.to_json()),
        builtin: Set(false),
        member_count: Set(0),
        computed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            code: "already_exists",
            detail: format!("a segment with key `{key}` exists"),
        },
        _ => e.into(),
    })?;
    super::recompute_or_queue(&state.clone().into_inner(), vec![created.id]).await?;
    let s = find(&state, &key).await?;
    Ok(HttpResponse::Created().json(SegmentView::from(s)))
}

/// Get a segment.
#[utoipa::path(tag = "segments", responses((status = 200, body = SegmentView), (status = 404, body = Problem)))]
#[get("/segments/{key}")]
async fn get_segment(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(SegmentView::from(find(&state, &key).await?)))
}

fn read_only(s: &segment::Model) -> Result<(), ApiError> {
    if s.builtin {
        return Err(ApiError::Conflict {
            code: "builtin_segment",
            detail: format!("`{}` is a built-in segment and cannot be changed", s.key),
        });
    }
    Ok(())
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
    let s = find(&state, &key).await?;
    read_only(&s)?;
    let input = body.0;
    let mut errors = FieldErrors::default();
    if input.key.as_deref().is_some_and(|k| k != s.key) {
        errors.push("key", "cannot be changed");
    }
    let name = input.name.as_deref().map(str::trim).map(String::from);
    if let Some(n) = name.as_deref() {
        if n.is_empty() || n.chars().count() > 200 {
            errors.push("name", "must be 1 to 200 characters");
        } else {
            errors.check("name", crate::domain::one_line(n));
        }
    }
    if let Some(Some(d)) = &input.description {
        errors.check("description", crate::domain::multi_line(d));
    }
    let rule = RuleInput {
        rule: input.rule.clone(),
        rule_text: input.rule_text.clone(),
    }
    .parse(false, crate::segments::rules::ACCOUNT_SCOPES, &mut errors);
    errors.into_result()?;
    let rule_changed = rule.is_some();
    let id = s.id;
    let mut m: segment::ActiveModel = s.into();
    if let Some(n) = name {
        m.name = Set(n);
    }
    if let Some(d) = input.description {
        m.description = Set(d);
    }
    if let Some(r) = rule {
        m.rule = Set(r.to_json());
    }
    m.updated_at = Set(state.clock.now());
    m.update(&state.db).await?;
    if rule_changed {
        super::recompute_or_queue(&state.clone().into_inner(), vec![id]).await?;
    }
    Ok(HttpResponse::Ok().json(SegmentView::from(find(&state, &key).await?)))
}

/// Delete a segment with its membership history and events.
#[utoipa::path(tag = "segments", responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/segments/{key}")]
async fn delete_segment(state: State, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let s = find(&state, &key).await?;
    read_only(&s)?;
    let txn = crate::db::begin_write(&state.db).await?;
    segment_event::Entity::delete_many()
        .filter(segment_event::Column::SegmentId.eq(s.id))
        .exec(&txn)
        .await?;
    segment_membership::Entity::delete_many()
        .filter(segment_membership::Column::SegmentId.eq(s.id))
        .exec(&txn)
        .await?;
    segment::Entity::delete_by_id(s.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersFilter {
    /// Include past stays (with `left_at`) as well as current members.
    pub history: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub external_id: String,
    pub name: String,
    pub entered_at: chrono::DateTime<chrono::Utc>,
    pub left_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn account_names(
    state: &State,
    ids: impl Iterator<Item = i64>,
) -> Result<std::collections::HashMap<i64, (String, String)>, ApiError> {
    Ok(account::Entity::find()
        .filter(account::Column::Id.is_in(ids.collect::<Vec<_>>()))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| (a.id, (a.external_id, a.name)))
        .collect())
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
    let s = find(&state, &key).await?;
    let page = page.validate(&state, &["entered_at"], "-entered_at")?;
    let mut q =
        segment_membership::Entity::find().filter(segment_membership::Column::SegmentId.eq(s.id));
    if !filter.history.unwrap_or(false) {
        q = q.filter(segment_membership::Column::LeftAt.is_null());
    }
    let (items, total) = fetch_page(
        &state.db,
        q,
        &page,
        segment_membership::Column::EnteredAt,
        segment_membership::Column::Id,
    )
    .await?;
    let names = account_names(&state, items.iter().map(|m| m.account_id)).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: items
            .into_iter()
            .map(|m| {
                let (external_id, name) = names.get(&m.account_id).cloned().unwrap_or_default();
                MemberView {
                    external_id,
                    name,
                    entered_at: m.entered_at,
                    left_at: m.left_at,
                }
            })
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsFilter {
    /// Only events with a larger id (to follow the stream).
    pub after_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentEventView {
    pub id: i64,
    pub external_id: String,
    /// `entered` or `left`.
    pub kind: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
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
    let s = find(&state, &key).await?;
    let page = page.validate(&state, &["id"], "id")?;
    let mut q = segment_event::Entity::find().filter(segment_event::Column::SegmentId.eq(s.id));
    if let Some(after) = filter.after_id {
        q = q.filter(segment_event::Column::Id.gt(after));
    }
    let (items, total) = fetch_page(
        &state.db,
        q.order_by_asc(segment_event::Column::Id),
        &page,
        segment_event::Column::Id,
        segment_event::Column::Id,
    )
    .await?;
    let names = account_names(&state, items.iter().map(|m| m.account_id)).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: items
            .into_iter()
            .map(|e| SegmentEventView {
                id: e.id,
                external_id: names
                    .get(&e.account_id)
                    .map(|n| n.0.clone())
                    .unwrap_or_default(),
                kind: e.kind,
                occurred_at: e.occurred_at,
            })
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}
