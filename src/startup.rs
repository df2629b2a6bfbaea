//! Builds the application: database, migrations, HTTP server. `Application::build` binds the
//! listener first and reports the real port, so tests can ask for port 0.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use sea_orm::DatabaseConnection;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::context::AppContext;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::ApiError;

/// A bound, ready-to-run HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppContext>,
}

impl Application {
    /// Connects to the database (running migrations if configured) and binds the listener.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            crate::db::migrate(&db).await?;
        }
        Self::build_with_db(settings, db, clock)
    }

    /// Binds the listener for an already connected, migrated database.
    pub fn build_with_db(
        settings: Settings,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let port = listener.local_addr()?.port();
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let max_body = settings.server.max_body_bytes;
        let state = web::Data::new(AppContext::new(db, settings, clock));
        let openapi = api::openapi();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(web::PathConfig::default().error_handler(|_, req| {
                    ApiError::NotFound(format!("{} not found", req.path())).into()
                }))
                .service(
                    SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi.clone()),
                )
                .service(web::redirect("/docs", "/docs/"))
                .into_utoipa_app()
                .configure(api::configure)
                .into_app()
                .default_service(web::to(not_found))
        })
        .workers(workers)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state (database, settings, clock), e.g. for tests to inspect the database.
    pub fn state(&self) -> web::Data<AppContext> {
        self.state.clone()
    }

    /// Serves until the process receives SIGINT/SIGTERM (actix handles the signals), with the
    /// scheduled jobs running beside it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves like [`Application::run_until_stopped`], and runs the scheduled jobs
    /// (`analytics.schedule`) until the server stops.
    pub async fn run_with_scheduler(self) -> anyhow::Result<()> {
        let mut sched = crate::scheduler::start(self.state.clone()).await?;
        let result = self.server.await;
        if let Some(s) = sched.as_mut() {
            let _ = s.shutdown().await;
        }
        Ok(result?)
    }
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}
