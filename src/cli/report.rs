//! `abm report abc-xyz` and `abm report campaign`: Excel workbooks of an analysis run and of a
//! campaign's report.

use std::path::Path;
use std::process::ExitCode;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;

/// Writes the workbook of run `run_id` (default: the latest succeeded run) to `xlsx`; exits 1
/// when there is no such succeeded run.
pub async fn abc_xyz(
    settings: &Settings,
    clock: SharedClock,
    xlsx: &Path,
    run_id: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let Some(run) = crate::analytics::service::latest_succeeded(&db, run_id).await? else {
        eprintln!(
            "error: no succeeded analysis run{} (run `abm analyze` first)",
            run_id.map(|i| format!(" {i}")).unwrap_or_default()
        );
        return Ok(ExitCode::FAILURE);
    };
    let churn = crate::analytics::report::churn_rows(&db, clock.now(), None, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let winback = crate::winback::report::default_report(&db, settings, clock.now()).await?;
    let bytes = crate::analytics::report::workbook(&db, &run, &churn, Some(&winback))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(xlsx, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", xlsx.display()))?;
    outln!(
        "wrote {} (run {} as of {})",
        xlsx.display(),
        run.id,
        run.as_of
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the report of campaign `key` to `xlsx`; exits 1 when there is no such campaign.
pub async fn campaign(
    settings: &Settings,
    clock: SharedClock,
    key: &str,
    xlsx: &Path,
) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let report = match crate::campaigns::report::report(&db, key, clock.now()).await {
        Ok(r) => r,
        Err(e @ crate::campaigns::CampaignsError::NotFound(_)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let bytes = crate::campaigns::report::workbook(&report)?;
    std::fs::write(xlsx, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", xlsx.display()))?;
    outln!(
        "wrote {} (campaign {}: {} sent, {} delivered)",
        xlsx.display(),
        report.campaign,
        report.total.sent,
        report.total.delivered
    );
    Ok(ExitCode::SUCCESS)
}

/// The parameters of `abm report winback`, as typed.
pub struct WinbackArgs {
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: Option<String>,
    pub currency: Option<String>,
}

/// Writes the win-back report to `xlsx`; exits 2 on a bad parameter (named).
pub async fn winback(
    settings: &Settings,
    clock: SharedClock,
    xlsx: &Path,
    args: &WinbackArgs,
) -> anyhow::Result<ExitCode> {
    let currency = match &args.currency {
        None => settings.defaults.currency.code().to_string(),
        Some(c) => match crate::domain::Currency::parse(c) {
            Ok(c) => c.code().to_string(),
            Err(e) => {
                eprintln!("error: --currency: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let params = match crate::winback::report::ReportParams::parse(
        currency,
        args.from.as_deref(),
        args.to.as_deref(),
        args.by.as_deref(),
        clock.now().date_naive(),
    ) {
        Ok(p) => p,
        Err(crate::error::ApiError::Validation(errors)) => {
            for e in errors {
                eprintln!("error: --{}: {}", e.path, e.message);
            }
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    let db = connect_migrated(settings).await?;
    let report = crate::winback::report::report(&db, &settings.winback, &params).await?;
    let bytes = crate::winback::report::workbook(&report)?;
    std::fs::write(xlsx, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", xlsx.display()))?;
    outln!(
        "wrote {} (win-back {} to {}, {}: {} lost, {} recovered, revenue {}, offer cost {})",
        xlsx.display(),
        report.from,
        report.to,
        report.currency,
        report.total.lost,
        report.total.recovered,
        report.total.recovered_revenue,
        report.total.offer_cost
    );
    Ok(ExitCode::SUCCESS)
}
