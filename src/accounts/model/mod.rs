//! Plain-data inputs and views for accounts, managers and the dossier, and the parsing that
//! turns untrusted input into checked values ("drafts"). Used by the API and by the CSV/XLSX
//! importers; nothing here touches the database or HTTP.
//!
//! Each input type has a `parse` (or `validate`) that records every problem in a
//! [`FieldErrors`](crate::domain::validation::FieldErrors) and returns a draft in which `None`
//! means "leave unchanged".

mod account;
mod competitor;
mod derived_id;
mod dossier;
mod manager;
mod money;
mod profile;
mod relationship;
mod stakeholder;
mod text;

pub use account::{AccountDraft, AccountFilter, AccountInput, AccountView, AnalyticsSummary};
pub use competitor::{CompetitorDraft, CompetitorFilter, CompetitorInput, CompetitorView};
pub use derived_id::derive_id;
pub use dossier::DossierView;
pub use manager::{ManagerDraft, ManagerFilter, ManagerInput, ManagerView};
pub use money::{format_money, format_total};
pub use profile::{ProfileInput, ProfileView};
pub use relationship::{
    EventFilter, RelationshipEventDraft, RelationshipEventInput, RelationshipEventView,
};
pub use stakeholder::{StakeholderDraft, StakeholderFilter, StakeholderInput, StakeholderView};
