use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `c<campaign>:e<enrolment>:s<step>:p<stakeholder>` (or `…:m<manager>` for a task's email).
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// RFC 5322 Message-ID of an email, webhook-id of a webhook; stable across retries.
    #[sea_orm(unique)]
    pub message_id: String,
    pub campaign_id: Option<i64>,
    pub enrolment_id: Option<i64>,
    pub step: Option<String>,
    pub account_id: i64,
    pub stakeholder_id: Option<i64>,
    pub task_id: Option<i64>,
    /// `email` or `webhook`.
    pub channel: String,
    /// The address (email) or endpoint id (webhook).
    pub recipient: String,
    pub template_id: Option<String>,
    pub subject: Option<String>,
    /// Rendered parts by name.
    pub parts: Json,
    /// `queued`, `sending`, `sent`, `deferred`, `failed`, `dead` or `suppressed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub claim: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
