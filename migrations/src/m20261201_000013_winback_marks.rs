//! Win-back by hand: a manager adds an account to win-back (it is not lost, or not yet) or
//! takes one out of it (a lost account not to approach), with the reason. One mark per account;
//! deleting the account deletes its mark.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WinbackMarks {
    Table,
    Id,
    AccountId,
    Included,
    Reason,
    CreatedAt,
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
                    .table(WinbackMarks::Table)
                    .col(big_pk_auto(WinbackMarks::Id))
                    .col(big_integer_uniq(WinbackMarks::AccountId))
                    .col(boolean(WinbackMarks::Included))
                    .col(string_len(WinbackMarks::Reason, 500))
                    .col(timestamp_with_time_zone(WinbackMarks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WinbackMarks::Table, WinbackMarks::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WinbackMarks::Table).to_owned())
            .await
    }
}
