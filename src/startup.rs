//! Builds the application for the chosen roles: the HTTP server (`api`), the job worker
//! (`worker`) and the cron scheduler (`scheduler`), all over one [`AppContext`].
//! `Application::build` binds the listeners first and reports the real ports, so tests can ask
//! for port 0. [`Application::run`] serves until SIGTERM or SIGINT, then drains: the HTTP
//! server stops accepting and finishes its requests, the scheduler stops, and running jobs get
//! `server.shutdown_grace_seconds` to finish before they are interrupted and queued again.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use sea_orm::DatabaseConnection;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::clock::SharedClock;
use crate::config::{Roles, Settings};
use crate::context::AppContext;
use crate::error::ApiError;

/// A built application: listeners bound, nothing running yet.
pub struct Application {
    ctx: Arc<AppContext>,
    roles: Roles,
    port: Option<u16>,
    metrics_port: Option<u16>,
    server: Option<Server>,
    metrics_server: Option<Server>,
}

impl Application {
    /// Connects to the database (running migrations if configured) and builds the roles of
    /// `server.roles`.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            crate::db::migrate(&db).await?;
        }
        let roles = settings.server.roles();
        Self::build_with_context(Arc::new(AppContext::new(db, settings, clock)), roles)
    }

    /// The HTTP API alone over an already connected, migrated database (tests: jobs are then
    /// driven by hand with `crate::jobs::worker::run_once`).
    pub fn build_with_db(
        settings: Settings,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let roles = Roles {
            api: true,
            ..Roles::default()
        };
        Self::build_with_context(Arc::new(AppContext::new(db, settings, clock)), roles)
    }

    /// Binds the listeners the roles need.
    pub fn build_with_context(ctx: Arc<AppContext>, roles: Roles) -> anyhow::Result<Self> {
        let settings = &ctx.settings;
        let separate_metrics =
            settings.metrics.enabled && !settings.metrics.listen.trim().is_empty();
        let (server, port) = if roles.api {
            let address = format!("{}:{}", settings.server.host, settings.server.port);
            let listener = TcpListener::bind(&address)
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
            let port = listener.local_addr()?.port();
            // Tracking links name the port really bound (server.port may be 0).
            let _ = ctx.http_port.set(port);
            (
                Some(api_server(
                    ctx.clone(),
                    listener,
                    settings.metrics.enabled && !separate_metrics,
                )?),
                Some(port),
            )
        } else {
            (None, None)
        };
        let (metrics_server, metrics_port) = if separate_metrics {
            let address = settings.metrics.listen.trim().to_string();
            let listener = TcpListener::bind(&address)
                .map_err(|e| anyhow::anyhow!("cannot listen on {address} for metrics: {e}"))?;
            let port = listener.local_addr()?.port();
            (Some(metrics_server(ctx.clone(), listener)?), Some(port))
        } else {
            (None, None)
        };
        Ok(Self {
            ctx,
            roles,
            port,
            metrics_port,
            server,
            metrics_server,
        })
    }

    /// The API port (0 when the `api` role is off).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(0)
    }

    /// The port of the separate metrics listener, when `metrics.listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The application context shared by every role.
    pub fn context(&self) -> Arc<AppContext> {
        self.ctx.clone()
    }

    /// The context as handlers receive it.
    pub fn state(&self) -> web::Data<AppContext> {
        web::Data::from(self.ctx.clone())
    }

    /// Serves HTTP only, until the server is stopped (tests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(tokio::spawn);
        if let Some(server) = self.server {
            server.await?;
        }
        if let Some(m) = metrics {
            m.abort();
        }
        Ok(())
    }

    /// Runs every role until SIGTERM or SIGINT, then shuts down gracefully (see the module
    /// documentation). Returns once everything has stopped.
    pub async fn run(self) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let grace = Duration::from_secs(ctx.settings.server.shutdown_grace_seconds);
        tracing::info!(roles = ?self.roles.names(), instance = %ctx.instance_id, "starting");
        let mut handles = Vec::new();
        let mut servers = Vec::new();
        for server in [self.server, self.metrics_server].into_iter().flatten() {
            handles.push(server.handle());
            servers.push(tokio::spawn(server));
        }
        let worker = self
            .roles
            .worker
            .then(|| crate::jobs::worker::spawn_loop(ctx.clone()));
        let sender = if self.roles.worker {
            crate::delivery::sender::spawn_loop(ctx.clone())
        } else {
            None
        };
        let scheduler = if self.roles.scheduler {
            crate::jobs::schedule::start(ctx.clone())
        } else {
            None
        };

        let server_ended = async {
            if servers.is_empty() {
                std::future::pending::<()>().await;
            }
            for s in servers.iter_mut() {
                match s.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "HTTP server stopped"),
                    Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
                }
            }
        };
        tokio::select! {
            signal = shutdown_signal() => tracing::info!(signal, "shutting down"),
            () = server_ended => tracing::warn!("HTTP server ended; shutting down"),
        }

        let started = Instant::now();
        // Stop taking work: no new connections, no cron ticks, no new claims.
        ctx.jobs_rt.stopping.cancel();
        for h in &handles {
            h.pause().await;
        }
        // Jobs first, HTTP after: stopping the HTTP workers shuts their runtimes down, and
        // with them the pool connections opened there, which running jobs may be using.
        let interrupted = crate::jobs::worker::shutdown(&ctx, grace).await;
        for h in &handles {
            h.stop(true).await;
        }
        // Every open and click the stopped HTTP server accepted is written before the exit.
        crate::tracking::sink::flush_if_started(&ctx).await;
        if let Some(s) = scheduler {
            s.abort();
        }
        if let Some(w) = worker {
            w.abort();
        }
        if let Some(s) = sender {
            s.abort();
        }
        if !interrupted.is_empty() {
            tracing::warn!(runs = ?interrupted, "job runs interrupted and queued again");
        }
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

fn workers(ctx: &AppContext) -> usize {
    match ctx.settings.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    }
}

fn api_server(
    ctx: Arc<AppContext>,
    listener: TcpListener,
    with_metrics: bool,
) -> anyhow::Result<Server> {
    let max_body = ctx.settings.server.max_body_bytes;
    let grace = ctx.settings.server.shutdown_grace_seconds;
    let openapi = api::openapi(&ctx.settings.api);
    let methods = web::Data::new(api::methods::MethodIndex::from_openapi(&openapi));
    let workers = workers(&ctx);
    let state = web::Data::from(ctx);
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(methods.clone())
            .wrap(actix_web::middleware::from_fn(
                api::problems::problem_bodies,
            ))
            .wrap(actix_web::middleware::from_fn(count_requests))
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::PathConfig::default().error_handler(|_, req| {
                ApiError::NotFound(format!("{} not found", req.path())).into()
            }));
        let app = if with_metrics {
            app.route("/metrics", web::get().to(metrics))
        } else {
            app
        };
        app.service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi.clone()))
            .service(web::redirect("/docs", "/docs/"))
            .into_utoipa_app()
            .configure(api::configure)
            .into_app()
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(grace)
    .listen(listener)?
    .run();
    Ok(server)
}

fn metrics_server(ctx: Arc<AppContext>, listener: TcpListener) -> anyhow::Result<Server> {
    let state = web::Data::from(ctx);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// `GET /metrics`: Prometheus text exposition format, no token.
async fn metrics(state: api::state::State) -> HttpResponse {
    let body = state
        .metrics
        .render(&state.db, state.settings.database.max_connections);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// Counts every answered request by route template (never the raw path) and status.
async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<api::state::State>().cloned();
    // Only the standard methods become label values: anyone can send any method name, and
    // each new label value is a new time series.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        state.metrics.http_request(
            &route,
            &method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let allowed = req
        .app_data::<web::Data<api::methods::MethodIndex>>()
        .and_then(|index| index.allowed(req.path()));
    if let Some(allowed) = allowed
        && !allowed.is_empty()
        && !allowed.contains(&req.method().as_str())
    {
        return api::methods::method_not_allowed(req.method().as_str(), req.path(), &allowed);
    }
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}
