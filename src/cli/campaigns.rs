//! `abm campaigns schedule KEY --from --to` and `abm campaigns tick`.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::migrate::connect_migrated;
use crate::campaigns::CampaignsError;
use crate::clock::SharedClock;
use crate::config::Settings;

/// An RFC 3339 instant or a date (midnight UTC).
fn instant(flag: &str, s: &str) -> Result<DateTime<Utc>, String> {
    crate::campaigns::timing::parse_instant(s)
        .ok_or_else(|| format!("{flag}: expected RFC 3339 (2026-12-01T09:00:00Z) or YYYY-MM-DD"))
}

/// Prints the schedule preview: a table (or the JSON document with `json`).
pub async fn schedule(
    settings: Settings,
    clock: SharedClock,
    key: &str,
    from: Option<String>,
    to: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let parse = |flag: &str, v: Option<String>| v.map(|s| instant(flag, &s)).transpose();
    let (from, to) = match (parse("--from", from), parse("--to", to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(crate::context::AppContext::new(db, settings, clock));
    let preview = match crate::campaigns::preview::schedule(&ctx, key, from, to).await {
        Ok(p) => p,
        Err(CampaignsError::Database(e)) => return Err(e.into()),
        Err(CampaignsError::Invalid(errors)) => {
            for e in errors {
                eprintln!("error: {}: {}", e.path.trim_start_matches('/'), e.message);
            }
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&preview)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("account_id\tstakeholder_id\tstep\toutcome\tdue_at\tlocal_time\ttimezone\treason");
    for i in &preview.items {
        outln!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            i.account_id,
            i.stakeholder_id.map(|s| s.to_string()).unwrap_or_default(),
            i.step,
            i.outcome,
            i.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            i.local_time,
            i.timezone,
            i.reason
        );
    }
    for n in &preview.notes {
        eprintln!("note: {n}");
    }
    eprintln!(
        "{} lines for {} accounts, {} to {}{}",
        preview.items.len(),
        preview.accounts,
        preview
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        preview
            .to
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if preview.truncated {
            " (truncated)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs the dispatcher once and prints what it did as JSON.
pub async fn tick(settings: Settings, clock: SharedClock) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(crate::context::AppContext::new(db, settings, clock));
    let report = crate::campaigns::dispatch::tick(&ctx).await?;
    outln!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
