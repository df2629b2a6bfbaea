use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub key: String,
    pub name: String,
    pub goal: Option<String>,
    /// `draft`, `active`, `paused` or `archived`.
    pub status: String,
    pub version: i32,
    /// The current version's definition (`campaigns::model::Definition` as JSON).
    pub definition: Json,
    pub activated_at: Option<DateTimeUtc>,
    /// Trigger audiences: the last event id read per event table.
    pub cursors: Option<Json>,
    /// Scheduled campaigns: the instant up to which the schedule has been evaluated.
    pub schedule_checked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
