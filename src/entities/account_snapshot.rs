use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "account_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub account_id: i64,
    pub as_of: Date,
    pub currency: String,
    pub revenue: i64,
    pub profit: Option<i64>,
    pub value_share: Option<f64>,
    pub abc: Option<String>,
    pub abc_share: Option<f64>,
    pub abc_reason: String,
    pub cv: Option<f64>,
    pub xyz: Option<String>,
    pub xyz_reason: String,
    pub orders: i32,
    pub first_order_at: Option<Date>,
    pub last_order_at: Option<Date>,
    pub days_since_last_order: Option<i32>,
    pub median_interval_days: Option<f64>,
    pub types: String,
    pub pillar: bool,
    pub prospect: bool,
    pub image_maker: bool,
    pub expert: bool,
    pub types_reason: String,
    pub three_p_score: Option<i16>,
    pub three_p_missing: Option<String>,
    pub qualified: Option<bool>,
    pub lost: bool,
    pub lost_reason: String,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub value_at_risk: i64,
    /// The account's engagement score at the run (`None`: written before scores existed).
    pub engagement_score: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
