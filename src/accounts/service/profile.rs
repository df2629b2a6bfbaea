//! The account's profile: read, replace.

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

use crate::accounts::error::AccountsError;
use crate::accounts::model::ProfileInput;
use crate::clock::Clock;
use crate::entities::dossier_profile;

/// The stored profile, `None` when none was written yet.
pub async fn get_profile(
    db: &DatabaseConnection,
    account_id: i64,
) -> Result<Option<dossier_profile::Model>, AccountsError> {
    Ok(dossier_profile::Entity::find_by_id(account_id)
        .one(db)
        .await?)
}

/// Replaces the whole profile (blank texts are stored as NULL).
pub async fn put_profile(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    account_id: i64,
    p: ProfileInput,
) -> Result<dossier_profile::Model, AccountsError> {
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
