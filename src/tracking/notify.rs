//! Sales webhooks: events become signed notifications to the webhook endpoints subscribed to
//! their type (and whose rule matches the account), delivered through the outbox like every
//! other webhook message.

/// The event types an endpoint may subscribe to.
pub const SALES_TYPES: &[&str] = &[
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.replied",
    "message.bounced",
    "stakeholder.unsubscribed",
    "task.created",
    "account.hot",
    "account.at_risk",
    "account.lost",
    "account.recovered",
    "offer.redeemed",
];
