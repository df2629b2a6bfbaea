//! Competitors courting an account: list, read, add or change, delete.

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TryIntoModel,
};

use super::{like_pattern, search_text};
use crate::accounts::error::AccountsError;
use crate::accounts::model::{CompetitorDraft, CompetitorFilter, CompetitorView};
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::competitor;

/// Sort fields of the competitor list.
pub const COMPETITOR_SORTS: &[&str] = &["name", "strength", "id"];

/// Every competitor of an account, by name.
pub async fn list_competitors(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<competitor::Model>, AccountsError> {
    Ok(competitor::Entity::find()
        .filter(competitor::Column::AccountId.eq(account_id))
        .order_by_asc(competitor::Column::Name)
        .order_by_asc(competitor::Column::Id)
        .all(db)
        .await?)
}

/// One page of an account's competitors matching the filter.
pub async fn page_competitors(
    db: &DatabaseConnection,
    account_id: i64,
    page: &Page,
    f: &CompetitorFilter,
) -> Result<Paged<CompetitorView>, AccountsError> {
    use competitor::Column as C;
    let mut q = competitor::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(text) = search_text(f.q.as_deref()) {
        let pattern = like_pattern(text)?;
        q = q.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(C::Products))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "name" => C::Name,
        "strength" => C::Strength,
        _ => C::Id,
    };
    let (items, total) = fetch_page(db, q, page, col, C::Id).await?;
    Ok(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// One competitor of this account; `NotFound` for a competitor of another account.
pub async fn get_competitor(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<competitor::Model, AccountsError> {
    competitor::Entity::find_by_id(id)
        .filter(competitor::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            AccountsError::NotFound(format!("competitor {id} not found for this account"))
        })
}

/// Adds a competitor (`existing` is `None`) or applies the draft to `existing`.
pub async fn save_competitor(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    existing: Option<competitor::Model>,
    d: CompetitorDraft,
) -> Result<competitor::Model, AccountsError> {
    let now = clock.now();
    let mut m: competitor::ActiveModel = match existing {
        Some(c) => c.into(),
        None => competitor::ActiveModel {
            account_id: Set(account_id),
            products: Set(None),
            strength: Set(None),
            notes: Set(None),
            created_at: Set(now),
            ..Default::default()
        },
    };
    apply_fields!(m, d; name, products, strength, notes);
    m.updated_at = Set(now);
    Ok(m.save(db).await?.try_into_model()?)
}

/// Deletes one competitor of this account; `NotFound` when it has no such competitor.
pub async fn delete_competitor(
    db: &DatabaseConnection,
    account_id: i64,
    id: i64,
) -> Result<(), AccountsError> {
    let res = competitor::Entity::delete_many()
        .filter(competitor::Column::Id.eq(id))
        .filter(competitor::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(AccountsError::NotFound(format!(
            "competitor {id} not found for this account"
        )));
    }
    Ok(())
}
