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
    let bytes = crate::analytics::report::workbook(&db, &run, &churn)
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
