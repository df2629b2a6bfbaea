//! Key-account analytics: ABC/XYZ, account types, churn by rule and by the BG/NBD model.
//!
//! Plain data first: `classify` and `bgnbd` are pure maths, `engine` runs them over an order
//! book (read from an orders CSV by the offline commands, or built from the database by a
//! run), `matrix` tallies the ABC-XYZ matrix, `run_status` and `error` are the parts' plain
//! types. Then the services that touch the database: `service` (analysis runs and the one
//! "latest succeeded run" query), `queries` (what the API reads) and `report` (churn and the
//! workbook). Last, `routes`, the only module that knows about HTTP.

pub mod bgnbd;
pub mod classify;
pub mod engine;
pub mod error;
pub mod matrix;
pub mod queries;
pub mod report;
pub mod routes;
pub mod run_status;
pub mod service;

pub use error::AnalyticsError;
pub use run_status::RunStatus;
