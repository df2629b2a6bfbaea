use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What happened (`events::EventKind`).
    pub kind: String,
    /// When it happened (a reply reported later keeps its own time).
    pub occurred_at: DateTimeUtc,
    /// When abm wrote it.
    pub recorded_at: DateTimeUtc,
    pub account_id: Option<i64>,
    pub stakeholder_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub step: Option<String>,
    /// The `messages.id` it concerns.
    pub message_id: Option<i64>,
    /// Activity of a machine (link scanner, privacy proxy): stored, kept out of scores.
    pub machine: bool,
    pub data: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
