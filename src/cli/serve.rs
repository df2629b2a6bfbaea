//! `abm serve`: the service itself.

use std::process::ExitCode;

use crate::clock::SharedClock;
use crate::config::Settings;

/// Runs the service in the given roles (default: config `server.roles`) until SIGTERM or
/// SIGINT. A bad `--role` exits 2.
pub async fn serve(
    mut settings: Settings,
    clock: SharedClock,
    roles: Vec<String>,
) -> anyhow::Result<ExitCode> {
    if !roles.is_empty() {
        match crate::config::Roles::parse(roles.iter().map(String::as_str)) {
            Ok(r) => settings.server.roles = r.names().join(","),
            Err(e) => {
                eprintln!("error: --role: {e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    crate::telemetry::init(&settings.log);
    let app = crate::startup::Application::build(settings.clone(), clock).await?;
    if settings.server.roles().api {
        tracing::info!(
            address = %format!("http://{}:{}", settings.server.host, app.port()),
            database = %crate::config::redact_url(&settings.database.url),
            "abm is listening; API docs at /docs/"
        );
    }
    app.run().await?;
    Ok(ExitCode::SUCCESS)
}
