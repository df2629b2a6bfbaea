//! The application context: everything a request handler, a CLI command, a scheduled job or a
//! worker needs, with no HTTP type in it. Tests build one against a test database without
//! starting a server.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::config::Settings;

/// Database, settings, clock and template library, shared by every role of the process.
pub struct AppContext {
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub clock: SharedClock,
    /// Compiled templates (shipped files read at start-up, API ones from the database).
    pub templates: Arc<crate::content::library::Cache>,
    /// Names this process in job leases and job runs: `host:pid:random`, unique per start.
    pub instance_id: String,
    /// The jobs this process can run (`crate::jobs::builtin` plus any a test registers).
    pub jobs: crate::jobs::Registry,
    /// In-process side of the jobs: worker wake-up, held runs, shutdown tokens.
    pub jobs_rt: crate::jobs::Runtime,
    /// Prometheus collectors of this process.
    pub metrics: crate::metrics::Metrics,
    /// The runtime the context was built on (the process's main, multi-threaded one): inline
    /// job runs started from an HTTP worker thread execute there.
    pub runtime: Option<tokio::runtime::Handle>,
    /// Tracking-link signer (loaded on first use: the secret may live in the database).
    pub tracking: tokio::sync::OnceCell<crate::tracking::Links>,
    /// The writer of opens and clicks (started on first use).
    pub hits: std::sync::OnceLock<crate::tracking::sink::Sink>,
    /// The port the API listens on, once bound.
    pub http_port: std::sync::OnceLock<u16>,
}

impl AppContext {
    /// Builds a context over an already connected (and migrated) database; reads the template
    /// folder named by the settings.
    pub fn new(db: DatabaseConnection, settings: Settings, clock: SharedClock) -> Self {
        let templates = Arc::new(crate::content::library::Cache::new(&settings.templates.dir));
        let jobs = crate::jobs::builtin::registry(&settings);
        crate::tracking::engagement::configure(&settings.engagement);
        Self {
            db,
            settings,
            clock,
            templates,
            instance_id: new_instance_id(),
            jobs,
            jobs_rt: crate::jobs::Runtime::default(),
            metrics: crate::metrics::Metrics::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            tracking: tokio::sync::OnceCell::new(),
            hits: std::sync::OnceLock::new(),
            http_port: std::sync::OnceLock::new(),
        }
    }

    /// The same context under another instance id: two "processes" in one test.
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

fn new_instance_id() -> String {
    use rand::Rng;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(40)
        .collect();
    let tag: u32 = rand::rng().random();
    format!("{host}:{}:{tag:08x}", std::process::id())
}
