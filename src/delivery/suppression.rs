//! The suppression list: addresses nothing is sent to (unsubscribed, bounced, complained, or
//! added by hand). Send decisions consult it; delivery checks it again at send time.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::DeliveryError;
use crate::campaigns::model::SuppressionReason;
use crate::context::AppContext;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::suppression;

/// Sort fields of the list.
pub const SUPPRESSION_SORTS: &[&str] = &["address", "created_at", "reason"];
pub const SUPPRESSION_DEFAULT_SORT: &str = "-created_at";

/// One suppressed address.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuppressionView {
    pub address: String,
    pub reason: SuppressionReason,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<suppression::Model> for SuppressionView {
    fn from(m: suppression::Model) -> Self {
        Self {
            address: m.address,
            reason: SuppressionReason::parse(&m.reason).unwrap_or(SuppressionReason::Manual),
            note: m.note,
            created_at: m.created_at,
        }
    }
}

/// The canonical form of an address (trimmed, lowercased), or why it is not one.
pub fn normalize(address: &str) -> Result<String, String> {
    let a = address.trim().to_lowercase();
    if a.len() > 320 {
        return Err("must be at most 320 characters".into());
    }
    email_address::EmailAddress::parse_with_options(&a, email_address::Options::default())
        .map_err(|_| "must be an email address".to_string())?;
    Ok(a)
}

/// Suppressed addresses.
pub async fn list(ctx: &AppContext, page: &Page) -> Result<Paged<SuppressionView>, DeliveryError> {
    let col = match page.sort_field.as_str() {
        "address" => suppression::Column::Address,
        "reason" => suppression::Column::Reason,
        _ => suppression::Column::CreatedAt,
    };
    let (rows, total) = fetch_page(
        &ctx.db,
        suppression::Entity::find(),
        page,
        col,
        suppression::Column::Id,
    )
    .await?;
    Ok(Paged {
        items: rows.into_iter().map(SuppressionView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Adds an address (kept as it was when already suppressed: the first reason stands).
/// Returns the entry and whether it is new.
pub async fn add(
    ctx: &AppContext,
    address: &str,
    reason: SuppressionReason,
    note: Option<String>,
) -> Result<(SuppressionView, bool), DeliveryError> {
    let address = normalize(address).map_err(|m| DeliveryError::field("/address", m))?;
    if let Some(n) = &note
        && n.chars().count() > 1000
    {
        return Err(DeliveryError::field("/note", "at most 1000 characters"));
    }
    if let Some(n) = &note
        && n.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(DeliveryError::field(
            "/note",
            "must not hold control characters",
        ));
    }
    let inserted = suppression::Entity::insert(suppression::ActiveModel {
        address: Set(address.clone()),
        reason: Set(reason.as_str().into()),
        note: Set(note),
        created_at: Set(ctx.clock.now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(suppression::Column::Address)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&ctx.db)
    .await?;
    let row = suppression::Entity::find()
        .filter(suppression::Column::Address.eq(address.as_str()))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| DeliveryError::NotSuppressed(address.clone()))?;
    Ok((SuppressionView::from(row), inserted > 0))
}

/// Removes an address from the list.
pub async fn remove(ctx: &AppContext, address: &str) -> Result<(), DeliveryError> {
    let a = address.trim().to_lowercase();
    let gone = suppression::Entity::delete_many()
        .filter(suppression::Column::Address.eq(a.as_str()))
        .exec(&ctx.db)
        .await?;
    if gone.rows_affected == 0 {
        return Err(DeliveryError::NotSuppressed(a));
    }
    Ok(())
}

/// Whether an address is suppressed.
pub async fn is_suppressed(ctx: &AppContext, address: &str) -> Result<bool, DeliveryError> {
    let a = address.trim().to_lowercase();
    Ok(suppression::Entity::find()
        .filter(suppression::Column::Address.eq(a))
        .one(&ctx.db)
        .await?
        .is_some())
}
