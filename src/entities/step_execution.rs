use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "step_executions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub enrolment_id: i64,
    pub campaign_id: i64,
    pub account_id: i64,
    /// The campaign version the step belonged to.
    pub version: i32,
    pub step: String,
    /// `send`, `wait`, `branch`, `manager_task`, `exit` or `campaign` (campaign-wide exits).
    pub kind: String,
    pub outcome: String,
    pub reason: String,
    pub due_at: Option<DateTimeUtc>,
    pub executed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
