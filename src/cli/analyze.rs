//! `abm analyze`: an analysis run of the database, or the offline analysis of an orders CSV.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::migrate::connect_migrated;
use super::output::report_input_error;
use crate::analytics::engine::{AnalyzeOptions, analyze, load, matrix_text, write_analysis};
use crate::clock::SharedClock;
use crate::config::{Measure, Settings};

/// Runs the `analysis` job now (trigger `cli`) and the segment recompute it hands over, then
/// prints
/// `analysis run ID as of DATE: SUMMARY`.
pub async fn database(settings: Settings, clock: SharedClock) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(crate::context::AppContext::new(db, settings, clock));
    let run = crate::analytics::service::run_now(&ctx, crate::jobs::Trigger::Cli).await?;
    // The segment recompute the run queued (taken from the queue, so it runs once); when a
    // recompute is running elsewhere, the queued one is left to the workers.
    match crate::jobs::worker::run_inline(
        &ctx,
        crate::jobs::names::SEGMENTS_RECOMPUTE,
        crate::jobs::Trigger::Cli,
        None,
    )
    .await
    {
        Ok(_) => {}
        Err(crate::jobs::JobError::Busy(_)) => {
            eprintln!("segments: a recompute is running elsewhere; another one is queued")
        }
        Err(e) => return Err(e.into()),
    }
    outln!(
        "analysis run {} as of {}: {}",
        run.id,
        run.as_of,
        run.summary.map(|s| s.to_string()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Analyses the orders CSV `orders` without a database: writes one row per account to `out`
/// and prints the ABC-XYZ matrix. Exits 1 (listing the bad rows) when the input is invalid.
pub fn offline(
    settings: &Settings,
    orders: &Path,
    out: &Path,
    as_of: Option<String>,
    months: Option<u32>,
    measure: Option<Measure>,
) -> anyhow::Result<ExitCode> {
    let cfg = &settings.analytics;
    let measure = measure.unwrap_or(cfg.measure);
    let as_of = as_of
        .map(|d| crate::domain::parse_date(&d).map_err(|m| anyhow::anyhow!("--as-of: {m}")))
        .transpose()?;
    let book = match load(
        orders,
        cfg.month_timezone.0,
        measure == Measure::Profit,
        as_of,
    ) {
        Ok(b) => b,
        Err(e) => return Ok(report_input_error(orders, e)),
    };
    let opts = AnalyzeOptions {
        as_of,
        window_end: None,
        months,
        measure,
    };
    let analysis = analyze(&book, &opts, cfg).map_err(|e| anyhow::anyhow!(e))?;
    write_analysis(&analysis, out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    out!("{}", matrix_text(&analysis, measure));
    if let Some(e) = &analysis.fit_error {
        eprintln!("warning: the BG/NBD model could not be fitted ({e}); churn uses the rule only");
    }
    Ok(ExitCode::SUCCESS)
}
