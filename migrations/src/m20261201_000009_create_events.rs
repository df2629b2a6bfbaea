//! Events: one append-only table of everything that happened to a message, a stakeholder or an
//! account (delivered, dead, bounced, opened, clicked, replied, unsubscribed, …), linked to
//! the account, stakeholder, campaign, step and message it concerns. `machine` marks activity
//! of scanners and privacy proxies, stored but kept out of scores.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Kind,
    OccurredAt,
    RecordedAt,
    AccountId,
    StakeholderId,
    CampaignId,
    Step,
    MessageId,
    Machine,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Id))
                    .col(string_len(Events::Kind, 32))
                    .col(timestamp_with_time_zone(Events::OccurredAt))
                    .col(timestamp_with_time_zone(Events::RecordedAt))
                    .col(big_integer_null(Events::AccountId))
                    .col(big_integer_null(Events::StakeholderId))
                    .col(big_integer_null(Events::CampaignId))
                    .col(string_len_null(Events::Step, 64))
                    .col(big_integer_null(Events::MessageId))
                    .col(boolean(Events::Machine).default(false))
                    .col(json(Events::Data))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_events_account", Events::AccountId),
            ("ix_events_kind", Events::Kind),
            ("ix_events_campaign", Events::CampaignId),
            ("ix_events_message", Events::MessageId),
            ("ix_events_stakeholder", Events::StakeholderId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Events::Table)
                        .col(col)
                        .col(Events::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
