//! Database connection and the few places where SQLite and PostgreSQL differ.
//! Everything else uses portable sea-orm / sea-query code.

pub mod page;
pub mod pg;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::{DatabaseSettings, redact_url};

/// Opens a pool. For SQLite the file's folder is created, WAL mode and foreign keys are on.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = sqlite_path(&settings.url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create database folder {}: {e}", dir.display()))?;
    }
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // A larger page cache keeps index pages of big imports in memory
                // (the default is 2 MB); pages are only allocated as they are used.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory")
        });
    Database::connect(opts).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to database {}: {e}",
            redact_url(&settings.url)
        )
    })
}

/// Applies all pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Cheap liveness query used by `/health/ready`.
pub async fn ping(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so concurrent writers queue on `busy_timeout` instead of failing
/// when a read inside the transaction later turns into a write.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if is_postgres(db) {
        db.begin().await
    } else {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    }
}

/// The `n`-th (from 1) bind placeholder of a hand-written statement: `$n` on PostgreSQL, `?`
/// on SQLite.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}

/// Whether a database error is transient contention (SQLite busy, PostgreSQL deadlock or
/// serialization failure): the request may simply be retried.
pub fn is_contention(e: &DbErr) -> bool {
    let text = e.to_string();
    text.contains("database is locked")
        || text.contains("deadlock detected")
        || text.contains("could not serialize access")
        || text.contains("(code: 5)")
        || text.contains("(code: 517)")
}

/// Whether PostgreSQL refused a text or JSON value because it holds NUL (U+0000), which its
/// `text` and `json` types cannot store: a client's mistake, not the server's.
pub fn is_unstorable_text(e: &DbErr) -> bool {
    let text = e.to_string();
    (text.contains("invalid byte sequence for encoding") && text.contains("0x00"))
        || text.contains("unsupported Unicode escape sequence")
}

/// Whether this connection talks to PostgreSQL.
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// After a bulk load on PostgreSQL, refreshes the planner's statistics of `tables` (all
/// tables when empty). Without them a freshly loaded table looks empty to the planner, which
/// then scans 400,000 stakeholders for 1,000 accounts' rows (125 ms instead of 7 ms, measured),
/// until autovacuum gets to it, and never where autovacuum is off. SQLite plans without
/// statistics well enough; nothing happens there. A failure is logged, not returned: the
/// load itself succeeded.
pub async fn refresh_statistics(db: &impl ConnectionTrait, tables: &[&str]) {
    if !is_postgres(db) {
        return;
    }
    let sql = if tables.is_empty() {
        "ANALYZE".to_string()
    } else {
        format!("ANALYZE {}", tables.join(", "))
    };
    if let Err(e) = db.execute_unprepared(&sql).await {
        tracing::warn!(error = %e, "refreshing the planner statistics failed");
    }
}

/// Largest number of bind parameters one statement may carry on this backend.
pub fn max_bind_params(db: &impl ConnectionTrait) -> usize {
    match db.get_database_backend() {
        DbBackend::Postgres => 65_000,
        // SQLite's SQLITE_MAX_VARIABLE_NUMBER is 32,766 since 3.32.
        _ => 32_000,
    }
}

/// Splits `len` rows into statements of `max` rows (at least 1), then the rest in powers of two
/// (`300, 128` → 128, 128, 32, 8, 4). Each connection keeps every statement shape it runs
/// prepared, and a multi-row insert of n rows is a shape of its own: batches of varying sizes
/// would fill the cache with large compiled statements (measured on SQLite: peak RSS growing
/// from 200 to 470 MiB over a 100k-message tick). With these sizes an insert has at most
/// `log2(max) + 1` shapes.
pub fn statement_sizes(len: usize, max: usize) -> Vec<std::ops::Range<usize>> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while len - start >= max {
        out.push(start..start + max);
        start += max;
    }
    let mut size = max.next_power_of_two();
    while start < len {
        size = size.min(len - start);
        // The largest power of two that fits what is left.
        let fit = 1usize << (usize::BITS - 1 - size.leading_zeros());
        out.push(start..start + fit);
        start += fit;
        size = fit;
    }
    out
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::statement_sizes;

    #[test]
    fn statement_sizes_cover_the_rows_in_few_shapes() {
        let lens = |len, max| -> Vec<usize> {
            statement_sizes(len, max).iter().map(|r| r.len()).collect()
        };
        assert_eq!(lens(300, 128), [128, 128, 32, 8, 4]);
        assert_eq!(lens(0, 128), Vec::<usize>::new());
        assert_eq!(lens(7, 0), [1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(lens(1000, 1000), [1000]);
        assert_eq!(lens(999, 1000), [512, 256, 128, 64, 32, 4, 2, 1]);
        let mut shapes = std::collections::HashSet::new();
        for len in 0..3000 {
            let ranges = statement_sizes(len, 100);
            // Contiguous, in order, and covering every row.
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next);
                assert!(!r.is_empty() && r.len() <= 100);
                next = r.end;
                shapes.insert(r.len());
            }
            assert_eq!(next, len);
        }
        assert_eq!(
            shapes.len(),
            8,
            "100 and the powers of two below it: {shapes:?}"
        );
    }
}
