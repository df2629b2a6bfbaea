//! The campaign engine: campaigns and their versions, enrolments, the step machine, the
//! dispatcher tick and the schedule preview.
//!
//! Layers, each depending only on those below: `timing` and `model` and `machine` are plain
//! data (windows, caps, waits; the definition and its compiled plan; what a step decides);
//! `enrol`, `dispatch`, `preview`, `service` and `tasks` touch the database through the
//! [`crate::context::AppContext`]; `routes` is the HTTP edge.

pub mod dispatch;
pub mod enrol;
pub mod error;
pub mod machine;
pub mod model;
pub mod preview;
pub mod report;
pub mod routes;
pub mod service;
pub mod tasks;
pub mod timing;

pub use error::CampaignsError;

#[cfg(test)]
mod tests;
