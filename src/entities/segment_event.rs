use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub segment_id: i64,
    pub account_id: i64,
    /// `entered` or `left`.
    pub kind: String,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
