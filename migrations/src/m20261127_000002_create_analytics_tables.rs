//! Analytics: one row per analysis run, one snapshot per account and run (all figures and
//! their explanations, so the history of each account's classes is kept), class-change events
//! for campaigns to trigger on, and job locks so that a job runs on one instance at a time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AnalysisRuns {
    Table,
    Id,
    Trigger,
    Status,
    AsOf,
    WindowStart,
    Measure,
    Params,
    Summary,
    Error,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum AccountSnapshots {
    Table,
    Id,
    RunId,
    AccountId,
    AsOf,
    Currency,
    Revenue,
    Profit,
    ValueShare,
    Abc,
    AbcShare,
    AbcReason,
    Cv,
    Xyz,
    XyzReason,
    Orders,
    FirstOrderAt,
    LastOrderAt,
    DaysSinceLastOrder,
    MedianIntervalDays,
    Types,
    Pillar,
    Prospect,
    ImageMaker,
    Expert,
    TypesReason,
    ThreePScore,
    ThreePMissing,
    Qualified,
    Lost,
    LostReason,
    PAlive,
    ExpectedPurchases,
    ValueAtRisk,
}

#[derive(DeriveIden)]
enum AccountClassEvents {
    Table,
    Id,
    RunId,
    AccountId,
    Kind,
    FromValue,
    ToValue,
    Reason,
    OccurredAt,
}

#[derive(DeriveIden)]
enum JobLocks {
    Table,
    Name,
    Holder,
    LockedUntil,
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
                    .table(AnalysisRuns::Table)
                    .col(big_pk_auto(AnalysisRuns::Id))
                    .col(string_len(AnalysisRuns::Trigger, 16))
                    .col(string_len(AnalysisRuns::Status, 16))
                    .col(date(AnalysisRuns::AsOf))
                    .col(date(AnalysisRuns::WindowStart))
                    .col(string_len(AnalysisRuns::Measure, 16))
                    .col(json(AnalysisRuns::Params))
                    .col(json_null(AnalysisRuns::Summary))
                    .col(text_null(AnalysisRuns::Error))
                    .col(timestamp_with_time_zone(AnalysisRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(AnalysisRuns::FinishedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountSnapshots::Table)
                    .col(big_pk_auto(AccountSnapshots::Id))
                    .col(big_integer(AccountSnapshots::RunId))
                    .col(big_integer(AccountSnapshots::AccountId))
                    .col(date(AccountSnapshots::AsOf))
                    .col(char_len(AccountSnapshots::Currency, 3))
                    .col(big_integer(AccountSnapshots::Revenue))
                    .col(big_integer_null(AccountSnapshots::Profit))
                    .col(double_null(AccountSnapshots::ValueShare))
                    .col(char_len_null(AccountSnapshots::Abc, 1))
                    .col(double_null(AccountSnapshots::AbcShare))
                    .col(text(AccountSnapshots::AbcReason))
                    .col(double_null(AccountSnapshots::Cv))
                    .col(char_len_null(AccountSnapshots::Xyz, 1))
                    .col(text(AccountSnapshots::XyzReason))
                    .col(integer(AccountSnapshots::Orders))
                    .col(date_null(AccountSnapshots::FirstOrderAt))
                    .col(date_null(AccountSnapshots::LastOrderAt))
                    .col(integer_null(AccountSnapshots::DaysSinceLastOrder))
                    .col(double_null(AccountSnapshots::MedianIntervalDays))
                    .col(string_len(AccountSnapshots::Types, 100))
                    .col(boolean(AccountSnapshots::Pillar))
                    .col(boolean(AccountSnapshots::Prospect))
                    .col(boolean(AccountSnapshots::ImageMaker))
                    .col(boolean(AccountSnapshots::Expert))
                    .col(text(AccountSnapshots::TypesReason))
                    .col(small_integer_null(AccountSnapshots::ThreePScore))
                    .col(string_len_null(AccountSnapshots::ThreePMissing, 100))
                    .col(boolean_null(AccountSnapshots::Qualified))
                    .col(boolean(AccountSnapshots::Lost))
                    .col(text(AccountSnapshots::LostReason))
                    .col(double_null(AccountSnapshots::PAlive))
                    .col(double_null(AccountSnapshots::ExpectedPurchases))
                    .col(big_integer(AccountSnapshots::ValueAtRisk))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountSnapshots::Table, AccountSnapshots::RunId)
                            .to(AnalysisRuns::Table, AnalysisRuns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountSnapshots::Table, AccountSnapshots::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_snapshots_run_account")
                    .table(AccountSnapshots::Table)
                    .col(AccountSnapshots::RunId)
                    .col(AccountSnapshots::AccountId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_snapshots_account_run")
                    .table(AccountSnapshots::Table)
                    .col(AccountSnapshots::AccountId)
                    .col(AccountSnapshots::RunId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountClassEvents::Table)
                    .col(big_pk_auto(AccountClassEvents::Id))
                    .col(big_integer(AccountClassEvents::RunId))
                    .col(big_integer(AccountClassEvents::AccountId))
                    .col(string_len(AccountClassEvents::Kind, 32))
                    .col(string_len_null(AccountClassEvents::FromValue, 32))
                    .col(string_len_null(AccountClassEvents::ToValue, 32))
                    .col(text(AccountClassEvents::Reason))
                    .col(timestamp_with_time_zone(AccountClassEvents::OccurredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountClassEvents::Table, AccountClassEvents::RunId)
                            .to(AnalysisRuns::Table, AnalysisRuns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountClassEvents::Table, AccountClassEvents::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_class_events_account")
                    .table(AccountClassEvents::Table)
                    .col(AccountClassEvents::AccountId)
                    .col(AccountClassEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_class_events_kind")
                    .table(AccountClassEvents::Table)
                    .col(AccountClassEvents::Kind)
                    .col(AccountClassEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobLocks::Table)
                    .col(string_len(JobLocks::Name, 64).primary_key())
                    .col(string_len(JobLocks::Holder, 128))
                    .col(timestamp_with_time_zone(JobLocks::LockedUntil))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            JobLocks::Table.into_iden(),
            AccountClassEvents::Table.into_iden(),
            AccountSnapshots::Table.into_iden(),
            AnalysisRuns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
