//! Delivery attempts: one row per try to deliver a message (by SMTP, to a file, or to a
//! webhook endpoint), with its outcome, the server's code (SMTP reply or HTTP status), the
//! error and how long it took. A message's detail lists them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    MessageId,
    Attempt,
    At,
    Outcome,
    Code,
    Error,
    LatencyMs,
    Instance,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(big_integer(DeliveryAttempts::MessageId))
                    .col(integer(DeliveryAttempts::Attempt))
                    .col(timestamp_with_time_zone(DeliveryAttempts::At))
                    .col(string_len(DeliveryAttempts::Outcome, 16))
                    .col(string_len_null(DeliveryAttempts::Code, 16))
                    .col(text_null(DeliveryAttempts::Error))
                    .col(big_integer(DeliveryAttempts::LatencyMs))
                    .col(string_len(DeliveryAttempts::Instance, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_delivery_attempts_message")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::MessageId)
                    .col(DeliveryAttempts::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeliveryAttempts::Table).to_owned())
            .await
    }
}
