//! Key account managers: create, read, change, delete, list.

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

use super::{like_pattern, search_text};
use crate::accounts::error::AccountsError;
use crate::accounts::model::{ManagerDraft, ManagerFilter, ManagerView};
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::manager;

/// Sort fields of the manager list.
pub const MANAGER_SORTS: &[&str] = &["id", "name", "email", "created_at"];

/// The `Conflict` for an e-mail address another manager already has.
fn email_taken(email: &str) -> AccountsError {
    AccountsError::already_exists(format!("a manager with email `{email}` already exists"))
}

async fn email_in_use(db: &impl ConnectionTrait, email: &str) -> Result<bool, AccountsError> {
    Ok(manager::Entity::find()
        .filter(manager::Column::Email.eq(email))
        .one(db)
        .await?
        .is_some())
}

/// Creates a manager; `Conflict` (`already_exists`) when the e-mail address is taken.
pub async fn create_manager(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    d: ManagerDraft,
) -> Result<manager::Model, AccountsError> {
    let email = d.email.unwrap_or_default();
    if email_in_use(db, &email).await? {
        return Err(email_taken(&email));
    }
    let now = clock.now();
    Ok(manager::ActiveModel {
        email: Set(email),
        name: Set(d.name.unwrap_or_default()),
        phone: Set(d.phone.flatten()),
        webhook_url: Set(d.webhook_url.flatten()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// A manager by id; `NotFound` when there is none.
pub async fn get_manager(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<manager::Model, AccountsError> {
    manager::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AccountsError::NotFound(format!("manager {id} not found")))
}

/// Applies the fields the draft carries; `Conflict` when the new e-mail address is taken.
pub async fn update_manager(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    id: i64,
    d: ManagerDraft,
) -> Result<manager::Model, AccountsError> {
    let current = get_manager(db, id).await?;
    if let Some(email) = &d.email
        && *email != current.email
        && email_in_use(db, email).await?
    {
        return Err(email_taken(email));
    }
    let mut m: manager::ActiveModel = current.into();
    apply_fields!(m, d; email, name, phone, webhook_url);
    m.updated_at = Set(clock.now());
    Ok(m.update(db).await?)
}

/// Deletes a manager; their accounts keep existing without one (the foreign key sets NULL).
pub async fn delete_manager(db: &DatabaseConnection, id: i64) -> Result<(), AccountsError> {
    let res = manager::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(AccountsError::NotFound(format!("manager {id} not found")));
    }
    Ok(())
}

/// One page of managers, optionally searched by name and e-mail; sorted by one of
/// [`MANAGER_SORTS`].
pub async fn list_managers(
    db: &DatabaseConnection,
    page: &Page,
    f: &ManagerFilter,
) -> Result<Paged<ManagerView>, AccountsError> {
    use manager::Column as C;
    let mut query = manager::Entity::find();
    if let Some(q) = search_text(f.q.as_deref()) {
        let pattern = like_pattern(q)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(C::Email))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "name" => C::Name,
        "email" => C::Email,
        "created_at" => C::CreatedAt,
        _ => C::Id,
    };
    let (items, total) = fetch_page(db, query, page, col, C::Id).await?;
    Ok(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}
