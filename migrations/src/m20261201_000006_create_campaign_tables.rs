//! The campaign engine's tables: campaigns with every version of their definition, the
//! enrolments of accounts and each step they executed, the outbox of rendered messages, manager
//! tasks and the suppression list.
//!
//! Two database rules carry the engine's guarantees: one partial unique index allows one active
//! enrolment per account and campaign, and a unique idempotency key per message (campaign,
//! enrolment, step, recipient) means a step is never decided into two rows, however many ticks
//! race.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    Key,
    Name,
    Goal,
    Status,
    Version,
    Definition,
    ActivatedAt,
    Cursors,
    ScheduleCheckedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignVersions {
    Table,
    Id,
    CampaignId,
    Version,
    Definition,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Enrolments {
    Table,
    Id,
    CampaignId,
    AccountId,
    Status,
    Step,
    DueAt,
    Source,
    EnteredAt,
    FinishedAt,
    ExitReason,
    Claim,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum StepExecutions {
    Table,
    Id,
    EnrolmentId,
    CampaignId,
    AccountId,
    Version,
    Step,
    Kind,
    Outcome,
    Reason,
    DueAt,
    ExecutedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    IdempotencyKey,
    MessageId,
    CampaignId,
    EnrolmentId,
    Step,
    AccountId,
    StakeholderId,
    TaskId,
    Channel,
    Recipient,
    TemplateId,
    Subject,
    Parts,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    Reason,
    Claim,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    IdempotencyKey,
    CampaignId,
    EnrolmentId,
    Step,
    AccountId,
    ManagerId,
    Title,
    Body,
    Status,
    CreatedAt,
    DoneAt,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Id,
    Address,
    Reason,
    Note,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .col(big_pk_auto(Campaigns::Id))
                    .col(string_len_uniq(Campaigns::Key, 64))
                    .col(string_len(Campaigns::Name, 200))
                    .col(text_null(Campaigns::Goal))
                    .col(string_len(Campaigns::Status, 16))
                    .col(integer(Campaigns::Version))
                    .col(json(Campaigns::Definition))
                    .col(timestamp_with_time_zone_null(Campaigns::ActivatedAt))
                    .col(json_null(Campaigns::Cursors))
                    .col(timestamp_with_time_zone_null(Campaigns::ScheduleCheckedAt))
                    .col(timestamp_with_time_zone(Campaigns::CreatedAt))
                    .col(timestamp_with_time_zone(Campaigns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CampaignVersions::Table)
                    .col(big_pk_auto(CampaignVersions::Id))
                    .col(big_integer(CampaignVersions::CampaignId))
                    .col(integer(CampaignVersions::Version))
                    .col(json(CampaignVersions::Definition))
                    .col(timestamp_with_time_zone(CampaignVersions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_campaign_versions")
                    .table(CampaignVersions::Table)
                    .col(CampaignVersions::CampaignId)
                    .col(CampaignVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Enrolments::Table)
                    .col(big_pk_auto(Enrolments::Id))
                    .col(big_integer(Enrolments::CampaignId))
                    .col(big_integer(Enrolments::AccountId))
                    .col(string_len(Enrolments::Status, 16))
                    .col(string_len_null(Enrolments::Step, 64))
                    .col(timestamp_with_time_zone_null(Enrolments::DueAt))
                    .col(string_len(Enrolments::Source, 200))
                    .col(timestamp_with_time_zone(Enrolments::EnteredAt))
                    .col(timestamp_with_time_zone_null(Enrolments::FinishedAt))
                    .col(text_null(Enrolments::ExitReason))
                    .col(string_len_null(Enrolments::Claim, 64))
                    .col(timestamp_with_time_zone_null(Enrolments::LeaseUntil))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_enrolments_due",
                vec![Enrolments::Status, Enrolments::DueAt],
            ),
            (
                "ix_enrolments_campaign_account",
                vec![Enrolments::CampaignId, Enrolments::AccountId],
            ),
            ("ix_enrolments_claim", vec![Enrolments::Claim]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Enrolments::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(StepExecutions::Table)
                    .col(big_pk_auto(StepExecutions::Id))
                    .col(big_integer(StepExecutions::EnrolmentId))
                    .col(big_integer(StepExecutions::CampaignId))
                    .col(big_integer(StepExecutions::AccountId))
                    .col(integer(StepExecutions::Version))
                    .col(string_len(StepExecutions::Step, 64))
                    .col(string_len(StepExecutions::Kind, 16))
                    .col(string_len(StepExecutions::Outcome, 32))
                    .col(text(StepExecutions::Reason))
                    .col(timestamp_with_time_zone_null(StepExecutions::DueAt))
                    .col(timestamp_with_time_zone(StepExecutions::ExecutedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_step_executions_enrolment")
                    .table(StepExecutions::Table)
                    .col(StepExecutions::EnrolmentId)
                    .col(StepExecutions::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(big_pk_auto(Messages::Id))
                    .col(string_len_uniq(Messages::IdempotencyKey, 200))
                    .col(string_len_uniq(Messages::MessageId, 255))
                    .col(big_integer_null(Messages::CampaignId))
                    .col(big_integer_null(Messages::EnrolmentId))
                    .col(string_len_null(Messages::Step, 64))
                    .col(big_integer(Messages::AccountId))
                    .col(big_integer_null(Messages::StakeholderId))
                    .col(big_integer_null(Messages::TaskId))
                    .col(string_len(Messages::Channel, 16))
                    .col(string_len(Messages::Recipient, 400))
                    .col(string_len_null(Messages::TemplateId, 100))
                    .col(text_null(Messages::Subject))
                    .col(json(Messages::Parts))
                    .col(string_len(Messages::Status, 16))
                    .col(integer(Messages::Attempts))
                    .col(timestamp_with_time_zone_null(Messages::NextAttemptAt))
                    .col(text_null(Messages::LastError))
                    .col(text_null(Messages::Reason))
                    .col(string_len_null(Messages::Claim, 64))
                    .col(timestamp_with_time_zone_null(Messages::LeaseUntil))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .col(timestamp_with_time_zone(Messages::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Messages::SentAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_messages_due",
                vec![Messages::Status, Messages::NextAttemptAt],
            ),
            (
                "ix_messages_account",
                vec![Messages::AccountId, Messages::CreatedAt],
            ),
            (
                "ix_messages_stakeholder",
                vec![Messages::StakeholderId, Messages::CreatedAt],
            ),
            (
                "ix_messages_campaign",
                vec![Messages::CampaignId, Messages::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Messages::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(big_pk_auto(Tasks::Id))
                    .col(string_len_uniq(Tasks::IdempotencyKey, 200))
                    .col(big_integer_null(Tasks::CampaignId))
                    .col(big_integer_null(Tasks::EnrolmentId))
                    .col(string_len_null(Tasks::Step, 64))
                    .col(big_integer(Tasks::AccountId))
                    .col(big_integer_null(Tasks::ManagerId))
                    .col(string_len(Tasks::Title, 300))
                    .col(text(Tasks::Body))
                    .col(string_len(Tasks::Status, 16))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone_null(Tasks::DoneAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tasks_status")
                    .table(Tasks::Table)
                    .col(Tasks::Status)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .col(big_pk_auto(Suppressions::Id))
                    .col(string_len_uniq(Suppressions::Address, 320))
                    .col(string_len(Suppressions::Reason, 32))
                    .col(text_null(Suppressions::Note))
                    .col(timestamp_with_time_zone(Suppressions::CreatedAt))
                    .to_owned(),
            )
            .await?;

        // Partial index: the same statement works on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_enrolments_active ON enrolments (campaign_id, account_id) \
                 WHERE status = 'active'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Suppressions::Table.into_iden(),
            Tasks::Table.into_iden(),
            Messages::Table.into_iden(),
            StepExecutions::Table.into_iden(),
            Enrolments::Table.into_iden(),
            CampaignVersions::Table.into_iden(),
            Campaigns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
