//! An account's timeline: every touch and response (its events) merged with the relationship
//! history of its dossier, newest first.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::Names;
use crate::context::AppContext;
use crate::db::page::{Page, Paged};
use crate::delivery::DeliveryError;
use crate::entities::{account, event, relationship_event};

/// How deep a timeline can be paged (offset + limit).
pub const MAX_DEPTH: u64 = 10_000;
/// The timeline's one sort, for the OpenAPI document.
pub const TIMELINE_SORTS: &[&str] = &["at"];
pub const TIMELINE_DEFAULT_SORT: &str = "-at";

/// One entry of an account's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineItem {
    /// When it happened (a relationship entry: its date, at midnight UTC).
    pub at: DateTime<Utc>,
    /// `event` (`GET /api/v1/events`) or `relationship` (the dossier's history).
    pub source: String,
    /// The event kind (`delivered`, `clicked`, `replied`, …) or the relationship kind
    /// (`meeting`, `tender`, `complaint`, …).
    pub kind: String,
    /// The id within its source.
    pub id: i64,
    /// The stakeholder's external id.
    pub stakeholder_id: Option<String>,
    /// The campaign's key.
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// The message's `Message-ID`.
    pub message_id: Option<String>,
    pub machine: bool,
    /// One line for people.
    pub summary: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

fn summary_of(kind: &str, data: &serde_json::Value) -> String {
    let s = |k: &str| data.get(k).and_then(|v| v.as_str()).map(String::from);
    let detail = s("url")
        .or_else(|| s("note"))
        .or_else(|| s("reason"))
        .or_else(|| s("error"))
        .or_else(|| s("title"));
    match detail {
        Some(d) => format!("{kind}: {}", crate::domain::shorten(&d, 200)),
        None => kind.to_string(),
    }
}

/// One page of the timeline of account `external_id`, newest first.
pub async fn timeline(
    ctx: &AppContext,
    external_id: &str,
    page: &Page,
) -> Result<Paged<TimelineItem>, DeliveryError> {
    let depth = page.offset.saturating_add(page.limit);
    if depth > MAX_DEPTH {
        return Err(DeliveryError::field(
            "offset",
            format!("offset + limit must be at most {MAX_DEPTH} for a timeline"),
        ));
    }
    let a = account::Entity::find()
        .filter(account::Column::ExternalId.eq(external_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| {
            DeliveryError::NoMatch(format!(
                "no account `{}`",
                crate::domain::shorten(external_id, 100)
            ))
        })?;
    let events_q = event::Entity::find().filter(event::Column::AccountId.eq(a.id));
    let history_q =
        relationship_event::Entity::find().filter(relationship_event::Column::AccountId.eq(a.id));
    let total = events_q.clone().count(&ctx.db).await? + history_q.clone().count(&ctx.db).await?;
    let events = events_q
        .order_by_desc(event::Column::OccurredAt)
        .order_by_desc(event::Column::Id)
        .limit(depth)
        .all(&ctx.db)
        .await?;
    let history = history_q
        .order_by_desc(relationship_event::Column::OccurredOn)
        .order_by_desc(relationship_event::Column::Id)
        .limit(depth)
        .all(&ctx.db)
        .await?;
    let names = Names::of(ctx, &events).await?;
    let mut items: Vec<TimelineItem> = events
        .into_iter()
        .filter_map(|e| {
            let v = names.view(e)?;
            Some(TimelineItem {
                at: v.occurred_at,
                source: "event".into(),
                kind: v.kind.as_str().into(),
                id: v.id,
                stakeholder_id: v.stakeholder_id,
                campaign: v.campaign,
                step: v.step,
                message_id: v.message_id,
                machine: v.machine,
                summary: summary_of(v.kind.as_str(), &v.data),
                data: v.data,
            })
        })
        .collect();
    items.extend(history.into_iter().map(|h| {
        let data = serde_json::json!({
            "outcome": h.outcome, "reason": h.reason, "notes": h.notes,
            "value_minor": h.value_minor,
        });
        let mut summary = h.kind.clone();
        if let Some(o) = &h.outcome {
            summary.push_str(&format!(" ({o})"));
        }
        if let Some(n) = h.notes.as_deref().or(h.reason.as_deref()) {
            summary.push_str(&format!(": {}", crate::domain::shorten(n, 200)));
        }
        TimelineItem {
            at: h
                .occurred_on
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
            source: "relationship".into(),
            kind: h.kind,
            id: h.id,
            stakeholder_id: None,
            campaign: None,
            step: None,
            message_id: None,
            machine: false,
            summary,
            data,
        }
    }));
    // Newest first; an event before a relationship entry of the same instant.
    items.sort_by(|x, y| {
        y.at.cmp(&x.at)
            .then_with(|| x.source.cmp(&y.source))
            .then_with(|| y.id.cmp(&x.id))
    });
    let items = items
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .collect();
    Ok(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}
