//! sea-orm entities, one file per table. They mirror the migrations crate exactly.

pub mod account;
pub mod account_class_event;
pub mod account_snapshot;
pub mod analysis_run;
pub mod api_token;
pub mod competitor;
pub mod dossier_profile;
pub mod idempotency_key;
pub mod job_run;
pub mod manager;
pub mod order;
pub mod relationship_event;
pub mod segment;
pub mod segment_event;
pub mod segment_membership;
pub mod stakeholder;
pub mod template;
pub mod template_version;
