use sea_orm::entity::prelude::*;

/// A template created through the API (file-based templates are not stored).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub purpose: String,
    pub channel: String,
    pub locale: String,
    pub priority: i32,
    pub when_rule: Json,
    pub description: Option<String>,
    /// The latest version.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
