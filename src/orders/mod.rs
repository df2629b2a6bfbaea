//! Orders: validation, bulk upsert (API batches and file imports share it), routes and the
//! CSV/XLSX importer.
//!
//! Layers, each using only the ones above it: `model` (plain inputs, parsed rows, views),
//! `error` (what can go wrong, as data), `service` and `import` (the database), `routes` (HTTP,
//! and the one mapping of [`OrdersError`] to statuses).

pub mod error;
pub mod import;
pub mod model;
pub mod routes;
pub mod service;

pub use error::OrdersError;
