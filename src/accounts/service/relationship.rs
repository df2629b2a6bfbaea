//! The relationship history of an account: list, read, add or change, delete.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TryIntoModel,
};

use crate::accounts::error::AccountsError;
use crate::accounts::model::{EventFilter, RelationshipEventDraft, RelationshipEventView};
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{account, relationship_event};

/// Sort fields of the relationship history.
pub const EVENT_SORTS: &[&str] = &["occurred_on", "kind", "id"];

/// The whole history of an account, newest first.
pub async fn list_events(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<relationship_event::Model>, AccountsError> {
    Ok(relationship_event::Entity::find()
        .filter(relationship_event::Column::AccountId.eq(account_id))
        .order_by_desc(relationship_event::Column::OccurredOn)
        .order_by_desc(relationship_event::Column::Id)
        .all(db)
        .await?)
}

/// One page of an account's history matching the filters; values in the account's currency.
pub async fn page_events(
    db: &DatabaseConnection,
    account: &account::Model,
    page: &Page,
    f: &EventFilter,
) -> Result<Paged<RelationshipEventView>, AccountsError> {
    use relationship_event::Column as C;
    let mut q = relationship_event::Entity::find().filter(C::AccountId.eq(account.id));
    if let Some(k) = &f.kind {
        q = q.filter(C::Kind.eq(k.trim().to_ascii_lowercase()));
    }
    if let Some(o) = &f.outcome {
        q = q.filter(C::Outcome.eq(o.trim().to_ascii_lowercase()));
    }
    let col = match page.sort_field.as_str() {
        "occurred_on" => C::OccurredOn,
        "kind" => C::Kind,
        _ => C::Id,
    };
    let (items, total) = fetch_page(db, q, page, col, C::Id).await?;
    Ok(Paged {
        items: items
            .into_iter()
            .map(|e| RelationshipEventView::new(e, &account.currency))
            .collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One entry of this account's history; `NotFound` for an entry of another account.
pub async fn get_event(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<relationship_event::Model, AccountsError> {
    relationship_event::Entity::find_by_id(id)
        .filter(relationship_event::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            AccountsError::NotFound(format!(
                "relationship event {id} not found for this account"
            ))
        })
}

/// Adds an entry (`existing` is `None`) or applies the draft to `existing`.
pub async fn save_event(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    existing: Option<relationship_event::Model>,
    d: RelationshipEventDraft,
) -> Result<relationship_event::Model, AccountsError> {
    let now = clock.now();
    let mut m: relationship_event::ActiveModel = match existing {
        Some(e) => e.into(),
        None => relationship_event::ActiveModel {
            account_id: Set(account_id),
            created_at: Set(now),
            value_minor: Set(None),
            outcome: Set(None),
            reason: Set(None),
            notes: Set(None),
            ..Default::default()
        },
    };
    if let Some(kind) = d.kind {
        m.kind = Set(kind.as_str().to_string());
    }
    if let Some(outcome) = d.outcome {
        m.outcome = Set(outcome.map(|o| o.as_str().to_string()));
    }
    apply_fields!(m, d; occurred_on, value_minor, reason, notes);
    m.updated_at = Set(now);
    Ok(m.save(db).await?.try_into_model()?)
}

/// Deletes one entry of this account's history; `NotFound` when it has no such entry.
pub async fn delete_event(
    db: &DatabaseConnection,
    account_id: i64,
    id: i64,
) -> Result<(), AccountsError> {
    let res = relationship_event::Entity::delete_many()
        .filter(relationship_event::Column::Id.eq(id))
        .filter(relationship_event::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(AccountsError::NotFound(format!(
            "relationship event {id} not found for this account"
        )));
    }
    Ok(())
}
