//! Sales webhooks: endpoints subscribe to event types (optionally only for accounts a rule
//! picks), are disabled after failing too long; attempts keep a snippet of the response; and
//! `cursors` remember how far a background pass has read a stream (the events it has turned
//! into notifications).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    EventTypes,
    RuleText,
    DisabledAt,
    DisabledReason,
    FailingSince,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Response,
}

#[derive(DeriveIden)]
enum Cursors {
    Table,
    Name,
    Position,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            json_null(WebhookEndpoints::EventTypes),
            text_null(WebhookEndpoints::RuleText),
            timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt),
            text_null(WebhookEndpoints::DisabledReason),
            timestamp_with_time_zone_null(WebhookEndpoints::FailingSince),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryAttempts::Table)
                    .add_column(text_null(DeliveryAttempts::Response))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Cursors::Table)
                    .col(string_len(Cursors::Name, 64).primary_key())
                    .col(big_integer(Cursors::Position))
                    .col(timestamp_with_time_zone(Cursors::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Cursors::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryAttempts::Table)
                    .drop_column(DeliveryAttempts::Response)
                    .to_owned(),
            )
            .await?;
        for col in [
            WebhookEndpoints::EventTypes,
            WebhookEndpoints::RuleText,
            WebhookEndpoints::DisabledAt,
            WebhookEndpoints::DisabledReason,
            WebhookEndpoints::FailingSince,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
