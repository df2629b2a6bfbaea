use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrolments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub campaign_id: i64,
    pub account_id: i64,
    /// `active`, `completed` or `exited`.
    pub status: String,
    /// The step to execute next (active enrolments).
    pub step: Option<String>,
    /// When that step is due.
    pub due_at: Option<DateTimeUtc>,
    /// What enrolled the account (audience, trigger event or schedule moment).
    pub source: String,
    pub entered_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub exit_reason: Option<String>,
    /// The tick that holds it, until `lease_until`.
    pub claim: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
