//! Analytics snapshots keep each account's engagement score at the run, beside its classes and
//! churn figures, so reports and segments see how engagement moved from run to run.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountSnapshots {
    Table,
    EngagementScore,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccountSnapshots::Table)
                    .add_column(double_null(AccountSnapshots::EngagementScore))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccountSnapshots::Table)
                    .drop_column(AccountSnapshots::EngagementScore)
                    .to_owned(),
            )
            .await
    }
}
