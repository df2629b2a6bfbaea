//! Key accounts: create, read (with the latest analysis), change, delete with everything that
//! hangs off them, list.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{like_pattern, search_text};
use crate::accounts::error::AccountsError;
use crate::accounts::model::{AccountDraft, AccountFilter, AccountView, AnalyticsSummary};
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{
    account, account_snapshot, manager, order, relationship_event, segment, segment_membership,
};

/// Sort fields of the account list.
pub const ACCOUNT_SORTS: &[&str] = &["name", "external_id", "created_at", "updated_at", "id"];

/// Finds an account by its external id.
pub async fn find_account(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> Result<account::Model, AccountsError> {
    account::Entity::find()
        .filter(account::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .ok_or_else(|| AccountsError::NotFound(format!("account `{external_id}` not found")))
}

/// An account with the classes of its latest analysis (the snapshot of the highest run).
pub async fn account_view(
    db: &DatabaseConnection,
    external_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AccountView, AccountsError> {
    let a = find_account(db, external_id).await?;
    let latest = account_snapshot::Entity::find()
        .filter(account_snapshot::Column::AccountId.eq(a.id))
        .order_by_desc(account_snapshot::Column::RunId)
        .one(db)
        .await?;
    let engagement = crate::tracking::engagement::of_account(
        db,
        &crate::tracking::engagement::current(),
        a.id,
        now,
    )
    .await?;
    let mut view = AccountView::from(a);
    view.analytics = latest.as_ref().map(AnalyticsSummary::from);
    view.engagement = Some(engagement);
    Ok(view)
}

/// `Invalid` on `/manager_id` when the draft names a manager that does not exist.
async fn check_manager(
    db: &impl ConnectionTrait,
    manager_id: Option<Option<i64>>,
) -> Result<(), AccountsError> {
    if let Some(Some(id)) = manager_id
        && manager::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(AccountsError::field(
            "/manager_id",
            format!("manager {id} does not exist"),
        ));
    }
    Ok(())
}

/// Creates an account; `Conflict` (`already_exists`) when the external id is taken, `Invalid`
/// when the manager does not exist.
pub async fn create_account(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    d: AccountDraft,
) -> Result<account::Model, AccountsError> {
    let external_id = d.external_id.clone().unwrap_or_default();
    if account::Entity::find()
        .filter(account::Column::ExternalId.eq(external_id.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AccountsError::already_exists(format!(
            "an account with external_id `{external_id}` already exists"
        )));
    }
    check_manager(db, d.manager_id).await?;
    let now = clock.now();
    Ok(account::ActiveModel {
        external_id: Set(external_id),
        name: Set(d.name.unwrap_or_default()),
        industry: Set(d.industry.flatten()),
        region: Set(d.region.flatten()),
        country: Set(d.country.flatten()),
        timezone: Set(d.timezone.unwrap_or_else(|| "UTC".into())),
        currency: Set(d.currency.unwrap_or_else(|| "USD".into())),
        manager_id: Set(d.manager_id.flatten()),
        image_maker: Set(d.image_maker.unwrap_or(false)),
        expert: Set(d.expert.unwrap_or(false)),
        budget_minor: Set(d.budget_minor.flatten()),
        attributes: Set(d.attributes.unwrap_or_else(|| serde_json::json!({}))),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Creates an account known only by its external id (also its name), for orders imported
/// before their account (`abm import orders --create-accounts`). Returns its id.
pub async fn create_bare_account(
    db: &impl ConnectionTrait,
    external_id: &str,
    currency: &str,
    timezone: &str,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let created = account::ActiveModel {
        external_id: Set(external_id.to_string()),
        name: Set(external_id.to_string()),
        timezone: Set(timezone.to_string()),
        currency: Set(currency.to_string()),
        image_maker: Set(false),
        expert: Set(false),
        attributes: Set(serde_json::json!({})),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(created.id)
}

/// Applies a draft to an existing account model (used by PATCH and by imports).
pub fn apply_account(m: &mut account::ActiveModel, d: AccountDraft) {
    apply_fields!(m, d; name, industry, region, country, timezone, currency, manager_id, image_maker, expert, budget_minor, attributes);
}

/// Applies the fields the draft carries; `Invalid` when the manager does not exist or the
/// currency may not change (see [`currency_change_problem`]).
pub async fn update_account(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    current: account::Model,
    d: AccountDraft,
) -> Result<account::Model, AccountsError> {
    check_manager(db, d.manager_id).await?;
    if let Some(problem) = currency_change_problem(db, &current, &d).await? {
        return Err(AccountsError::field("/currency", problem));
    }
    let mut m: account::ActiveModel = current.into();
    apply_account(&mut m, d);
    m.updated_at = Set(clock.now());
    Ok(m.update(db).await?)
}

/// Amounts of an account (budget, relationship-event values) are stored in its currency, so
/// changing the currency would silently rescale them. Returns why a change is refused:
/// a stored budget must be re-sent in the same change, and valued history entries forbid it.
pub async fn currency_change_problem(
    db: &impl ConnectionTrait,
    current: &account::Model,
    d: &AccountDraft,
) -> Result<Option<String>, DbErr> {
    let Some(new) = &d.currency else {
        return Ok(None);
    };
    if *new == current.currency {
        return Ok(None);
    }
    if current.budget_minor.is_some() && d.budget_minor.is_none() {
        return Ok(Some(format!(
            "the budget is stored in {}; send `budget` in {new} together with the new currency",
            current.currency
        )));
    }
    let valued = relationship_event::Entity::find()
        .filter(relationship_event::Column::AccountId.eq(current.id))
        .filter(relationship_event::Column::ValueMinor.is_not_null())
        .count(db)
        .await?;
    if valued > 0 {
        return Ok(Some(format!(
            "{valued} relationship event(s) carry values in {}; the currency cannot change",
            current.currency
        )));
    }
    Ok(None)
}

/// Deletes an account with its dossier (foreign-key cascade) and its orders. The account row
/// goes first: on PostgreSQL that waits for any import holding the account, so the orders
/// deleted next include everything that import committed.
pub async fn delete_account(
    db: &DatabaseConnection,
    external_id: &str,
) -> Result<(), AccountsError> {
    let txn = crate::db::begin_write(db).await?;
    let current = find_account(&txn, external_id).await?;
    // Its segment stays and events go with it (erasure); the segments' counts follow now
    // rather than at the next recomputation.
    let open: Vec<i64> = segment_membership::Entity::find()
        .filter(segment_membership::Column::AccountId.eq(current.id))
        .filter(segment_membership::Column::LeftAt.is_null())
        .select_only()
        .column(segment_membership::Column::SegmentId)
        .into_tuple()
        .all(&txn)
        .await?;
    account::Entity::delete_by_id(current.id).exec(&txn).await?;
    for segment_id in open {
        let members = crate::segments::open_count(&txn, segment_id).await?;
        segment::Entity::update_many()
            .col_expr(
                segment::Column::MemberCount,
                Expr::value(i32::try_from(members).unwrap_or(i32::MAX)),
            )
            .filter(segment::Column::Id.eq(segment_id))
            .exec(&txn)
            .await?;
    }
    order::Entity::delete_many()
        .filter(order::Column::AccountId.eq(current.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// One page of accounts matching the filters; sorted by one of [`ACCOUNT_SORTS`].
pub async fn list_accounts(
    db: &DatabaseConnection,
    page: &Page,
    f: &AccountFilter,
) -> Result<Paged<AccountView>, AccountsError> {
    use account::Column as C;
    let mut query = account::Entity::find();
    if let Some(m) = f.manager_id {
        query = query.filter(C::ManagerId.eq(m));
    }
    if let Some(v) = &f.industry {
        query = query.filter(C::Industry.eq(v.trim()));
    }
    if let Some(v) = &f.region {
        query = query.filter(C::Region.eq(v.trim()));
    }
    if let Some(v) = &f.country {
        query = query.filter(C::Country.eq(v.trim().to_ascii_uppercase()));
    }
    if let Some(q) = search_text(f.q.as_deref()) {
        let pattern = like_pattern(q)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(C::ExternalId))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "name" => C::Name,
        "external_id" => C::ExternalId,
        "created_at" => C::CreatedAt,
        "updated_at" => C::UpdatedAt,
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
