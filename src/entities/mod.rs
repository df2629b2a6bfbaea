//! sea-orm entities, one file per table. They mirror the migrations crate exactly.

pub mod account;
pub mod account_class_event;
pub mod account_snapshot;
pub mod analysis_run;
pub mod api_token;
pub mod campaign;
pub mod campaign_version;
pub mod competitor;
pub mod dossier_profile;
pub mod enrolment;
pub mod idempotency_key;
pub mod job_run;
pub mod manager;
pub mod message;
pub mod order;
pub mod relationship_event;
pub mod segment;
pub mod segment_event;
pub mod segment_membership;
pub mod stakeholder;
pub mod step_execution;
pub mod suppression;
pub mod task;
pub mod template;
pub mod template_version;
pub mod webhook_endpoint;
