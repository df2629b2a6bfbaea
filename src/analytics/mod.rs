//! Key-account analytics: ABC/XYZ, account types, churn by rule and by the BG/NBD model.
//! `classify` and `bgnbd` are pure maths; `offline` runs them over an orders CSV.

pub mod bgnbd;
pub mod classify;
pub mod offline;
pub mod report;
pub mod routes;
pub mod service;
