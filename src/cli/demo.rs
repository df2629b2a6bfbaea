//! `abm demo`: deterministic synthetic data.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;

/// Generates `accounts` accounts with dossiers and two years of orders ending `end` (default:
/// today) from `seed` into the database and/or `orders_csv` (only there with `csv_only`), and
/// prints what it made.
pub async fn demo(
    settings: &Settings,
    clock: SharedClock,
    accounts: u32,
    seed: u64,
    end: Option<String>,
    orders_csv: Option<PathBuf>,
    csv_only: bool,
) -> anyhow::Result<ExitCode> {
    let end = match end {
        Some(e) => crate::domain::parse_date(&e).map_err(|m| anyhow::anyhow!("--end: {m}"))?,
        None => clock.now().date_naive(),
    };
    let opts = crate::demo::DemoOptions {
        accounts,
        seed,
        end,
        orders_csv,
    };
    let started = Instant::now();
    let db = if csv_only {
        None
    } else {
        Some(connect_migrated(settings).await?)
    };
    let stats = crate::demo::generate(db.as_ref(), clock.as_ref(), settings, &opts).await?;
    // The win-back story: offers and the campaigns the default routes name, active, so the
    // first analysis run enrols the lost accounts.
    let winback = match db {
        Some(db) => {
            let ctx = crate::context::AppContext::new(db, settings.clone(), clock.clone());
            Some(crate::winback::defaults::define(&ctx).await?)
        }
        None => None,
    };
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "demo data: {} accounts, {} managers, {} stakeholders, {} orders in {:.1}s (seed {seed}, history ending {end})",
        stats.accounts,
        stats.managers,
        stats.stakeholders,
        stats.orders,
        secs
    );
    if let Some(w) = winback {
        outln!(
            "win-back: {} offers and {} active campaigns defined (winback-pillar, winback-discount, winback-gift); \
             run `abm analyze` to find the lost accounts",
            w.offers,
            w.campaigns
        );
    }
    Ok(ExitCode::SUCCESS)
}
