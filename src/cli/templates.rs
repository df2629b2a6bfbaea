//! `abm templates lint|preview`: the shipped templates.

use std::path::PathBuf;
use std::process::ExitCode;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;

/// Lints every template in `dir` (default: config `templates.dir`), printing each problem as
/// `file:line: message`; exits 1 when there is any.
pub fn lint(settings: &Settings, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| settings.templates.dir.clone());
    let problems = crate::content::lint::lint_dir(&dir);
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() {
        let n = crate::content::load_dir(&dir).templates.len();
        outln!("{n} templates in {}: no problems", dir.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}

/// Chooses and renders the template for an account (and stakeholder) and prints the same JSON
/// as `POST /api/v1/templates/preview`; exits 1 on invalid input or when nothing fits.
pub async fn preview(
    settings: Settings,
    clock: SharedClock,
    account: String,
    purpose: String,
    stakeholder: Option<i64>,
    channel: Option<String>,
    offer: Option<String>,
) -> anyhow::Result<ExitCode> {
    let offer = offer
        .map(|o| serde_json::from_str(&o).map_err(|e| anyhow::anyhow!("--offer: {e}")))
        .transpose()?;
    let db = connect_migrated(&settings).await?;
    let ctx = crate::context::AppContext::new(db, settings, clock);
    let input = crate::content::service::PreviewInput {
        account,
        stakeholder,
        purpose,
        channel,
        offer,
        event: None,
    };
    match crate::content::service::preview(&ctx, input).await {
        Ok(view) => {
            outln!("{}", serde_json::to_string_pretty(&view)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::content::ContentError::Invalid(errors)) => {
            eprintln!("error: the input has invalid fields");
            for fe in errors {
                eprintln!("  {}: {}", fe.path, fe.message);
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
