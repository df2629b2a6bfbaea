//! `abm token create|list|revoke`: API tokens.

use std::process::ExitCode;

use super::migrate::connect_migrated;
use crate::clock::SharedClock;
use crate::config::Settings;

/// Creates a token named `name` and prints its secret once (on stdout; the note on stderr).
pub async fn create(
    settings: &Settings,
    clock: SharedClock,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    let (row, token) = crate::auth::create_token(&db, clock.as_ref(), name).await?;
    eprintln!(
        "created token `{}` (prefix {}); it is shown only now:",
        row.name, row.prefix
    );
    outln!("{}", token.0);
    Ok(ExitCode::SUCCESS)
}

/// Prints one line per token: prefix, name, creation time and whether it is revoked.
pub async fn list(settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    for t in crate::auth::list_tokens(&db).await? {
        outln!(
            "{}\t{}\tcreated {}\t{}",
            t.prefix,
            t.name,
            t.created_at.format("%Y-%m-%d %H:%M"),
            if t.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Revokes the token with this prefix (or full text); exits 1 when there is none.
pub async fn revoke(
    settings: &Settings,
    clock: SharedClock,
    prefix: &str,
) -> anyhow::Result<ExitCode> {
    let db = connect_migrated(settings).await?;
    if !crate::auth::revoke_token(&db, clock.as_ref(), prefix).await? {
        eprintln!("error: no token with prefix `{prefix}`");
        return Ok(ExitCode::FAILURE);
    }
    outln!("revoked");
    Ok(ExitCode::SUCCESS)
}
