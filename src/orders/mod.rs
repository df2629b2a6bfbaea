//! Orders: validation, bulk upsert (API batches and file imports share it), routes and the
//! CSV/XLSX importer.

pub mod import;
pub mod model;
pub mod routes;
pub mod service;
