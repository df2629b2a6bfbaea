//! Key accounts, their managers and their dossier: profile, relationship history,
//! decision map (stakeholders) and competitors.

pub mod import;
pub mod model;
pub mod routes;
pub mod service;
