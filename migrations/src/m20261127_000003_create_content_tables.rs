//! Segments and templates: saved segment rules, membership history (one row per stay in a
//! segment, with entered/left times), entered/left events for campaigns to trigger on, and
//! templates created through the API with every version kept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    Key,
    Name,
    Description,
    Rule,
    Builtin,
    MemberCount,
    ComputedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SegmentMemberships {
    Table,
    Id,
    SegmentId,
    AccountId,
    EnteredAt,
    LeftAt,
}

#[derive(DeriveIden)]
enum SegmentEvents {
    Table,
    Id,
    SegmentId,
    AccountId,
    Kind,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    Purpose,
    Channel,
    Locale,
    Priority,
    WhenRule,
    Description,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TemplateVersions {
    Table,
    Id,
    TemplateId,
    Version,
    Purpose,
    Channel,
    Locale,
    Priority,
    WhenRule,
    Description,
    Parts,
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
                    .table(Segments::Table)
                    .col(big_pk_auto(Segments::Id))
                    .col(string_len_uniq(Segments::Key, 100))
                    .col(string_len(Segments::Name, 200))
                    .col(text_null(Segments::Description))
                    .col(json(Segments::Rule))
                    .col(boolean(Segments::Builtin))
                    .col(integer(Segments::MemberCount).default(0))
                    .col(timestamp_with_time_zone_null(Segments::ComputedAt))
                    .col(timestamp_with_time_zone(Segments::CreatedAt))
                    .col(timestamp_with_time_zone(Segments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SegmentMemberships::Table)
                    .col(big_pk_auto(SegmentMemberships::Id))
                    .col(big_integer(SegmentMemberships::SegmentId))
                    .col(big_integer(SegmentMemberships::AccountId))
                    .col(timestamp_with_time_zone(SegmentMemberships::EnteredAt))
                    .col(timestamp_with_time_zone_null(SegmentMemberships::LeftAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentMemberships::Table, SegmentMemberships::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentMemberships::Table, SegmentMemberships::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_segment_current")
                    .table(SegmentMemberships::Table)
                    .col(SegmentMemberships::SegmentId)
                    .col(SegmentMemberships::LeftAt)
                    .col(SegmentMemberships::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_account")
                    .table(SegmentMemberships::Table)
                    .col(SegmentMemberships::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SegmentEvents::Table)
                    .col(big_pk_auto(SegmentEvents::Id))
                    .col(big_integer(SegmentEvents::SegmentId))
                    .col(big_integer(SegmentEvents::AccountId))
                    .col(string_len(SegmentEvents::Kind, 16))
                    .col(timestamp_with_time_zone(SegmentEvents::OccurredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentEvents::Table, SegmentEvents::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentEvents::Table, SegmentEvents::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_events_segment")
                    .table(SegmentEvents::Table)
                    .col(SegmentEvents::SegmentId)
                    .col(SegmentEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_events_account")
                    .table(SegmentEvents::Table)
                    .col(SegmentEvents::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .col(string_len(Templates::Id, 100).primary_key())
                    .col(string_len(Templates::Purpose, 32))
                    .col(string_len(Templates::Channel, 16))
                    .col(string_len(Templates::Locale, 16))
                    .col(integer(Templates::Priority))
                    .col(json(Templates::WhenRule))
                    .col(text_null(Templates::Description))
                    .col(integer(Templates::Version))
                    .col(timestamp_with_time_zone(Templates::CreatedAt))
                    .col(timestamp_with_time_zone(Templates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TemplateVersions::Table)
                    .col(big_pk_auto(TemplateVersions::Id))
                    .col(string_len(TemplateVersions::TemplateId, 100))
                    .col(integer(TemplateVersions::Version))
                    .col(string_len(TemplateVersions::Purpose, 32))
                    .col(string_len(TemplateVersions::Channel, 16))
                    .col(string_len(TemplateVersions::Locale, 16))
                    .col(integer(TemplateVersions::Priority))
                    .col(json(TemplateVersions::WhenRule))
                    .col(text_null(TemplateVersions::Description))
                    .col(json(TemplateVersions::Parts))
                    .col(timestamp_with_time_zone(TemplateVersions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TemplateVersions::Table, TemplateVersions::TemplateId)
                            .to(Templates::Table, Templates::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_template_versions")
                    .table(TemplateVersions::Table)
                    .col(TemplateVersions::TemplateId)
                    .col(TemplateVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TemplateVersions::Table.into_iden(),
            Templates::Table.into_iden(),
            SegmentEvents::Table.into_iden(),
            SegmentMemberships::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
