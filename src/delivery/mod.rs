//! Delivery: the outbox the campaign engine writes (messages with their status, attempts and
//! reasons) and the suppression list every send decision consults. The workers that deliver
//! the outbox by SMTP and webhooks build on this.

pub mod error;
pub mod outbox;
pub mod routes;
pub mod suppression;

pub use error::DeliveryError;
