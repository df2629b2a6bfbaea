//! sea-orm entities, one file per table. They mirror the migrations crate exactly.

pub mod account;
pub mod api_token;
pub mod competitor;
pub mod dossier_profile;
pub mod idempotency_key;
pub mod manager;
pub mod order;
pub mod relationship_event;
pub mod stakeholder;
