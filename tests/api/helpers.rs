//! Test harness: `spawn_app(backend)` starts the real application on port 0 against a fresh
//! database — a temporary SQLite file, or a throwaway PostgreSQL database on the server named
//! by `TEST_DATABASE_URL` — with a controllable clock and a valid API token. Everything it
//! creates is removed when the `TestApp` is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use abm::clock::ManualClock;
use abm::config::{ConfigSource, Settings};
use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `TEST_DATABASE_URL` is set; `None` (test skipped) otherwise.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url)),
            _ => {
                eprintln!("TEST_DATABASE_URL is not set; skipping the PostgreSQL variant");
                None
            }
        }
    }
}

/// Runs each listed `async fn name(backend: Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(b) = $crate::helpers::Backend::postgres() {
                        super::$name(b).await
                    }
                }
            )+
        }
    };
}

/// A fresh database (file or PostgreSQL database) that is removed on drop.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: &Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/abm.db?mode=rwc", dir.path().display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres(admin_url) => {
                let name = format!("abm_test_{}", random_suffix());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin_url.clone(), name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Runs on its own thread and runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
        .collect()
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Test settings for a database URL, plus extra `ABM_*` overrides.
pub fn settings(url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![
        ("ABM_DATABASE__URL", url),
        ("ABM_SERVER__PORT", "0"),
        ("ABM_SERVER__WORKERS", "1"),
    ];
    pairs.extend_from_slice(extra);
    Settings::load_from_pairs(
        &ConfigSource {
            dir: Some(config_dir()),
            profile: Some("test".into()),
            file: None,
        },
        &pairs,
    )
    .expect("test settings are valid")
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub token: String,
    pub db: DatabaseConnection,
    pub clock: ManualClock,
    pub settings: Settings,
    pub database_url: String,
    /// The application context the server runs on (tests drive its jobs by hand).
    pub ctx: Arc<abm::context::AppContext>,
    /// The port of the separate metrics listener, when `metrics.listen` is set.
    pub metrics_port: Option<u16>,
    // Dropped last: removes the database after the pool is gone.
    _db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let test_db = TestDb::create(&backend).await;
    let settings = settings(&test_db.url, extra);
    let db = abm::db::connect(&settings.database).await.expect("connect");
    abm::db::migrate(&db).await.expect("migrate");
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("date"),
    );
    let (_, token) = abm::auth::create_token(&db, &clock, "tests")
        .await
        .expect("token");
    let app = abm::startup::Application::build_with_db(
        settings.clone(),
        db.clone(),
        Arc::new(clock.clone()),
    )
    .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let ctx = app.context();
    let metrics_port = app.metrics_port();
    tokio::spawn(app.run_until_stopped());
    abm::install_tls_provider();
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        token: token.0,
        db,
        clock,
        settings,
        database_url: test_db.url.clone(),
        ctx,
        metrics_port,
        _db: test_db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A POST whose future owns its body, for sending many at once.
    pub fn post_owned(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> impl std::future::Future<Output = reqwest::Response> + '_ {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body);
        async move { request.send().await.expect("request") }
    }

    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    /// Creates an account with the given external id and extra fields.
    pub async fn create_account(
        &self,
        external_id: &str,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut body =
            serde_json::json!({ "external_id": external_id, "name": format!("{external_id} Ltd") });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let resp = self.post("/api/v1/accounts", &body).await;
        assert_eq!(resp.status(), 201, "create account {external_id}");
        resp.json().await.expect("json")
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("row");
        row.try_get_by_index::<i64>(0).expect("n")
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(resp: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(ct, "application/problem+json");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["status"], status);
    body
}

/// The field paths of a validation problem.
pub fn paths(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON body of a response that must have `status`.
pub async fn json_of(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let code = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(code, status, "{body}");
    body
}

/// Runs an analysis now (waiting for it) and returns the succeeded run, then runs the jobs it
/// queued (the segment recompute), as a worker would.
pub async fn run_analysis(app: &TestApp) -> serde_json::Value {
    let run = json_of(
        app.post("/api/v1/analytics/runs?wait=true", &serde_json::json!({}))
            .await,
        201,
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    abm::jobs::worker::drain(&app.ctx)
        .await
        .expect("drain jobs");
    run
}

/// Makes `instance` (another process) hold `job` as of `now`, with a lease of
/// `jobs.lease_seconds`; false when the job is already running.
pub async fn hold_job(
    app: &TestApp,
    job: &str,
    instance: &str,
    now: chrono::DateTime<Utc>,
) -> bool {
    let lease = chrono::Duration::seconds(i64::from(app.settings.jobs.lease_seconds));
    abm::jobs::runs::start_running(&app.db, job, abm::jobs::Trigger::Api, instance, now, lease)
        .await
        .expect("hold job")
        .is_some()
}
