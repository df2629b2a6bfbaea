//! `abm migrate`, and the connect-and-migrate step the database commands start with.

use std::process::ExitCode;

use crate::config::Settings;

/// Applies pending migrations and prints `migrations applied`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = crate::db::connect(&settings.database).await?;
    crate::db::migrate(&db).await?;
    outln!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// Connects to the configured database and applies pending migrations.
pub async fn connect_migrated(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = crate::db::connect(&settings.database).await?;
    crate::db::migrate(&db).await?;
    Ok(db)
}
