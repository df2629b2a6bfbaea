//! The foundation schema: managers, accounts and their dossier, orders, API tokens and
//! idempotency keys. Money is stored as integer minor units of the row's currency so sums and
//! comparisons are exact on both databases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Managers {
    Table,
    Id,
    Email,
    Name,
    Phone,
    WebhookUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    ExternalId,
    Name,
    Industry,
    Region,
    Country,
    Timezone,
    Currency,
    ManagerId,
    ImageMaker,
    Expert,
    BudgetMinor,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DossierProfiles {
    Table,
    AccountId,
    Description,
    Employees,
    FoundedYear,
    History,
    OrgStructure,
    BusinessEnvironment,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RelationshipEvents {
    Table,
    Id,
    AccountId,
    Kind,
    OccurredOn,
    ValueMinor,
    Outcome,
    Reason,
    Notes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Stakeholders {
    Table,
    Id,
    ExternalId,
    AccountId,
    Name,
    Title,
    Email,
    Phone,
    Role,
    Influence,
    Language,
    Consent,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Competitors {
    Table,
    Id,
    AccountId,
    Name,
    Products,
    Strength,
    Notes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    ExternalId,
    AccountId,
    OrderedAt,
    AmountMinor,
    MarginMinor,
    Currency,
    OfferCode,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Prefix,
    Hash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    TokenId,
    Key,
    Method,
    Path,
    RequestHash,
    Status,
    ContentType,
    Body,
    CreatedAt,
}

fn fk_account(table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Accounts::Table, Accounts::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Managers::Table)
                    .col(big_pk_auto(Managers::Id))
                    .col(string_len_uniq(Managers::Email, 254))
                    .col(string_len(Managers::Name, 200))
                    .col(string_len_null(Managers::Phone, 50))
                    .col(string_len_null(Managers::WebhookUrl, 2000))
                    .col(timestamp_with_time_zone(Managers::CreatedAt))
                    .col(timestamp_with_time_zone(Managers::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(big_pk_auto(Accounts::Id))
                    .col(string_len_uniq(Accounts::ExternalId, 128))
                    .col(string_len(Accounts::Name, 300))
                    .col(string_len_null(Accounts::Industry, 100))
                    .col(string_len_null(Accounts::Region, 100))
                    .col(char_len_null(Accounts::Country, 2))
                    .col(string_len(Accounts::Timezone, 64))
                    .col(char_len(Accounts::Currency, 3))
                    .col(big_integer_null(Accounts::ManagerId))
                    .col(boolean(Accounts::ImageMaker).default(false))
                    .col(boolean(Accounts::Expert).default(false))
                    .col(big_integer_null(Accounts::BudgetMinor))
                    .col(json(Accounts::Attributes))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Accounts::Table, Accounts::ManagerId)
                            .to(Managers::Table, Managers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_accounts_manager", Accounts::ManagerId),
            ("idx_accounts_industry", Accounts::Industry),
            ("idx_accounts_name", Accounts::Name),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Accounts::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DossierProfiles::Table)
                    .col(big_integer(DossierProfiles::AccountId).primary_key())
                    .col(text_null(DossierProfiles::Description))
                    .col(integer_null(DossierProfiles::Employees))
                    .col(integer_null(DossierProfiles::FoundedYear))
                    .col(text_null(DossierProfiles::History))
                    .col(text_null(DossierProfiles::OrgStructure))
                    .col(text_null(DossierProfiles::BusinessEnvironment))
                    .col(timestamp_with_time_zone(DossierProfiles::UpdatedAt))
                    .foreign_key(&mut fk_account(
                        DossierProfiles::Table,
                        DossierProfiles::AccountId,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RelationshipEvents::Table)
                    .col(big_pk_auto(RelationshipEvents::Id))
                    .col(big_integer(RelationshipEvents::AccountId))
                    .col(string_len(RelationshipEvents::Kind, 32))
                    .col(date(RelationshipEvents::OccurredOn))
                    .col(big_integer_null(RelationshipEvents::ValueMinor))
                    .col(string_len_null(RelationshipEvents::Outcome, 16))
                    .col(text_null(RelationshipEvents::Reason))
                    .col(text_null(RelationshipEvents::Notes))
                    .col(timestamp_with_time_zone(RelationshipEvents::CreatedAt))
                    .col(timestamp_with_time_zone(RelationshipEvents::UpdatedAt))
                    .foreign_key(&mut fk_account(
                        RelationshipEvents::Table,
                        RelationshipEvents::AccountId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_relationship_events_account")
                    .table(RelationshipEvents::Table)
                    .col(RelationshipEvents::AccountId)
                    .col(RelationshipEvents::OccurredOn)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stakeholders::Table)
                    .col(big_pk_auto(Stakeholders::Id))
                    .col(string_len_uniq(Stakeholders::ExternalId, 128))
                    .col(big_integer(Stakeholders::AccountId))
                    .col(string_len(Stakeholders::Name, 200))
                    .col(string_len_null(Stakeholders::Title, 200))
                    .col(string_len_null(Stakeholders::Email, 254))
                    .col(string_len_null(Stakeholders::Phone, 50))
                    .col(string_len(Stakeholders::Role, 32))
                    .col(small_integer(Stakeholders::Influence))
                    .col(string_len_null(Stakeholders::Language, 35))
                    .col(string_len(Stakeholders::Consent, 16))
                    .col(timestamp_with_time_zone(Stakeholders::CreatedAt))
                    .col(timestamp_with_time_zone(Stakeholders::UpdatedAt))
                    .foreign_key(&mut fk_account(
                        Stakeholders::Table,
                        Stakeholders::AccountId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stakeholders_account")
                    .table(Stakeholders::Table)
                    .col(Stakeholders::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Competitors::Table)
                    .col(big_pk_auto(Competitors::Id))
                    .col(big_integer(Competitors::AccountId))
                    .col(string_len(Competitors::Name, 200))
                    .col(text_null(Competitors::Products))
                    .col(small_integer_null(Competitors::Strength))
                    .col(text_null(Competitors::Notes))
                    .col(timestamp_with_time_zone(Competitors::CreatedAt))
                    .col(timestamp_with_time_zone(Competitors::UpdatedAt))
                    .foreign_key(&mut fk_account(Competitors::Table, Competitors::AccountId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_competitors_account")
                    .table(Competitors::Table)
                    .col(Competitors::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(big_pk_auto(Orders::Id))
                    .col(string_len_uniq(Orders::ExternalId, 128))
                    .col(big_integer(Orders::AccountId))
                    .col(timestamp_with_time_zone(Orders::OrderedAt))
                    .col(big_integer(Orders::AmountMinor))
                    .col(big_integer_null(Orders::MarginMinor))
                    .col(char_len(Orders::Currency, 3))
                    .col(string_len_null(Orders::OfferCode, 64))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    // No foreign key on purpose: orders are the bulk table (millions of rows),
                    // and a per-row FK trigger halves PostgreSQL's import rate. The only writer
                    // (`orders::service::upsert_rows`) checks and locks the referenced accounts
                    // per chunk, and deleting an account deletes its orders in the same
                    // transaction.
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_account_ordered_at")
                    .table(Orders::Table)
                    .col(Orders::AccountId)
                    .col(Orders::OrderedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(string_len(ApiTokens::Name, 100))
                    .col(string_len_uniq(ApiTokens::Prefix, 32))
                    .col(string_len(ApiTokens::Hash, 64))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big_pk_auto(IdempotencyKeys::Id))
                    .col(big_integer(IdempotencyKeys::TokenId))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(string_len(IdempotencyKeys::Method, 10))
                    .col(text(IdempotencyKeys::Path))
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    .col(small_integer_null(IdempotencyKeys::Status))
                    .col(string_len_null(IdempotencyKeys::ContentType, 200))
                    .col(blob_null(IdempotencyKeys::Body))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TokenId)
                            .to(ApiTokens::Table, ApiTokens::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_idempotency_token_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::TokenId)
                    .col(IdempotencyKeys::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Orders::Table.into_iden(),
            Competitors::Table.into_iden(),
            Stakeholders::Table.into_iden(),
            RelationshipEvents::Table.into_iden(),
            DossierProfiles::Table.into_iden(),
            Accounts::Table.into_iden(),
            Managers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
