//! `abm import accounts|stakeholders|orders FILE`: all-or-nothing imports, with a progress bar
//! on a terminal.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::ImportKind;
use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::import::{ImportError, ImportSummary, Progress};

/// Imports `file` as `kind` and prints the summary, or every bad row and exit code 1.
pub async fn import(
    settings: &Settings,
    clock: SharedClock,
    kind: ImportKind,
    file: &Path,
    sheet: Option<String>,
    create_accounts: bool,
    no_progress: bool,
) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let bar = ProgressBar::new(!no_progress, file);
    let started = Instant::now();
    let result = match kind {
        ImportKind::Orders => {
            let opts = crate::orders::import::OrderImportOptions {
                create_accounts,
                sheet,
            };
            crate::orders::import::import_orders(&db, clock.as_ref(), settings, file, &opts, &bar)
                .await
        }
        ImportKind::Accounts => {
            crate::accounts::import::import_accounts(
                &db,
                clock.as_ref(),
                settings,
                file,
                sheet.as_deref(),
                &bar,
            )
            .await
        }
        ImportKind::Stakeholders => {
            crate::accounts::import::import_stakeholders(
                &db,
                clock.as_ref(),
                file,
                sheet.as_deref(),
                &bar,
            )
            .await
        }
    };
    bar.finish();
    if result.is_ok() {
        crate::db::refresh_statistics(&db, &[]).await;
    }
    Ok(report_import(kind, file, result, started))
}

fn report_import(
    kind: ImportKind,
    file: &Path,
    result: Result<(ImportSummary, Vec<String>), ImportError>,
    started: Instant,
) -> ExitCode {
    let what = match kind {
        ImportKind::Accounts => "accounts",
        ImportKind::Stakeholders => "stakeholders",
        ImportKind::Orders => "orders",
    };
    match result {
        Ok((s, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let related = match kind {
                ImportKind::Orders => format!(", {} accounts created", s.created_related),
                ImportKind::Accounts => format!(", {} managers created", s.created_related),
                ImportKind::Stakeholders => String::new(),
            };
            outln!(
                "imported {what} from {}: {} rows, {} written, {} unchanged{related} in {:.2}s ({:.0} rows/s)",
                file.display(),
                s.rows,
                s.written,
                s.unchanged,
                secs,
                s.rows as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(ImportError::Rows { rows, count, shown }) => {
            for e in &shown {
                eprintln!("{}: {e}", file.display());
            }
            if count > shown.len() as u64 {
                eprintln!("… and {} more", count - shown.len() as u64);
            }
            eprintln!(
                "error: {rows} invalid row(s) in {}; nothing was imported",
                file.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was imported");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on a terminal; silent otherwise.
struct ProgressBar(Option<indicatif::ProgressBar>);

impl ProgressBar {
    fn new(enabled: bool, file: &Path) -> Self {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(Some(bar))
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for ProgressBar {
    fn rows(&self, rows: u64, bytes: u64) {
        if let Some(b) = &self.0 {
            if bytes > 0 {
                b.set_position(bytes);
            }
            b.set_message(format!("{rows} rows"));
        }
    }
}
