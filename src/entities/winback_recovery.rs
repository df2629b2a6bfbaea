use sea_orm::entity::prelude::*;

/// A lost (or hand-added) account that ordered again, recorded when the order arrived.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "winback_recoveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    /// When the loss began (the run's `became_lost`, or when it was added by hand).
    pub lost_since: DateTimeUtc,
    pub by_hand: bool,
    pub recovered_at: DateTimeUtc,
    /// The external id of the order that recovered it.
    pub order_id: String,
    pub ordered_at: DateTimeUtc,
    pub amount_minor: i64,
    pub currency: String,
    /// `offer`, `touch` or `none`.
    pub attributed_to: String,
    pub offer_code_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub message_id: Option<i64>,
    /// Why it is attributed so.
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
