//! Black-box tests against the running application. Every database test runs on SQLite and,
//! when `TEST_DATABASE_URL` is set, again on PostgreSQL.

mod helpers;
mod http_receiver;

mod accounts;
mod analytics;
mod analytics_runs;
mod auth;
mod campaigns;
mod cli;
mod delivery;
mod demo;
mod dossier;
mod hardening;
mod idempotency;
mod imports;
mod jobs;
mod offers;
mod openapi;
mod orders;
mod outbox;
mod robustness;
mod segments;
mod smtp_server;
mod templates;
mod tracking;
mod webhooks;
mod winback;
mod winback_flow;
