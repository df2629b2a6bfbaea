//! Key accounts, their managers and their dossier: profile, relationship history,
//! decision map (stakeholders) and competitors.
//!
//! Layers, each using only the ones above it: `model` (plain inputs, checked drafts, views),
//! `error` (what can go wrong, as data), `service` and `import` (the database), `routes` (HTTP,
//! and the one mapping of [`AccountsError`] to statuses).

pub mod error;
pub mod import;
pub mod model;
pub mod routes;
pub mod service;

pub use error::AccountsError;
