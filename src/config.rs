//! Layered configuration: `config/default.toml` (compiled in, so the binary runs from any
//! folder), then `config/<profile>.toml` if present, then `ABM_*` environment variables.
//! The merged result is validated before anything starts; every error names its key.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::domain::{Currency, LanguageTag, Timezone};

/// The compiled-in defaults; the same text as `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub api: ApiSettings,
    pub defaults: DefaultSettings,
    pub import: ImportSettings,
    pub log: LogSettings,
    pub analytics: AnalyticsSettings,
    pub templates: TemplateSettings,
    pub jobs: JobsSettings,
    pub metrics: MetricsSettings,
    pub campaigns: CampaignSettings,
    pub delivery: DeliverySettings,
    pub email: EmailSettings,
    pub webhooks: WebhookSettings,
    pub tracking: TrackingSettings,
    pub engagement: EngagementSettings,
    pub winback: WinbackSettings,
}

/// Win-back of lost key accounts (see `[winback]` in default.toml).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinbackSettings {
    /// On the first analysis run, accounts already lost count as `became_lost` unless their
    /// last order is older than this many days (they left too long ago to start on at once).
    pub max_age_days: u32,
    /// A recovery without a redeemed offer is attributed to the last win-back touch at most
    /// this many days before the order.
    pub attribution_days: u32,
    /// Which win-back campaign a lost account enters: the first route its classes and types
    /// match. A campaign triggered by `became_lost` that a route names takes only the accounts
    /// routed to it; one that no route names takes every lost account.
    #[serde(default)]
    pub routes: Vec<WinbackRoute>,
}

/// One `[[winback.routes]]` entry: conditions (all optional, all must hold) and the campaign.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinbackRoute {
    /// ABC class (`A`, `B`, `C`).
    pub abc: Option<String>,
    /// XYZ class (`X`, `Y`, `Z`).
    pub xyz: Option<String>,
    /// Account type the account must have (`pillar`, `prospect`, `image_maker`, `expert`).
    #[serde(rename = "type")]
    pub account_type: Option<String>,
    /// The key of the campaign to enter.
    pub campaign: String,
}

impl WinbackSettings {
    /// The campaign key of the first route `abc`, `xyz` and `types` match.
    pub fn route(&self, abc: Option<&str>, xyz: Option<&str>, types: &[&str]) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| {
                r.abc.as_deref().is_none_or(|c| abc == Some(c))
                    && r.xyz.as_deref().is_none_or(|c| xyz == Some(c))
                    && r.account_type.as_deref().is_none_or(|t| types.contains(&t))
            })
            .map(|r| r.campaign.as_str())
    }

    /// Whether a route names campaign `key` (it then takes only the accounts routed to it).
    pub fn routes_to(&self, key: &str) -> bool {
        self.routes.iter().any(|r| r.campaign == key)
    }
}

/// The engagement score (see `[engagement]` in default.toml; `Default` is the same).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementSettings {
    /// Days after which an event counts for half.
    pub half_life_days: f64,
    /// Events older than this many days do not count at all.
    pub window_days: u32,
    /// Score at which an account becomes hot (`account.hot`).
    pub hot_threshold: f64,
    pub opened: f64,
    pub clicked: f64,
    pub replied: f64,
    pub meeting_booked: f64,
    pub call_logged: f64,
    pub redeemed: f64,
    pub unsubscribed: f64,
    pub complained: f64,
}

impl Default for EngagementSettings {
    fn default() -> Self {
        EngagementSettings {
            half_life_days: 30.0,
            window_days: 365,
            hot_threshold: 20.0,
            opened: 1.0,
            clicked: 3.0,
            replied: 10.0,
            meeting_booked: 15.0,
            call_logged: 5.0,
            redeemed: 8.0,
            unsubscribed: -10.0,
            complained: -20.0,
        }
    }
}

/// Response tracking (see `[tracking]` in default.toml).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSettings {
    /// The base of every tracking link; "" means `http://<server.host>:<server.port>`.
    pub public_url: String,
    /// Signs tracking links; "" means one generated once and kept in the database.
    pub secret: String,
    /// Where a campaign's call to action leads when its step names no `cta_url`; "" sends it
    /// to the message's web view.
    pub default_cta_url: String,
    /// Opens and clicks this many seconds or less after delivery are a machine's.
    pub machine_seconds: u32,
    /// Clicks on two different links of one message within this many milliseconds are a
    /// machine's (a scanner follows every link).
    pub machine_burst_ms: u32,
    /// Opens and clicks are written in batches at least this often, in milliseconds.
    pub flush_ms: u32,
}

impl std::fmt::Debug for TrackingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackingSettings")
            .field("public_url", &self.public_url)
            .field("secret", &if self.secret.is_empty() { "" } else { "***" })
            .field("default_cta_url", &self.default_cta_url)
            .field("machine_seconds", &self.machine_seconds)
            .field("machine_burst_ms", &self.machine_burst_ms)
            .field("flush_ms", &self.flush_ms)
            .finish()
    }
}

impl TrackingSettings {
    /// The base of tracking links, without a trailing slash; `bound` is the port the API
    /// really listens on, when known.
    pub fn base_url(&self, server: &ServerSettings, bound: Option<u16>) -> String {
        match self.public_url.trim().trim_end_matches('/') {
            "" if server.host.contains(':') => {
                format!("http://[{}]:{}", server.host, bound.unwrap_or(server.port))
            }
            "" => format!("http://{}:{}", server.host, bound.unwrap_or(server.port)),
            url => url.to_string(),
        }
    }
}

/// Where email goes (see `[email]` in default.toml).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// lettre's URL form: `smtp://host:2525`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host`; empty writes `.eml` files to `outbox_dir`.
    pub smtp_url: String,
    /// Sender address; its domain names the Message-IDs.
    pub from: String,
    /// Where emails go as `.eml` files when `smtp_url` is empty.
    pub outbox_dir: String,
    /// How long connecting, setting up a session and sending one message may each take.
    pub timeout_seconds: u32,
    /// PEM file of extra certificate authorities trusted for the SMTP server's TLS, beside
    /// the built-in roots (a company CA); "" trusts the built-in roots only.
    pub tls_ca_file: String,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("outbox_dir", &self.outbox_dir)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl EmailSettings {
    /// The domain of Message-IDs: the part of `from` after `@`.
    pub fn message_id_domain(&self) -> &str {
        self.from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').trim())
            .filter(|d| !d.is_empty())
            .unwrap_or("abm.local")
    }
}

impl EmailSettings {}

/// `"1m,5m,2h"`: waits in minutes, hours or days, each at least a minute and at most 30 days;
/// at most 20 of them; `""` means no retries.
fn parse_waits(raw: &str) -> Result<Vec<chrono::Duration>, String> {
    parse_waits_from(raw, chrono::Duration::minutes(1))
}

/// Comma-separated waits (`30s`, `5m`, `2h`, `1d`), each between `min` and 30 days.
fn parse_waits_from(raw: &str, min: chrono::Duration) -> Result<Vec<chrono::Duration>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("`{part}` is not a wait like 30s, 5m, 2h or 1d");
        let Some((at, unit)) = part.char_indices().last() else {
            continue;
        };
        let n: i64 = part[..at].parse().map_err(|_| bad())?;
        if !(0..=1_000_000).contains(&n) {
            return Err(bad());
        }
        let d = match unit {
            's' => chrono::Duration::seconds(n),
            'm' => chrono::Duration::minutes(n),
            'h' => chrono::Duration::hours(n),
            'd' => chrono::Duration::days(n),
            _ => return Err(bad()),
        };
        if d < min || d > chrono::Duration::days(30) {
            return Err(format!(
                "`{part}` must be between {} and 30d",
                if min.is_zero() { "0s" } else { "1m" }
            ));
        }
        out.push(d);
    }
    if out.len() > 20 {
        return Err("at most 20 waits".into());
    }
    Ok(out)
}

/// Webhook endpoints (see `[webhooks]` in default.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Accept endpoint and manager webhook URLs on private, loopback and link-local addresses.
    pub allow_private: bool,
    /// How long the secret before a rotation still signs, in hours.
    pub secret_grace_hours: u32,
    /// How long a webhook POST may take, in seconds.
    pub timeout_seconds: u32,
    /// Waits between attempts of a webhook delivery after a transient failure (`0s` = at
    /// once); after the last one the message is dead.
    pub retry_schedule: String,
    /// An endpoint that has failed for this many hours (every delivery since the first
    /// failure failed) is disabled; so is one that answers 410 Gone, at once.
    pub disable_after_hours: u32,
}

impl WebhookSettings {
    /// The waits of [`Self::retry_schedule`] (validated at start-up).
    pub fn retry_waits(&self) -> Vec<chrono::Duration> {
        parse_waits_from(&self.retry_schedule, chrono::Duration::zero()).unwrap_or_default()
    }
}

/// The campaign dispatcher (see `[campaigns]` in default.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// Cron expression with seconds: when the dispatcher tick runs (env `ABM_CAMPAIGNS__TICK`).
    pub tick: String,
    /// Enrolments advanced per transaction.
    pub batch_size: u32,
    /// How long a tick holds the enrolments it claimed.
    pub lease_seconds: u32,
    /// Batches a tick works on at once (one renders while another reads or writes).
    pub workers: u32,
}

/// What every send respects (see `[delivery]` in default.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// `"3/7d"`: at most 3 messages to an account (all its stakeholders) in any 7 days; "" off.
    pub account_cap: String,
    /// The same per stakeholder.
    pub stakeholder_cap: String,
    /// Send window of campaigns that give none.
    pub default_send_window: String,
    /// Also leave out stakeholders whose consent is `unknown`.
    pub require_consent: bool,
    /// Waits between attempts after a transient failure, e.g. `"1m,5m,30m,2h,12h"`; after the
    /// last one a message is dead.
    pub retry_schedule: String,
    /// Messages a sender claims at once, and how many of them are in flight together.
    pub batch_size: u32,
    pub concurrency: u32,
    /// How long a sender holds the messages it claimed.
    pub lease_seconds: u32,
    /// Cron with seconds: when the job `delivery_send` runs ("" on demand only).
    pub send: String,
    /// Each instance with the `worker` role runs a sender loop of its own; instances share
    /// the outbox through their claims.
    pub send_loop: bool,
    /// How long an idle sender loop waits before it looks for due messages again.
    pub poll_interval_ms: u32,
}

impl DeliverySettings {
    /// The parsed caps (validated at start-up).
    pub fn caps(&self) -> crate::campaigns::model::Caps {
        use crate::campaigns::timing::Cap;
        crate::campaigns::model::Caps {
            account: Cap::parse(&self.account_cap).ok().flatten(),
            stakeholder: Cap::parse(&self.stakeholder_cap).ok().flatten(),
        }
    }

    /// The parsed default window (validated at start-up).
    pub fn window(&self) -> crate::campaigns::timing::SendWindow {
        crate::campaigns::timing::SendWindow::parse(&self.default_send_window)
            .unwrap_or(crate::campaigns::timing::SendWindow::Always)
    }

    /// The waits of [`Self::retry_schedule`] (validated at start-up).
    pub fn retry_waits(&self) -> Vec<chrono::Duration> {
        parse_waits(&self.retry_schedule).unwrap_or_default()
    }
}

/// Background jobs: schedules, leases and polling (see `[jobs]` in default.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    /// Timezone (IANA) the cron schedules are read in.
    pub timezone: Timezone,
    /// How long a run's lease lasts; the holder renews it every third of this.
    pub lease_seconds: u32,
    /// How often an idle worker looks for queued runs queued by other instances.
    pub poll_interval_ms: u64,
    pub analysis: String,
    pub segments_recompute: String,
    pub idempotency_purge: String,
}

impl JobsSettings {
    /// Each job's schedule with its config key.
    pub fn schedules(&self) -> [(&'static str, &str); 3] {
        [
            ("jobs.analysis", &self.analysis),
            ("jobs.segments_recompute", &self.segments_recompute),
            ("jobs.idempotency_purge", &self.idempotency_purge),
        ]
    }
}

/// The Prometheus endpoint (see `[metrics]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// "" serves `/metrics` on the API listener; `HOST:PORT` serves it on a listener of its own.
    pub listen: String,
}

/// What one `abm serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
    pub scheduler: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        worker: true,
        scheduler: true,
    };

    /// Parses `all`, `api`, `worker`, `scheduler`, comma-separated and/or repeated.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Roles, String> {
        let mut roles = Roles::default();
        for item in items {
            for name in item.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match name {
                    "all" => roles = Roles::ALL,
                    "api" => roles.api = true,
                    "worker" => roles.worker = true,
                    "scheduler" => roles.scheduler = true,
                    other => {
                        return Err(format!(
                            "unknown role `{other}` (expected all, api, worker or scheduler)"
                        ));
                    }
                }
            }
        }
        if roles == Roles::default() {
            return Err("no role given (expected all, api, worker or scheduler)".into());
        }
        Ok(roles)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.api {
            v.push("api");
        }
        if self.worker {
            v.push("worker");
        }
        if self.scheduler {
            v.push("scheduler");
        }
        v
    }
}

/// Where the shipped templates live and the last-resort locale (see `[templates]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    pub dir: std::path::PathBuf,
    pub default_locale: String,
}

/// Thresholds and policies of the key-account analytics (see `[analytics]` in default.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    pub measure: Measure,
    pub abc_a: f64,
    pub abc_b: f64,
    pub xyz_x: f64,
    pub xyz_y: f64,
    pub month_timezone: Timezone,
    pub window_months: u32,
    pub pillar_share: f64,
    pub prospect_days: u32,
    pub prospect_min_budget: String,
    pub churn_policy: crate::analytics::classify::ChurnPolicy,
    pub churn_min_days: u32,
    pub churn_k: f64,
    pub p_alive_threshold: f64,
    /// A run announces `at_risk` when an account's P(alive) falls below this (and it is not
    /// lost): the warning before the loss.
    pub at_risk_p_alive: f64,
    pub model_unit: ModelUnit,
    pub model_horizon: f64,
}

/// What ABC ranks by.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Revenue,
    Profit,
}

/// Time unit of the BG/NBD model.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelUnit {
    Days,
    Weeks,
}

impl ModelUnit {
    /// Days per unit.
    pub fn days(self) -> f64 {
        match self {
            ModelUnit::Days => 1.0,
            ModelUnit::Weeks => 7.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// `all`, or a comma list of `api`, `worker`, `scheduler` (`abm serve --role` overrides).
    pub roles: String,
    /// On SIGTERM/SIGINT: how long running requests and jobs may take to finish.
    pub shutdown_grace_seconds: u64,
}

impl ServerSettings {
    /// The parsed `server.roles` (validated at load).
    pub fn roles(&self) -> Roles {
        Roles::parse([self.roles.as_str()]).unwrap_or(Roles::ALL)
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold a password, so `Debug` redacts it.
    pub url: String,
    pub max_connections: u32,
    pub migrate_on_start: bool,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// Hides the password of a connection URL so it can be logged.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub max_batch_orders: usize,
    pub idempotency_ttl_hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSettings {
    pub timezone: Timezone,
    pub currency: Currency,
    pub language: LanguageTag,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    pub batch_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration problem, phrased for the person starting the service.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Where to read configuration from. `Default` reads `config/` in the working directory.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Folder holding `<profile>.toml`; defaults to `./config`.
    pub dir: Option<PathBuf>,
    /// Profile name (`ABM_PROFILE` when unset).
    pub profile: Option<String>,
    /// Extra file merged after the profile file (`abm --config FILE`).
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Loads, merges and validates the configuration from files and the process environment.
    pub fn load(source: &ConfigSource) -> Result<Settings, ConfigError> {
        Self::load_with_env(source, Env::prefixed("ABM_").split("__"))
    }

    /// Like [`Settings::load`] but with explicit environment pairs (used by tests).
    pub fn load_from_pairs(
        source: &ConfigSource,
        pairs: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        let mut figment = Self::files(source)?;
        for (k, v) in pairs {
            let key = k
                .strip_prefix("ABM_")
                .unwrap_or(k)
                .to_ascii_lowercase()
                .replace("__", ".");
            figment = figment.merge(figment::providers::Serialized::default(&key, toml_value(v)));
        }
        Self::finish(figment)
    }

    fn load_with_env(source: &ConfigSource, env: Env) -> Result<Settings, ConfigError> {
        // ABM_PROFILE selects the profile file; it is not a setting itself.
        let env = env.ignore(&["profile"]);
        Self::finish(Self::files(source)?.merge(env))
    }

    fn files(source: &ConfigSource) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let profile = source
            .profile
            .clone()
            .or_else(|| std::env::var("ABM_PROFILE").ok())
            .filter(|p| !p.is_empty());
        let dir = source
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("config"));
        if let Some(profile) = profile
            && profile != "default"
        {
            let path = dir.join(format!("{profile}.toml"));
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "profile `{profile}`: file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        if let Some(file) = &source.file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        Ok(figment)
    }

    fn finish(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(describe_figment_error).collect();
            ConfigError(messages.join("; "))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks rules that types alone cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &str, msg: &str| Err(ConfigError(format!("`{key}`: {msg}")));
        if self.server.host.trim().is_empty() {
            return err("server.host", "must not be empty");
        }
        if !crate::content::valid_locale(&self.templates.default_locale) {
            return err(
                "templates.default_locale",
                "must be a language code such as `en` or `vi`",
            );
        }
        if self.server.max_body_bytes < 1024 {
            return err("server.max_body_bytes", "must be at least 1024");
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return err(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        if self.database.max_connections == 0 {
            return err("database.max_connections", "must be at least 1");
        }
        if self.api.default_page_size == 0 || self.api.default_page_size > self.api.max_page_size {
            return err(
                "api.default_page_size",
                "must be between 1 and api.max_page_size",
            );
        }
        if !(1..=300).contains(&self.webhooks.timeout_seconds) {
            return err("webhooks.timeout_seconds", "must be between 1 and 300");
        }
        if self.webhooks.secret_grace_hours > 720 {
            return err("webhooks.secret_grace_hours", "must be between 0 and 720");
        }
        if !(1..=720).contains(&self.api.idempotency_ttl_hours) {
            return err("api.idempotency_ttl_hours", "must be between 1 and 720");
        }
        if self.api.max_batch_orders == 0 {
            return err("api.max_batch_orders", "must be at least 1");
        }
        if self.import.batch_size == 0 || self.import.batch_size > 5000 {
            return err("import.batch_size", "must be between 1 and 5000");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return err("log.level", "is not a valid log filter");
        }
        let a = &self.analytics;
        let share = |v: f64| (0.0..=1.0).contains(&v);
        if !(share(a.abc_a) && share(a.abc_b) && a.abc_a <= a.abc_b) {
            return err(
                "analytics.abc_a",
                "abc_a and abc_b must be shares with 0 ≤ abc_a ≤ abc_b ≤ 1",
            );
        }
        if !(a.xyz_x >= 0.0 && a.xyz_x <= a.xyz_y) {
            return err(
                "analytics.xyz_x",
                "xyz_x and xyz_y must satisfy 0 ≤ xyz_x ≤ xyz_y",
            );
        }
        if a.window_months == 0 || a.window_months > 120 {
            return err("analytics.window_months", "must be between 1 and 120");
        }
        if !share(a.pillar_share) {
            return err("analytics.pillar_share", "must be between 0 and 1");
        }
        if !matches!(crate::domain::parse_decimal(&a.prospect_min_budget, 4), Ok(v) if v >= 0) {
            return err(
                "analytics.prospect_min_budget",
                "must be a decimal amount ≥ 0 with at most 4 decimals",
            );
        }
        if !(a.churn_k > 0.0 && a.churn_k.is_finite()) {
            return err("analytics.churn_k", "must be a positive number");
        }
        if !share(a.p_alive_threshold) {
            return err("analytics.p_alive_threshold", "must be between 0 and 1");
        }
        if !share(a.at_risk_p_alive) {
            return err("analytics.at_risk_p_alive", "must be between 0 and 1");
        }
        if !(a.model_horizon > 0.0 && a.model_horizon.is_finite()) {
            return err("analytics.model_horizon", "must be a positive number");
        }
        for (key, schedule) in self.jobs.schedules() {
            if !schedule.trim().is_empty()
                && crate::jobs::schedule::next_after(
                    schedule,
                    self.jobs.timezone.0,
                    chrono::Utc::now(),
                )
                .is_none()
            {
                return err(
                    key,
                    "is not a cron expression with seconds that fires again, e.g. \"0 30 2 * * *\" (or \"\" for none)",
                );
            }
        }
        if !(5..=3600).contains(&self.jobs.lease_seconds) {
            return err("jobs.lease_seconds", "must be between 5 and 3600");
        }
        if !(10..=600_000).contains(&self.jobs.poll_interval_ms) {
            return err("jobs.poll_interval_ms", "must be between 10 and 600000");
        }
        if let Err(e) = Roles::parse([self.server.roles.as_str()]) {
            return err("server.roles", &e);
        }
        if self.server.shutdown_grace_seconds > 3600 {
            return err("server.shutdown_grace_seconds", "must be at most 3600");
        }
        if let Err(m) = crate::jobs::schedule::parse(&self.campaigns.tick) {
            return err("campaigns.tick", &m);
        }
        if !(1..=10_000).contains(&self.campaigns.batch_size) {
            return err("campaigns.batch_size", "must be between 1 and 10000");
        }
        if !(5..=3600).contains(&self.campaigns.lease_seconds) {
            return err("campaigns.lease_seconds", "must be between 5 and 3600");
        }
        if !(1..=16).contains(&self.campaigns.workers) {
            return err("campaigns.workers", "must be between 1 and 16");
        }
        for (key, cap) in [
            ("delivery.account_cap", &self.delivery.account_cap),
            ("delivery.stakeholder_cap", &self.delivery.stakeholder_cap),
        ] {
            if let Err(m) = crate::campaigns::timing::Cap::parse(cap) {
                return err(key, &m);
            }
        }
        if let Err(m) =
            crate::campaigns::timing::SendWindow::parse(&self.delivery.default_send_window)
        {
            return err("delivery.default_send_window", &m);
        }
        if email_address::EmailAddress::parse_with_options(
            self.email
                .from
                .rsplit_once('<')
                .map_or(self.email.from.as_str(), |(_, a)| a.trim_end_matches('>')),
            email_address::Options::default(),
        )
        .is_err()
        {
            return err(
                "email.from",
                "must be an email address, e.g. \"ABM <abm@example.com>\"",
            );
        }
        if !self.email.smtp_url.trim().is_empty()
            && let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(
                self.email.smtp_url.trim(),
            )
        {
            return err(
                "email.smtp_url",
                &format!(
                    "is not an SMTP URL such as smtp://127.0.0.1:2525 or smtps://user:pass@host ({e})"
                ),
            );
        }
        if let Err(m) = parse_waits_from(&self.webhooks.retry_schedule, chrono::Duration::zero()) {
            return err("webhooks.retry_schedule", &m);
        }
        if !(1..=8760).contains(&self.webhooks.disable_after_hours) {
            return err("webhooks.disable_after_hours", "must be between 1 and 8760");
        }
        if let Err(m) = parse_waits(&self.delivery.retry_schedule) {
            return err("delivery.retry_schedule", &m);
        }
        if !(1..=10_000).contains(&self.delivery.batch_size) {
            return err("delivery.batch_size", "must be between 1 and 10000");
        }
        if !(1..=1000).contains(&self.delivery.concurrency) {
            return err("delivery.concurrency", "must be between 1 and 1000");
        }
        if !(10..=86_400).contains(&self.delivery.lease_seconds) {
            return err("delivery.lease_seconds", "must be between 10 and 86400");
        }
        if !self.delivery.send.trim().is_empty()
            && let Err(e) = crate::jobs::schedule::parse(&self.delivery.send)
        {
            return err("delivery.send", &e);
        }
        if !(10..=60_000).contains(&self.delivery.poll_interval_ms) {
            return err("delivery.poll_interval_ms", "must be between 10 and 60000");
        }
        if !(1..=600).contains(&self.email.timeout_seconds) {
            return err("email.timeout_seconds", "must be between 1 and 600");
        }
        if !self.email.tls_ca_file.trim().is_empty()
            && let Err(e) = crate::delivery::tls::read_roots(self.email.tls_ca_file.trim())
        {
            return err("email.tls_ca_file", &e);
        }
        if !self.tracking.public_url.trim().is_empty() {
            match url::Url::parse(self.tracking.public_url.trim()) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.query().is_none() => {}
                _ => {
                    return err(
                        "tracking.public_url",
                        "must be an http(s) URL with no query, e.g. \"https://abm.example.com\"",
                    );
                }
            }
        }
        if !self.tracking.default_cta_url.trim().is_empty()
            && let Err(m) = crate::tracking::check_target(self.tracking.default_cta_url.trim())
        {
            return err("tracking.default_cta_url", &m);
        }
        if !self.tracking.secret.is_empty() && self.tracking.secret.len() < 16 {
            return err("tracking.secret", "must be \"\" or at least 16 characters");
        }
        if !(1..=3650).contains(&self.winback.max_age_days) {
            return err("winback.max_age_days", "must be between 1 and 3650");
        }
        if !(1..=3650).contains(&self.winback.attribution_days) {
            return err("winback.attribution_days", "must be between 1 and 3650");
        }
        if self.winback.routes.len() > 100 {
            return err("winback.routes", "at most 100 routes");
        }
        for (i, r) in self.winback.routes.iter().enumerate() {
            let at = |f: &str| format!("winback.routes[{i}].{f}");
            if let Err(m) = crate::domain::check_slug(&r.campaign) {
                return err(&at("campaign"), &m);
            }
            let one_of = |v: &Option<String>, allowed: &[&str]| {
                v.as_deref().is_none_or(|v| allowed.contains(&v))
            };
            if !one_of(&r.abc, &["A", "B", "C"]) {
                return err(&at("abc"), "must be A, B or C");
            }
            if !one_of(&r.xyz, &["X", "Y", "Z"]) {
                return err(&at("xyz"), "must be X, Y or Z");
            }
            if !one_of(
                &r.account_type,
                &["pillar", "prospect", "image_maker", "expert"],
            ) {
                return err(
                    &at("type"),
                    "must be pillar, prospect, image_maker or expert",
                );
            }
        }
        let e = &self.engagement;
        if !(e.half_life_days.is_finite() && (0.1..=3650.0).contains(&e.half_life_days)) {
            return err("engagement.half_life_days", "must be between 0.1 and 3650");
        }
        if !(1..=3650).contains(&e.window_days) {
            return err("engagement.window_days", "must be between 1 and 3650");
        }
        for (key, v) in [
            ("engagement.hot_threshold", e.hot_threshold),
            ("engagement.opened", e.opened),
            ("engagement.clicked", e.clicked),
            ("engagement.replied", e.replied),
            ("engagement.meeting_booked", e.meeting_booked),
            ("engagement.call_logged", e.call_logged),
            ("engagement.redeemed", e.redeemed),
            ("engagement.unsubscribed", e.unsubscribed),
            ("engagement.complained", e.complained),
        ] {
            if !(v.is_finite() && (-1000.0..=1000.0).contains(&v)) {
                return err(key, "must be a number between -1000 and 1000");
            }
        }
        if self.tracking.machine_seconds > 3600 {
            return err("tracking.machine_seconds", "must be at most 3600");
        }
        if self.tracking.machine_burst_ms > 60_000 {
            return err("tracking.machine_burst_ms", "must be at most 60000");
        }
        if !(10..=2000).contains(&self.tracking.flush_ms) {
            return err("tracking.flush_ms", "must be between 10 and 2000");
        }
        if !self.metrics.listen.trim().is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return err(
                "metrics.listen",
                "must be \"\" or HOST:PORT, e.g. \"127.0.0.1:9100\"",
            );
        }
        Ok(())
    }

    /// The folder of an SQLite database file, so it can be created before connecting.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        let rest = self.database.url.strip_prefix("sqlite:")?;
        let rest = rest.trim_start_matches("//");
        let path = rest.split('?').next()?;
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    }
}

/// Interprets an environment-style string the way figment's `Env` does (numbers, booleans).
fn toml_value(raw: &str) -> figment::value::Value {
    raw.parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_string()))
}

fn describe_figment_error(e: figment::Error) -> String {
    let key = if e.path.is_empty() {
        None
    } else {
        Some(e.path.join("."))
    };
    let source = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    match key {
        Some(key) => format!("`{key}`: {}{source}", e.kind),
        None => format!("{}{source}", e.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load_from_pairs(&ConfigSource::default(), &[]).expect("defaults");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.url, "sqlite://data/abm.db?mode=rwc");
        assert_eq!(s.sqlite_dir(), Some(Path::new("data")));
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[
                ("ABM_SERVER__PORT", "9090"),
                ("ABM_DATABASE__URL", "postgres://u@h/db"),
            ],
        )
        .expect("valid");
        assert_eq!(s.server.port, 9090);
        assert_eq!(s.sqlite_dir(), None);
    }

    #[test]
    fn invalid_value_names_the_key() {
        let e =
            Settings::load_from_pairs(&ConfigSource::default(), &[("ABM_SERVER__PORT", "eighty")])
                .expect_err("must fail");
        assert!(e.to_string().contains("server.port"), "{e}");
    }

    #[test]
    fn winback_ages_are_read_and_bounded() {
        let s = Settings::load_from_pairs(&ConfigSource::default(), &[]).expect("defaults");
        assert_eq!(s.winback.max_age_days, 365);
        let s = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[("ABM_WINBACK__MAX_AGE_DAYS", "500")],
        )
        .expect("valid");
        assert_eq!(s.winback.max_age_days, 500);
        let e = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[("ABM_WINBACK__MAX_AGE_DAYS", "0")],
        )
        .expect_err("must fail");
        assert!(e.to_string().contains("winback.max_age_days"), "{e}");
    }

    #[test]
    fn bad_timezone_names_the_key() {
        let e = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[("ABM_DEFAULTS__TIMEZONE", "Mars/Olympus")],
        )
        .expect_err("must fail");
        assert!(e.to_string().contains("defaults.timezone"), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let e = Settings::load_from_pairs(&ConfigSource::default(), &[("ABM_SERVER__PROT", "1")])
            .expect_err("must fail");
        assert!(e.to_string().contains("prot"), "{e}");
    }

    #[test]
    fn a_bad_schedule_names_the_key() {
        let e = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[("ABM_JOBS__ANALYSIS", "every night")],
        )
        .expect_err("must fail");
        assert!(e.to_string().contains("jobs.analysis"), "{e}");
        let off =
            Settings::load_from_pairs(&ConfigSource::default(), &[("ABM_JOBS__ANALYSIS", "\"\"")]);
        assert!(off.is_ok(), "an empty schedule turns it off");
        let never = Settings::load_from_pairs(
            &ConfigSource::default(),
            &[("ABM_JOBS__ANALYSIS", "0 30 2 31 2 *")],
        )
        .expect_err("February 31 never comes");
        assert!(never.to_string().contains("jobs.analysis"), "{never}");
    }

    #[test]
    fn roles_take_comma_lists_and_repeats_and_refuse_unknown_names() {
        assert_eq!(Roles::parse(["all"]), Ok(Roles::ALL));
        let r = Roles::parse(["api,worker"]).expect("roles");
        assert!(r.api && r.worker && !r.scheduler);
        let r = Roles::parse(["scheduler", "api"]).expect("roles");
        assert!(r.api && r.scheduler && !r.worker);
        assert!(Roles::parse(["web"]).is_err());
        let e =
            Settings::load_from_pairs(&ConfigSource::default(), &[("ABM_SERVER__ROLES", "web")])
                .expect_err("must fail");
        assert!(e.to_string().contains("server.roles"), "{e}");
    }

    #[test]
    fn password_is_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
