//! abm — a self-hosted account-based-marketing campaign engine for key accounts.
//!
//! The binary (`src/main.rs`) only parses the command line; everything lives here so the tests
//! drive the same code. See `../shared/DESIGN.md` for the map of parts.

pub mod accounts;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod context;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod entities;
pub mod error;
pub mod events;
pub mod import;
pub mod jobs;
pub mod metrics;
pub mod offers;
pub mod orders;
pub mod segments;
pub mod startup;
pub mod telemetry;
pub mod tracking;
pub mod winback;

/// Installs rustls' `ring` crypto provider for this process (reqwest is built without one of
/// its own, so that only one TLS crypto backend is compiled). Idempotent; every place that
/// builds an HTTP client calls it first.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
