//! Response tracking: `app_secrets` keeps secrets abm generates for itself (the tracking-link
//! key when `tracking.secret` is empty), and messages are found by their `Message-ID` (replies
//! and bounces name it; tracking links carry it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    MessageId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppSecrets::Table)
                    .col(string_len(AppSecrets::Name, 64).primary_key())
                    .col(text(AppSecrets::Value))
                    .col(timestamp_with_time_zone(AppSecrets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_message_id")
                    .table(Messages::Table)
                    .col(Messages::MessageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_message_id")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AppSecrets::Table).to_owned())
            .await
    }
}
