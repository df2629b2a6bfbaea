//! `abm jobs list|run`: background jobs.

use std::process::ExitCode;
use std::sync::Arc;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::context::AppContext;

/// Prints a table of every job: name, schedule, last run (status, when, where) and next run.
pub async fn list(settings: Settings, clock: SharedClock) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(AppContext::new(db, settings, clock));
    outln!(
        "{:<20} {:<16} {:<48} NEXT RUN",
        "JOB",
        "SCHEDULE",
        "LAST RUN"
    );
    for j in crate::jobs::list(&ctx).await? {
        let last = j
            .last_run
            .map(|r| {
                format!(
                    "#{} {} {} on {}",
                    r.id,
                    r.status_str(),
                    r.started_at
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    r.instance_id.unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "never".into());
        let next = j
            .next_run
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "on demand".into());
        outln!(
            "{:<20} {:<16} {:<48} {}",
            j.name,
            j.schedule.unwrap_or_else(|| "-".into()),
            last,
            next
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs job `name` now in this process (trigger `cli`), then the runs it queued; prints each
/// run as JSON. Exits 1 when the job cannot start or did not succeed.
pub async fn run(settings: Settings, clock: SharedClock, name: &str) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(AppContext::new(db, settings, clock));
    let run =
        match crate::jobs::worker::run_inline(&ctx, name, crate::jobs::Trigger::Cli, None).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
    let view = crate::jobs::RunView::from(run);
    outln!("{}", serde_json::to_string_pretty(&view)?);
    // Work it handed over (e.g. the recompute after an analysis) stays queued for the workers
    // of `abm serve`; this command runs only what it was asked to.
    Ok(if view.status == crate::jobs::RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
