//! The whole dossier of an account in one read.

use sea_orm::{DatabaseConnection, EntityTrait};

use super::competitor::list_competitors;
use super::profile::get_profile;
use super::relationship::list_events;
use super::stakeholder::list_stakeholders;
use crate::accounts::error::AccountsError;
use crate::accounts::model::{DossierView, RelationshipEventView};
use crate::entities::{account, manager};

/// Account, manager, profile, relationship history, decision map and competitors.
pub async fn dossier(
    db: &DatabaseConnection,
    a: account::Model,
) -> Result<DossierView, AccountsError> {
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
