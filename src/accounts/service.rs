//! Database operations for accounts, managers and the dossier. Inputs arrive parsed
//! (see `model`); every function here either fully applies a change or returns an error.

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TryIntoModel,
};

use super::model::*;

/// Copies each field that a draft carries (`Some`) onto an active model.
macro_rules! apply_fields {
    ($model:expr, $draft:expr; $($field:ident),+ $(,)?) => {
        $(
            if let Some(v) = $draft.$field {
                $model.$field = Set(v);
            }
        )+
    };
}
use crate::clock::Clock;
use crate::db::page::{Page, Paged, fetch_page};
use crate::entities::{
    account, competitor, dossier_profile, manager, relationship_event, stakeholder,
};
use crate::error::{ApiError, FieldErrors};

// ---------------------------------------------------------------- managers

pub async fn create_manager(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    d: ManagerDraft,
) -> Result<manager::Model, ApiError> {
    let email = d.email.unwrap_or_default();
    if manager::Entity::find()
        .filter(manager::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "already_exists",
            detail: format!("a manager with email `{email}` already exists"),
        });
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

pub async fn get_manager(db: &impl ConnectionTrait, id: i64) -> Result<manager::Model, ApiError> {
    manager::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("manager {id} not found")))
}

pub async fn update_manager(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    id: i64,
    d: ManagerDraft,
) -> Result<manager::Model, ApiError> {
    let current = get_manager(db, id).await?;
    if let Some(email) = &d.email
        && *email != current.email
        && manager::Entity::find()
            .filter(manager::Column::Email.eq(email.as_str()))
            .one(db)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict {
            code: "already_exists",
            detail: format!("a manager with email `{email}` already exists"),
        });
    }
    let mut m: manager::ActiveModel = current.into();
    apply_fields!(m, d; email, name, phone, webhook_url);
    m.updated_at = Set(clock.now());
    Ok(m.update(db).await?)
}

pub async fn delete_manager(db: &DatabaseConnection, id: i64) -> Result<(), ApiError> {
    let res = manager::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(ApiError::NotFound(format!("manager {id} not found")));
    }
    Ok(())
}

pub async fn list_managers(
    db: &DatabaseConnection,
    page: &Page,
    q: Option<&str>,
) -> Result<Paged<ManagerView>, ApiError> {
    let mut query = manager::Entity::find();
    if let Some(q) = q.filter(|q| !q.trim().is_empty()) {
        let pattern = like_pattern(q)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(manager::Column::Name))).like(pattern.clone()),
                )
                .add(Expr::expr(Func::lower(Expr::col(manager::Column::Email))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "name" => manager::Column::Name,
        "email" => manager::Column::Email,
        "created_at" => manager::Column::CreatedAt,
        _ => manager::Column::Id,
    };
    let (items, total) = fetch_page(db, query, page, col, manager::Column::Id).await?;
    Ok(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// The longest `?q=` search text, in characters. SQLite refuses long LIKE patterns ("pattern too
/// complex"), and a search for more than a name's worth of text is a mistake or an attack.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Lower-cased `%text%` with LIKE wildcards escaped; a 422 on `q` when the text is too long.
fn like_pattern(q: &str) -> Result<sea_orm::sea_query::LikeExpr, ApiError> {
    if q.trim().chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::field(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Ok(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

// ---------------------------------------------------------------- accounts

/// Finds an account by its external id.
pub async fn find_account(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> Result<account::Model, ApiError> {
    account::Entity::find()
        .filter(account::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account `{external_id}` not found")))
}

async fn check_manager(
    db: &impl ConnectionTrait,
    manager_id: Option<Option<i64>>,
) -> Result<(), ApiError> {
    if let Some(Some(id)) = manager_id
        && manager::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(ApiError::field(
            "/manager_id",
            format!("manager {id} does not exist"),
        ));
    }
    Ok(())
}

pub async fn create_account(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    d: AccountDraft,
) -> Result<account::Model, ApiError> {
    let external_id = d.external_id.clone().unwrap_or_default();
    if account::Entity::find()
        .filter(account::Column::ExternalId.eq(external_id.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "already_exists",
            detail: format!("an account with external_id `{external_id}` already exists"),
        });
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

/// Applies a draft to an existing account model (used by PATCH and by imports).
pub fn apply_account(m: &mut account::ActiveModel, d: AccountDraft) {
    apply_fields!(m, d; name, industry, region, country, timezone, currency, manager_id, image_maker, expert, budget_minor, attributes);
}

pub async fn update_account(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    current: account::Model,
    d: AccountDraft,
) -> Result<account::Model, ApiError> {
    check_manager(db, d.manager_id).await?;
    if let Some(problem) = currency_change_problem(db, &current, &d).await? {
        return Err(ApiError::field("/currency", problem));
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
) -> Result<Option<String>, ApiError> {
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
pub async fn delete_account(db: &DatabaseConnection, external_id: &str) -> Result<(), ApiError> {
    let txn = crate::db::begin_write(db).await?;
    let current = find_account(&txn, external_id).await?;
    // Its segment stays and events go with it (erasure); the segments' counts follow now
    // rather than at the next recomputation.
    let open: Vec<i64> = {
        use crate::entities::segment_membership as sm;
        use sea_orm::QuerySelect;
        sm::Entity::find()
            .filter(sm::Column::AccountId.eq(current.id))
            .filter(sm::Column::LeftAt.is_null())
            .select_only()
            .column(sm::Column::SegmentId)
            .into_tuple()
            .all(&txn)
            .await?
    };
    account::Entity::delete_by_id(current.id).exec(&txn).await?;
    for segment_id in open {
        use crate::entities::segment;
        let members = crate::segments::open_count(&txn, segment_id).await?;
        segment::Entity::update_many()
            .col_expr(
                segment::Column::MemberCount,
                sea_orm::sea_query::Expr::value(i32::try_from(members).unwrap_or(i32::MAX)),
            )
            .filter(segment::Column::Id.eq(segment_id))
            .exec(&txn)
            .await?;
    }
    crate::entities::order::Entity::delete_many()
        .filter(crate::entities::order::Column::AccountId.eq(current.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Filters for the account list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Only accounts of this manager.
    pub manager_id: Option<i64>,
    /// Exact industry.
    pub industry: Option<String>,
    /// Exact region.
    pub region: Option<String>,
    /// ISO country code.
    pub country: Option<String>,
    /// Case-insensitive text search in name and external id.
    pub q: Option<String>,
}

pub const ACCOUNT_SORTS: &[&str] = &["name", "external_id", "created_at", "updated_at", "id"];

pub async fn list_accounts(
    db: &DatabaseConnection,
    page: &Page,
    f: &AccountFilter,
) -> Result<Paged<AccountView>, ApiError> {
    let mut query = account::Entity::find();
    if let Some(m) = f.manager_id {
        query = query.filter(account::Column::ManagerId.eq(m));
    }
    if let Some(v) = &f.industry {
        query = query.filter(account::Column::Industry.eq(v.trim()));
    }
    if let Some(v) = &f.region {
        query = query.filter(account::Column::Region.eq(v.trim()));
    }
    if let Some(v) = &f.country {
        query = query.filter(account::Column::Country.eq(v.trim().to_ascii_uppercase()));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
        let pattern = like_pattern(q)?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(account::Column::Name))).like(pattern.clone()),
                )
                .add(Expr::expr(Func::lower(Expr::col(account::Column::ExternalId))).like(pattern)),
        );
    }
    let col = match page.sort_field.as_str() {
        "name" => account::Column::Name,
        "external_id" => account::Column::ExternalId,
        "created_at" => account::Column::CreatedAt,
        "updated_at" => account::Column::UpdatedAt,
        _ => account::Column::Id,
    };
    let (items, total) = fetch_page(db, query, page, col, account::Column::Id).await?;
    Ok(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

// ---------------------------------------------------------------- dossier

pub async fn get_profile(
    db: &DatabaseConnection,
    account_id: i64,
) -> Result<Option<dossier_profile::Model>, ApiError> {
    Ok(dossier_profile::Entity::find_by_id(account_id)
        .one(db)
        .await?)
}

pub async fn put_profile(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    p: ProfileInput,
) -> Result<dossier_profile::Model, ApiError> {
    let model = dossier_profile::ActiveModel {
        account_id: Set(account_id),
        description: Set(p.description.filter(|s| !s.trim().is_empty())),
        employees: Set(p.employees),
        founded_year: Set(p.founded_year),
        history: Set(p.history.filter(|s| !s.trim().is_empty())),
        org_structure: Set(p.org_structure.filter(|s| !s.trim().is_empty())),
        business_environment: Set(p.business_environment.filter(|s| !s.trim().is_empty())),
        updated_at: Set(clock.now()),
    };
    if get_profile(db, account_id).await?.is_some() {
        Ok(model.update(db).await?)
    } else {
        Ok(model.insert(db).await?)
    }
}

pub async fn list_events(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<relationship_event::Model>, ApiError> {
    Ok(relationship_event::Entity::find()
        .filter(relationship_event::Column::AccountId.eq(account_id))
        .order_by_desc(relationship_event::Column::OccurredOn)
        .order_by_desc(relationship_event::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_event(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<relationship_event::Model, ApiError> {
    relationship_event::Entity::find_by_id(id)
        .filter(relationship_event::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "relationship event {id} not found for this account"
            ))
        })
}

pub async fn save_event(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    existing: Option<relationship_event::Model>,
    d: RelationshipEventDraft,
) -> Result<relationship_event::Model, ApiError> {
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
    apply_fields!(m, d; kind, occurred_on, value_minor, outcome, reason, notes);
    m.updated_at = Set(now);
    Ok(m.save(db).await?.try_into_model()?)
}

pub async fn list_stakeholders(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<stakeholder::Model>, ApiError> {
    Ok(stakeholder::Entity::find()
        .filter(stakeholder::Column::AccountId.eq(account_id))
        .order_by_desc(stakeholder::Column::Influence)
        .order_by_asc(stakeholder::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_stakeholder(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<stakeholder::Model, ApiError> {
    stakeholder::Entity::find_by_id(id)
        .filter(stakeholder::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("stakeholder {id} not found for this account")))
}

/// Applies a stakeholder draft onto an active model (API and import).
pub fn apply_stakeholder(m: &mut stakeholder::ActiveModel, d: StakeholderDraft) {
    apply_fields!(m, d; name, title, email, phone, role, influence, language, consent);
}

pub async fn create_stakeholder(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    d: StakeholderDraft,
) -> Result<stakeholder::Model, ApiError> {
    let external_id = d.external_id.clone().unwrap_or_default();
    if stakeholder::Entity::find()
        .filter(stakeholder::Column::ExternalId.eq(external_id.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "already_exists",
            detail: format!("a stakeholder with external_id `{external_id}` already exists"),
        });
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

pub async fn update_stakeholder(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    current: stakeholder::Model,
    d: StakeholderDraft,
) -> Result<stakeholder::Model, ApiError> {
    let mut m: stakeholder::ActiveModel = current.into();
    apply_stakeholder(&mut m, d);
    m.updated_at = Set(clock.now());
    Ok(m.update(db).await?)
}

pub async fn list_competitors(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> Result<Vec<competitor::Model>, ApiError> {
    Ok(competitor::Entity::find()
        .filter(competitor::Column::AccountId.eq(account_id))
        .order_by_asc(competitor::Column::Name)
        .order_by_asc(competitor::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_competitor(
    db: &impl ConnectionTrait,
    account_id: i64,
    id: i64,
) -> Result<competitor::Model, ApiError> {
    competitor::Entity::find_by_id(id)
        .filter(competitor::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("competitor {id} not found for this account")))
}

pub async fn save_competitor(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    existing: Option<competitor::Model>,
    d: CompetitorDraft,
) -> Result<competitor::Model, ApiError> {
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

/// The whole dossier of an account.
pub async fn dossier(db: &DatabaseConnection, a: account::Model) -> Result<DossierView, ApiError> {
    let manager = match a.manager_id {
        Some(id) => manager::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Into::into),
        None => None,
    };
    let currency = a.currency.clone();
    Ok(DossierView {
        profile: get_profile(db, a.id).await?.into(),
        relationship_history: list_events(db, a.id)
            .await?
            .into_iter()
            .map(|e| RelationshipEventView::new(e, &currency))
            .collect(),
        stakeholders: list_stakeholders(db, a.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
        competitors: list_competitors(db, a.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
        manager,
        account: a.into(),
    })
}

/// Validation helper: a parsed input with errors becomes a 422.
pub fn finish<T>(value: T, errors: FieldErrors) -> Result<T, ApiError> {
    errors.into_result().map(|_| value)
}

/// Filters for an account's relationship history.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only entries of this kind (e.g. `tender`).
    pub kind: Option<String>,
    /// Only entries with this outcome (`won`, `lost`, `pending`).
    pub outcome: Option<String>,
}

pub const EVENT_SORTS: &[&str] = &["occurred_on", "kind", "id"];

pub async fn page_events(
    db: &DatabaseConnection,
    account_id: i64,
    page: &Page,
    f: &EventFilter,
) -> Result<(Vec<relationship_event::Model>, u64), ApiError> {
    use relationship_event::Column as C;
    let mut q = relationship_event::Entity::find().filter(C::AccountId.eq(account_id));
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
    Ok(fetch_page(db, q, page, col, C::Id).await?)
}

/// Filters for an account's stakeholders.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StakeholderFilter {
    /// Only this role (e.g. `decision_maker`).
    pub role: Option<String>,
    /// Only this consent status.
    pub consent: Option<String>,
    /// Case-insensitive search in name, title and e-mail.
    pub q: Option<String>,
}

pub const STAKEHOLDER_SORTS: &[&str] = &["influence", "name", "id"];

pub async fn page_stakeholders(
    db: &DatabaseConnection,
    account_id: i64,
    page: &Page,
    f: &StakeholderFilter,
) -> Result<(Vec<stakeholder::Model>, u64), ApiError> {
    use stakeholder::Column as C;
    let mut q = stakeholder::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(r) = &f.role {
        q = q.filter(C::Role.eq(r.trim().to_ascii_lowercase()));
    }
    if let Some(c) = &f.consent {
        q = q.filter(C::Consent.eq(c.trim().to_ascii_lowercase()));
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
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
    Ok(fetch_page(db, q, page, col, C::Id).await?)
}

/// Filters for an account's competitors.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompetitorFilter {
    /// Case-insensitive search in name and products.
    pub q: Option<String>,
}

pub const COMPETITOR_SORTS: &[&str] = &["name", "strength", "id"];

pub async fn page_competitors(
    db: &DatabaseConnection,
    account_id: i64,
    page: &Page,
    f: &CompetitorFilter,
) -> Result<(Vec<competitor::Model>, u64), ApiError> {
    use competitor::Column as C;
    let mut q = competitor::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
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
    Ok(fetch_page(db, q, page, col, C::Id).await?)
}
