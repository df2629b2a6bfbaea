//! Job runs: one row per run of a background job (queued, running, then succeeded, failed,
//! abandoned or interrupted), with the instance that ran it, why it ran, and the lease its
//! holder renews while it runs. Two partial unique indexes keep at most one queued and one
//! running run per job (the running one is the job's lock), and a unique scheduled time per
//! job makes two schedulers firing the same cron moment record one run. The running row
//! replaces the `job_locks` table, which is dropped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    Job,
    Trigger,
    Status,
    InstanceId,
    ScheduledFor,
    QueuedAt,
    StartedAt,
    FinishedAt,
    Error,
    Detail,
    TakenOverFrom,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum JobLocks {
    Table,
    Name,
    Holder,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLocks::Table).if_exists().to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .col(big_pk_auto(JobRuns::Id))
                    .col(string_len(JobRuns::Job, 64))
                    .col(string_len(JobRuns::Trigger, 32))
                    .col(string_len(JobRuns::Status, 16))
                    .col(string_len_null(JobRuns::InstanceId, 128))
                    .col(timestamp_with_time_zone_null(JobRuns::ScheduledFor))
                    .col(timestamp_with_time_zone(JobRuns::QueuedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
                    .col(text_null(JobRuns::Error))
                    .col(json_null(JobRuns::Detail))
                    .col(big_integer_null(JobRuns::TakenOverFrom))
                    .col(timestamp_with_time_zone_null(JobRuns::LeaseUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_job_runs_job_id")
                    .table(JobRuns::Table)
                    .col(JobRuns::Job)
                    .col(JobRuns::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_job_runs_scheduled")
                    .table(JobRuns::Table)
                    .col(JobRuns::Job)
                    .col(JobRuns::ScheduledFor)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Partial indexes: the same statements work on SQLite and PostgreSQL.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_job_runs_queued ON job_runs (job) WHERE status = 'queued'",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_job_runs_running ON job_runs (job) WHERE status = 'running'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobRuns::Table).to_owned())
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
}
