//! Schema migrations for abm. Each migration is one schema change; a migration that has
//! landed on `main` is never edited again — add a new one instead.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_core_tables;
mod m20261127_000002_create_analytics_tables;
mod m20261127_000003_create_content_tables;
mod m20261127_000004_unique_open_membership;
mod m20261201_000005_create_job_runs;
mod m20261201_000006_create_campaign_tables;
mod m20261201_000007_create_webhook_endpoints;
mod m20261201_000008_create_delivery_attempts;
mod m20261201_000009_create_events;
mod m20261201_000010_tracking;
mod m20261201_000011_sales_webhooks;
mod m20261201_000012_snapshot_engagement;
mod m20261201_000013_winback_marks;
mod m20261201_000014_offers;
mod m20261201_000015_offer_codes;
mod m20261201_000016_winback_recoveries;

/// Runs every migration in order; used by `abm migrate`, by start-up and by the tests.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_core_tables::Migration),
            Box::new(m20261127_000002_create_analytics_tables::Migration),
            Box::new(m20261127_000003_create_content_tables::Migration),
            Box::new(m20261127_000004_unique_open_membership::Migration),
            Box::new(m20261201_000005_create_job_runs::Migration),
            Box::new(m20261201_000006_create_campaign_tables::Migration),
            Box::new(m20261201_000007_create_webhook_endpoints::Migration),
            Box::new(m20261201_000008_create_delivery_attempts::Migration),
            Box::new(m20261201_000009_create_events::Migration),
            Box::new(m20261201_000010_tracking::Migration),
            Box::new(m20261201_000011_sales_webhooks::Migration),
            Box::new(m20261201_000012_snapshot_engagement::Migration),
            Box::new(m20261201_000013_winback_marks::Migration),
            Box::new(m20261201_000014_offers::Migration),
            Box::new(m20261201_000015_offer_codes::Migration),
            Box::new(m20261201_000016_winback_recoveries::Migration),
        ]
    }
}
