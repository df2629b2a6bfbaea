//! Win-back recoveries: a lost (or hand-added) account that ordered again, recorded when the
//! order arrives, with the order, its value and what the recovery is attributed to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WinbackRecoveries {
    Table,
    Id,
    AccountId,
    LostSince,
    ByHand,
    RecoveredAt,
    OrderId,
    OrderedAt,
    AmountMinor,
    Currency,
    AttributedTo,
    OfferCodeId,
    OfferId,
    CampaignId,
    MessageId,
    Reason,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WinbackRecoveries::Table)
                    .col(big_pk_auto(WinbackRecoveries::Id))
                    .col(big_integer(WinbackRecoveries::AccountId))
                    .col(timestamp_with_time_zone(WinbackRecoveries::LostSince))
                    .col(boolean(WinbackRecoveries::ByHand))
                    .col(timestamp_with_time_zone(WinbackRecoveries::RecoveredAt))
                    .col(string_len(WinbackRecoveries::OrderId, 100))
                    .col(timestamp_with_time_zone(WinbackRecoveries::OrderedAt))
                    .col(big_integer(WinbackRecoveries::AmountMinor))
                    .col(string_len(WinbackRecoveries::Currency, 3))
                    .col(string_len(WinbackRecoveries::AttributedTo, 16))
                    .col(big_integer_null(WinbackRecoveries::OfferCodeId))
                    .col(big_integer_null(WinbackRecoveries::OfferId))
                    .col(big_integer_null(WinbackRecoveries::CampaignId))
                    .col(big_integer_null(WinbackRecoveries::MessageId))
                    .col(text(WinbackRecoveries::Reason))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WinbackRecoveries::Table, WinbackRecoveries::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One recovery per loss, however many orders (or racing writers) report it.
        manager
            .create_index(
                Index::create()
                    .name("ux_winback_recoveries_loss")
                    .table(WinbackRecoveries::Table)
                    .col(WinbackRecoveries::AccountId)
                    .col(WinbackRecoveries::LostSince)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_winback_recoveries_at")
                    .table(WinbackRecoveries::Table)
                    .col(WinbackRecoveries::RecoveredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WinbackRecoveries::Table).to_owned())
            .await
    }
}
