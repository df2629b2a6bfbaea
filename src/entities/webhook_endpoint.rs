use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub url: String,
    pub description: Option<String>,
    /// `whsec_` + base64 of 32 random bytes.
    pub secret: String,
    /// The secret before the last rotation; it signs too until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The sales event types it subscribes to (`["message.replied", …]`); null: none.
    pub event_types: Option<Json>,
    /// Only events of accounts this rule (text form) matches.
    pub rule_text: Option<String>,
    /// Set when it was disabled (failing too long, or 410 Gone); nothing is sent to it then.
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_reason: Option<String>,
    /// When the current run of failed deliveries began (cleared by a success).
    pub failing_since: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
