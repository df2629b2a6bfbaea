use sea_orm::entity::prelude::*;

/// An issued offer code: its value and expiry fixed at issue, and its redemption state.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offer_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub offer_id: i64,
    pub account_id: i64,
    pub campaign_id: Option<i64>,
    pub enrolment_id: Option<i64>,
    pub step: Option<String>,
    /// The `messages.id` that carried it.
    pub message_id: Option<i64>,
    /// The value at issue (`offers::codes::IssuedValue`).
    pub value: Json,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// `issued`, `redeemed` or `void` (expired is `issued` past `expires_at`).
    pub state: String,
    pub redemptions: i32,
    pub redeemed_at: Option<DateTimeUtc>,
    /// The external id of the order that redeemed it last.
    pub order_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
