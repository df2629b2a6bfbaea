//! `abm segments recompute`: segment membership.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;

/// Recomputes every segment now and prints `key: N members (E entered, L left)` per segment.
pub async fn recompute(settings: Settings, clock: SharedClock) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(&settings).await?;
    let ctx = Arc::new(crate::context::AppContext::new(db, settings, clock));
    let started = Instant::now();
    let changes = crate::segments::recompute_now(&ctx, crate::jobs::Trigger::Cli, None).await?;
    for c in &changes {
        outln!(
            "{}: {} members ({} entered, {} left)",
            c.key,
            c.members,
            c.entered,
            c.left
        );
    }
    eprintln!(
        "{} segments recomputed in {:.1} s",
        changes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
