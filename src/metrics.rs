//! Prometheus metrics of one process: HTTP requests by route template and status, request
//! latency, job runs by job and outcome, job duration, and database pool use. Each
//! [`Metrics`] has its own registry (no global state), so several applications in one test
//! process count apart. The `prometheus` crate writes the exposition format.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::{DatabaseBackend, DatabaseConnection};

/// The collectors, registered in a registry of their own.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    pool: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("abm".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template, method and status",
            ),
            &["route", "method", "status"],
        );
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency, by route template and method",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        );
        let job_runs = IntCounterVec::new(
            Opts::new("job_runs_total", "Finished job runs, by job and outcome"),
            &["job", "outcome"],
        );
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Job run duration, by job").buckets(vec![
                0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
            &["job"],
        );
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections, by state (open, idle, in_use, max)",
            ),
            &["state"],
        );
        // The names are fixed and distinct, so these cannot fail; a failure would only mean a
        // missing metric, never a stopped service.
        let (http_requests, http_duration, job_runs, job_duration, pool) =
            match (http_requests, http_duration, job_runs, job_duration, pool) {
                (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e),
                _ => unreachable!("metric definitions are static and valid"),
            };
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(job_runs.clone()),
            Box::new(job_duration.clone()),
            Box::new(pool.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                tracing::warn!(error = %e, "could not register a metric");
            }
        }
        Self {
            registry,
            http_requests,
            http_duration,
            job_runs,
            job_duration,
            pool,
        }
    }

    /// Counts one answered request. `route` is the route template (`/api/v1/accounts/{id}`),
    /// never the raw path, so ids do not explode the label set.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Counts one finished job run.
    pub fn job_finished(&self, job: &str, outcome: &str, seconds: f64) {
        self.job_runs.with_label_values(&[job, outcome]).inc();
        self.job_duration.with_label_values(&[job]).observe(seconds);
    }

    /// The exposition text, with the pool gauges read now.
    pub fn render(&self, db: &DatabaseConnection, max_connections: u32) -> String {
        let (size, idle) = match db.get_database_backend() {
            DatabaseBackend::Sqlite => {
                let p = db.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            DatabaseBackend::Postgres => {
                let p = db.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => (0, 0),
        };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool.with_label_values(&["open"]).set(i64::from(size));
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool
            .with_label_values(&["in_use"])
            .set((i64::from(size) - idle).max(0));
        self.pool
            .with_label_values(&["max"])
            .set(i64::from(max_connections));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
