//! The dossier: everything known about one account, in one view.

use serde::Serialize;
use utoipa::ToSchema;

use super::account::AccountView;
use super::competitor::CompetitorView;
use super::manager::ManagerView;
use super::profile::ProfileView;
use super::relationship::RelationshipEventView;
use super::stakeholder::StakeholderView;

/// Everything known about one account.
#[derive(Debug, Serialize, ToSchema)]
pub struct DossierView {
    pub account: AccountView,
    pub manager: Option<ManagerView>,
    pub profile: ProfileView,
    pub relationship_history: Vec<RelationshipEventView>,
    pub stakeholders: Vec<StakeholderView>,
    pub competitors: Vec<CompetitorView>,
}
