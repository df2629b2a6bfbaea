use sea_orm::entity::prelude::*;

/// Every version of an API template, complete (metadata and parts).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "template_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub template_id: String,
    pub version: i32,
    pub purpose: String,
    pub channel: String,
    pub locale: String,
    pub priority: i32,
    pub when_rule: Json,
    pub description: Option<String>,
    /// Part name (`subject`, `html`, …) → Handlebars source.
    pub parts: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
