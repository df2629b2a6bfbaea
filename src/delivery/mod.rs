//! Delivery: the outbox the campaign engine writes (messages with their status, attempts and
//! reasons), the suppression list every send decision consults, and the webhook endpoints
//! (with their signing secrets) webhook sends go to. The workers that deliver the outbox by
//! SMTP and webhooks build on this.

pub mod error;
pub mod outbox;
pub mod routes;
pub mod sender;
pub mod smtp_pool;
pub mod suppression;
pub mod tls;
pub mod webhook_sender;
pub mod webhooks;

pub use error::DeliveryError;
