use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `messages.id` this attempt delivered.
    pub message_id: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub at: DateTimeUtc,
    /// `sent`, `deferred`, `failed`, `dead` or `suppressed`.
    pub outcome: String,
    /// The SMTP reply code or HTTP status, when there was one (also on success).
    pub code: Option<String>,
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: i64,
    /// The instance that made the attempt.
    pub instance: String,
    /// The start of the response body (webhooks), at most 500 characters.
    pub response: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
