//! Issued offer codes: one per (enrolment, step) of a win-back campaign, with the value and
//! expiry fixed at issue, and their redemption state.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OfferCodes {
    Table,
    Id,
    Code,
    OfferId,
    AccountId,
    CampaignId,
    EnrolmentId,
    Step,
    MessageId,
    Value,
    IssuedAt,
    ExpiresAt,
    State,
    Redemptions,
    RedeemedAt,
    OrderId,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Offers {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OfferCodes::Table)
                    .col(big_pk_auto(OfferCodes::Id))
                    .col(string_len_uniq(OfferCodes::Code, 32))
                    .col(big_integer(OfferCodes::OfferId))
                    .col(big_integer(OfferCodes::AccountId))
                    .col(big_integer_null(OfferCodes::CampaignId))
                    .col(big_integer_null(OfferCodes::EnrolmentId))
                    .col(string_len_null(OfferCodes::Step, 64))
                    .col(big_integer_null(OfferCodes::MessageId))
                    .col(json(OfferCodes::Value))
                    .col(timestamp_with_time_zone(OfferCodes::IssuedAt))
                    .col(timestamp_with_time_zone(OfferCodes::ExpiresAt))
                    .col(string_len(OfferCodes::State, 16))
                    .col(integer(OfferCodes::Redemptions).default(0))
                    .col(timestamp_with_time_zone_null(OfferCodes::RedeemedAt))
                    .col(string_len_null(OfferCodes::OrderId, 100))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OfferCodes::Table, OfferCodes::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OfferCodes::Table, OfferCodes::OfferId)
                            .to(Offers::Table, Offers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One code per (enrolment, step), however many times a tick renders the step.
        manager
            .create_index(
                Index::create()
                    .name("ux_offer_codes_enrolment_step")
                    .table(OfferCodes::Table)
                    .col(OfferCodes::EnrolmentId)
                    .col(OfferCodes::Step)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_offer_codes_offer")
                    .table(OfferCodes::Table)
                    .col(OfferCodes::OfferId)
                    .col(OfferCodes::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OfferCodes::Table).to_owned())
            .await
    }
}
