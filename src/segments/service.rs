//! Segments services: the saved segments with their members and events, previews of unsaved
//! rules, and the rule language itself. Routes and the CLI call these; everything here takes
//! an [`AppContext`] and returns [`SegmentsError`], and statuses and problem codes belong to
//! `segments::routes`.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use utoipa::ToSchema;

use super::builtins::ensure_builtins;
use super::draft::{RuleDraft, SegmentDraft};
use super::error::SegmentsError;
use super::facts;
use super::membership::{SLICE, SegmentChange, recompute_now, recompute_or_queue};
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{account, segment, segment_event, segment_membership};
use crate::jobs::Trigger;
use crate::segments::rules::fields::{FIELDS, FieldType};
use crate::segments::rules::{ALL_SCOPES, Compiled, Rule};

// ------------------------------------------------------------------------ the rule language

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
pub fn fields() -> Vec<FieldView> {
    FIELDS
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
        .collect()
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

/// Checks a rule that may use every field (segments refuse stakeholder and offer fields, but
/// template conditions may use them) and gives it back in both forms.
pub fn check_rule(draft: &RuleDraft) -> Result<RuleView, SegmentsError> {
    let rule = draft.check(ALL_SCOPES).map_err(SegmentsError::Invalid)?;
    Ok(RuleView::from(&rule))
}

// ------------------------------------------------------------------------ previews

/// An account as a preview lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRef {
    pub external_id: String,
    pub name: String,
}

/// What a rule selects now: how many accounts and the first of them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SegmentPreview)]
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

/// Counts and samples (`sample_size` accounts, by name) the accounts an unsaved rule selects
/// now. Saves nothing.
pub async fn preview(
    ctx: &AppContext,
    draft: &RuleDraft,
    sample_size: Option<u32>,
) -> Result<PreviewView, SegmentsError> {
    let (rule, size) = draft
        .check_preview(sample_size)
        .map_err(SegmentsError::Invalid)?;
    let loader = facts::Loader::new(&ctx.db, ctx.clock.now(), facts::Needs::of([&rule])).await?;
    let compiled = Compiled::new(&rule);
    let (mut total, mut matched) = (0u64, Vec::new());
    for (from, to) in facts::id_ranges(&ctx.db, SLICE).await? {
        let accounts = loader.load(&ctx.db, facts::Span::Range(from, to)).await?;
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
    Ok(PreviewView {
        count,
        total,
        rule: rule.to_json(),
        rule_text: rule.to_text(),
        sample: matched
            .into_iter()
            .take(size)
            .map(|(name, external_id)| AccountRef { external_id, name })
            .collect(),
    })
}

/// Recomputes the membership of every segment now, under the `segments_recompute` job;
/// [`SegmentsError::Job`] with `Busy` while a recomputation runs elsewhere.
pub async fn recompute(
    ctx: &Arc<AppContext>,
    trigger: Trigger,
) -> Result<Vec<SegmentChange>, SegmentsError> {
    Ok(recompute_now(ctx, trigger, None).await?)
}

// ------------------------------------------------------------------------ segments

/// A segment as the API shows it.
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

/// The fields segment lists sort by.
pub const SEGMENT_SORTS: &[&str] = &["key", "name", "member_count", "created_at"];
/// The order of segment lists when the request gives none.
pub const SEGMENT_DEFAULT_SORT: &str = "key";

/// One page of segments (built-in ones included), sorted by one of [`SEGMENT_SORTS`].
pub async fn list(ctx: &AppContext, page: &Page) -> Result<Paged<SegmentView>, SegmentsError> {
    ensure_builtins(&ctx.db, ctx.clock.now()).await?;
    let col = match page.sort_field.as_str() {
        "name" => segment::Column::Name,
        "member_count" => segment::Column::MemberCount,
        "created_at" => segment::Column::CreatedAt,
        _ => segment::Column::Key,
    };
    let (items, total) = fetch_page(
        &ctx.db,
        segment::Entity::find(),
        page,
        col,
        segment::Column::Id,
    )
    .await?;
    Ok(Paged {
        items: items.into_iter().map(SegmentView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// The segment `key` (the built-in segments are created first if missing).
pub async fn find(ctx: &AppContext, key: &str) -> Result<segment::Model, SegmentsError> {
    ensure_builtins(&ctx.db, ctx.clock.now()).await?;
    segment::Entity::find()
        .filter(segment::Column::Key.eq(key))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| SegmentsError::NotFound(key.to_string()))
}

/// The segment `key` as the API shows it.
pub async fn get(ctx: &AppContext, key: &str) -> Result<SegmentView, SegmentsError> {
    Ok(SegmentView::from(find(ctx, key).await?))
}

/// Refuses changes to a built-in segment.
fn writable(s: &segment::Model) -> Result<(), SegmentsError> {
    if s.builtin {
        return Err(SegmentsError::Builtin(s.key.clone()));
    }
    Ok(())
}

/// Creates a segment and computes its membership at once (or queues a full recomputation
/// when one is running elsewhere, which will see it).
pub async fn create(
    ctx: &Arc<AppContext>,
    draft: SegmentDraft,
) -> Result<SegmentView, SegmentsError> {
    let new = draft.for_create().map_err(SegmentsError::Invalid)?;
    let now = ctx.clock.now();
    ensure_builtins(&ctx.db, now).await?;
    let created = segment::ActiveModel {
        key: Set(new.key.clone()),
        name: Set(new.name),
        description: Set(new.description),
        rule: Set(new.rule.to_json()),
        builtin: Set(false),
        member_count: Set(0),
        computed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            SegmentsError::AlreadyExists(new.key.clone())
        }
        _ => e.into(),
    })?;
    recompute_or_queue(ctx, vec![created.id]).await?;
    get(ctx, &new.key).await
}

/// Changes a segment's name, description or rule; a new rule recomputes its membership.
/// Built-in segments are refused before the input is checked.
pub async fn update(
    ctx: &Arc<AppContext>,
    key: &str,
    draft: SegmentDraft,
) -> Result<SegmentView, SegmentsError> {
    let s = find(ctx, key).await?;
    writable(&s)?;
    let patch = draft.for_update(&s.key).map_err(SegmentsError::Invalid)?;
    let id = s.id;
    let rule_changed = patch.rule.is_some();
    let mut m: segment::ActiveModel = s.into();
    if let Some(n) = patch.name {
        m.name = Set(n);
    }
    if let Some(d) = patch.description {
        m.description = Set(d);
    }
    if let Some(r) = patch.rule {
        m.rule = Set(r.to_json());
    }
    m.updated_at = Set(ctx.clock.now());
    m.update(&ctx.db).await?;
    if rule_changed {
        recompute_or_queue(ctx, vec![id]).await?;
    }
    get(ctx, key).await
}

/// Deletes a segment with its membership history and events, in one transaction.
pub async fn delete(ctx: &AppContext, key: &str) -> Result<(), SegmentsError> {
    let s = find(ctx, key).await?;
    writable(&s)?;
    let txn = crate::db::begin_write(&ctx.db).await?;
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
    Ok(())
}

// ------------------------------------------------------------------------ members and events

/// One stay of an account in a segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub external_id: String,
    pub name: String,
    pub entered_at: chrono::DateTime<chrono::Utc>,
    pub left_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The fields member lists sort by.
pub const MEMBER_SORTS: &[&str] = &["entered_at"];
/// Newest stays first.
pub const MEMBER_DEFAULT_SORT: &str = "-entered_at";

/// External id and name of the accounts `ids`.
async fn account_names(
    ctx: &AppContext,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, (String, String)>, SegmentsError> {
    Ok(account::Entity::find()
        .filter(account::Column::Id.is_in(ids.collect::<Vec<_>>()))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|a| (a.id, (a.external_id, a.name)))
        .collect())
}

/// One page of the members of `segment` (from [`find`]): current ones, or every stay with
/// `history`.
pub async fn members(
    ctx: &AppContext,
    segment: &segment::Model,
    page: &Page,
    history: bool,
) -> Result<Paged<MemberView>, SegmentsError> {
    let mut q = segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(segment.id));
    if !history {
        q = q.filter(segment_membership::Column::LeftAt.is_null());
    }
    let (items, total) = fetch_page(
        &ctx.db,
        q,
        page,
        segment_membership::Column::EnteredAt,
        segment_membership::Column::Id,
    )
    .await?;
    let names = account_names(ctx, items.iter().map(|m| m.account_id)).await?;
    Ok(Paged {
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
    })
}

/// An account entering or leaving a segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentEventView {
    pub id: i64,
    pub external_id: String,
    /// `entered` or `left`.
    pub kind: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

/// The fields event lists sort by.
pub const EVENT_SORTS: &[&str] = &["id"];
/// Oldest events first, to follow the stream.
pub const EVENT_DEFAULT_SORT: &str = "id";

/// One page of the entered/left events of `segment` (from [`find`]), oldest first; only those
/// after `after_id` when given.
pub async fn events(
    ctx: &AppContext,
    segment: &segment::Model,
    page: &Page,
    after_id: Option<i64>,
) -> Result<Paged<SegmentEventView>, SegmentsError> {
    let mut q =
        segment_event::Entity::find().filter(segment_event::Column::SegmentId.eq(segment.id));
    if let Some(after) = after_id {
        q = q.filter(segment_event::Column::Id.gt(after));
    }
    let (items, total) = fetch_page(
        &ctx.db,
        q.order_by_asc(segment_event::Column::Id),
        page,
        segment_event::Column::Id,
        segment_event::Column::Id,
    )
    .await?;
    let names = account_names(ctx, items.iter().map(|m| m.account_id)).await?;
    Ok(Paged {
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
    })
}
