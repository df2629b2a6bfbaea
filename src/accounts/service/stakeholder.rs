//! The decision map of an account: list, read, add, change, delete stakeholders.

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use super::{like_pattern, search_text};
use crate::accounts::error::AccountsError;
use crate::accounts::model::{StakeholderDraft, StakeholderFilter, StakeholderView};
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::stakeholder;

/// Sort fields of the decision map.
pub const STAKEHOLDER_SORTS: &[&str] = &["influence", "name", "id"];

/// Every stakeholder of an account, most influential first.
pub async fn list_stakeholders(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<stakeholder::Model>, AccountsError> {
    Ok(stakeholder::Entity::find()
        .filter(stakeholder::Column::AccountId.eq(account_id))
        .order_by_desc(stakeholder::Column::Influence)
        .order_by_asc(stakeholder::Column::Id)
        .all(db)
        .await?)
}

/// One page of an account's stakeholders matching the filters.
pub async fn page_stakeholders(
    db: &DatabaseConnection,
    account_id: i64,
    page: &Page,
    f: &StakeholderFilter,
) -> Result<Paged<StakeholderView>, AccountsError> {
    use stakeholder::Column as C;
    let mut q = stakeholder::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(r) = &f.role {
        q = q.filter(C::Role.eq(r.trim().to_ascii_lowercase()));
    }
    if let Some(c) = &f.consent {
        q = q.filter(C::Consent.eq(c.trim().to_ascii_lowercase()));
    }
    if let Some(text) = search_text(f.q.as_deref()) {
        let pattern = like_pattern(text)?;
        q = q.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(C::Title))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(C::Email))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "influence" => C::Influence,
        "name" => C::Name,
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

/// One stakeholder of this account; `NotFound` for a stakeholder of another account.
pub async fn get_stakeholder(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<stakeholder::Model, AccountsError> {
    stakeholder::Entity::find_by_id(id)
        .filter(stakeholder::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            AccountsError::NotFound(format!("stakeholder {id} not found for this account"))
        })
}

/// Applies a stakeholder draft onto an active model (API and import).
pub fn apply_stakeholder(m: &mut stakeholder::ActiveModel, d: StakeholderDraft) {
    if let Some(role) = d.role {
        m.role = Set(role.as_str().to_string());
    }
    if let Some(consent) = d.consent {
        m.consent = Set(consent.as_str().to_string());
    }
    apply_fields!(m, d; name, title, email, phone, influence, language);
}

/// Adds a stakeholder; `Conflict` (`already_exists`) when the external id is taken.
pub async fn create_stakeholder(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    d: StakeholderDraft,
) -> Result<stakeholder::Model, AccountsError> {
    let external_id = d.external_id.clone().unwrap_or_default();
    if stakeholder::Entity::find()
        .filter(stakeholder::Column::ExternalId.eq(external_id.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AccountsError::already_exists(format!(
            "a stakeholder with external_id `{external_id}` already exists"
        )));
    }
    let now = clock.now();
    let mut m = stakeholder::ActiveModel {
        external_id: Set(external_id),
        account_id: Set(account_id),
        title: Set(None),
        email: Set(None),
        phone: Set(None),
        language: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply_stakeholder(&mut m, d);
    Ok(m.insert(db).await?)
}

/// Applies the fields the draft carries (the external id never changes).
pub async fn update_stakeholder(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    current: stakeholder::Model,
    d: StakeholderDraft,
) -> Result<stakeholder::Model, AccountsError> {
    let mut m: stakeholder::ActiveModel = current.into();
    apply_stakeholder(&mut m, d);
    m.updated_at = Set(clock.now());
    Ok(m.update(db).await?)
}

/// Deletes one stakeholder of this account; `NotFound` when it has no such stakeholder.
pub async fn delete_stakeholder(
    db: &DatabaseConnection,
    account_id: i64,
    id: i64,
) -> Result<(), AccountsError> {
    let res = stakeholder::Entity::delete_many()
        .filter(stakeholder::Column::Id.eq(id))
        .filter(stakeholder::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(AccountsError::NotFound(format!(
            "stakeholder {id} not found for this account"
        )));
    }
    Ok(())
}
