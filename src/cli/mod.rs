//! The `abm` command line: the clap definitions (their doc comments are the `--help` text) and
//! the dispatch to one function per command. `src/main.rs` only parses and calls [`main`].
//!
//! Every command prints its results (stdout for data, stderr for messages) and returns its exit
//! code; the queries live in the library's services, not here.

/// `println!` for command output: when the reader of a pipe goes away (`abm … | head`), the
/// command ends quietly with success, as `cat` or `rg` do, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}

/// [`outln!`] without the line end.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = write!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}

pub mod analyze;
pub mod campaigns;
pub mod churn;
pub mod demo;
pub mod import;
pub mod jobs;
pub mod migrate;
pub mod output;
pub mod report;
pub mod segments;
pub mod serve;
pub mod templates;
pub mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigSource, Settings};

/// abm — account-based-marketing campaign engine for key accounts.
///
/// With no command, `abm` runs `serve`. Configuration comes from config/default.toml (built
/// in), config/<profile>.toml and ABM_* environment variables (e.g. ABM_DATABASE__URL).
#[derive(Parser)]
#[command(name = "abm", version, about, long_about)]
pub struct Cli {
    /// Configuration profile: also reads config/<PROFILE>.toml [env: ABM_PROFILE]
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Extra configuration file merged after the profile file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service (migrating the database first unless database.migrate_on_start=false).
    ///
    /// Roles: `api` serves HTTP, `worker` runs queued jobs, `scheduler` fires the cron
    /// schedules; `all` (the default, from config `server.roles`) does all three. SIGTERM or
    /// SIGINT stops taking work, lets running work finish within
    /// `server.shutdown_grace_seconds`, and exits 0.
    Serve {
        /// all, api, worker, scheduler; repeat the flag or give a comma list
        /// (default: config `server.roles`).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Background jobs: list them with their last and next run, or run one now.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import accounts, stakeholders or orders from a CSV or XLSX file, all or nothing.
    ///
    /// Rows are upserted by external_id, so importing the same file twice changes nothing.
    /// If any row is invalid nothing is written, every bad row is listed as
    /// `row N, column C: reason`, and the exit code is 1.
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// A .csv (UTF-8, header row) or .xlsx file.
        file: PathBuf,
        /// Worksheet to read from an XLSX file (default: the first).
        #[arg(long)]
        sheet: Option<String>,
        /// Orders only: create accounts that do not exist yet instead of rejecting the row.
        #[arg(long)]
        create_accounts: bool,
        /// Do not draw a progress bar even on a terminal.
        #[arg(long)]
        no_progress: bool,
    },
    /// ABC/XYZ, account types and churn: of the database (an analysis run, stored), or of an
    /// orders CSV without a database (`--orders FILE --out OUT`).
    ///
    /// Offline input columns: account_id,ordered_at,amount[,margin]. Writes one row per account
    /// to OUT and prints the 3×3 ABC-XYZ matrix. Thresholds come from the [analytics] configuration.
    Analyze {
        /// Orders CSV (`account_id,ordered_at,amount[,margin]`); without it the database is analysed.
        #[arg(long, value_name = "FILE.csv", requires = "out")]
        orders: Option<PathBuf>,
        /// Per-account results CSV to write (offline).
        #[arg(long, value_name = "OUT.csv", requires = "orders")]
        out: Option<PathBuf>,
        /// Analyse as of this date (default: the last order date); later orders are ignored.
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
        /// Analyse the trailing N calendar months ending with the --as-of month
        /// (default: from the first month in the data).
        #[arg(long, value_name = "N")]
        months: Option<u32>,
        /// Rank ABC by revenue or by profit (needs a margin column).
        #[arg(long, value_enum)]
        measure: Option<crate::config::Measure>,
    },
    /// Excel reports: an analysis run, a campaign.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Fit the BG/NBD churn model or predict with it, from an orders CSV.
    #[command(subcommand)]
    Churn(ChurnCommand),
    /// Check the shipped templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Manage segment membership.
    #[command(subcommand)]
    Segments(SegmentsCommand),
    /// Campaigns: preview a schedule, run the dispatcher tick once.
    #[command(subcommand)]
    Campaigns(CampaignsCommand),
    /// Fill the database with realistic, deterministic synthetic accounts, dossiers and orders.
    Demo {
        /// Number of accounts to create.
        #[arg(long, default_value_t = 1000)]
        accounts: u32,
        /// Random seed; the same seed and end date give the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last day of order history (default: today). Two years of orders end here.
        #[arg(long, value_name = "YYYY-MM-DD")]
        end: Option<String>,
        /// Also write the generated orders to this CSV file (the `abm import orders` format).
        #[arg(long, value_name = "FILE")]
        orders_csv: Option<PathBuf>,
        /// Only write the orders CSV; do not touch the database.
        #[arg(long, requires = "orders_csv")]
        csv_only: bool,
    },
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Write the Excel workbook of an analysis run: matrix, accounts, churn sheets.
    AbcXyz {
        /// Where to write the .xlsx file.
        #[arg(long, value_name = "FILE.xlsx")]
        xlsx: PathBuf,
        /// Run to export (default: the latest succeeded run).
        #[arg(long)]
        run_id: Option<i64>,
    },
    /// Write a campaign's report (per step and in total) as an Excel workbook.
    Campaign {
        /// The campaign's key.
        key: String,
        /// Where to write the .xlsx file.
        #[arg(long, value_name = "FILE.xlsx")]
        xlsx: PathBuf,
    },
    /// Write the win-back report (lost, contacted, responded, redeemed, recovered, recovered
    /// revenue, offer cost, return on offers; each recovery's attribution) as an Excel workbook.
    Winback {
        /// Where to write the .xlsx file.
        #[arg(long, value_name = "FILE.xlsx")]
        xlsx: PathBuf,
        /// First day (YYYY-MM-DD; default: a year before --to).
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD; default: today).
        #[arg(long)]
        to: Option<String>,
        /// Split by cell, industry, region, manager or campaign.
        #[arg(long)]
        by: Option<String>,
        /// Currency market (default: defaults.currency).
        #[arg(long)]
        currency: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Every job: name, schedule, last run (status, when, where) and next run.
    List,
    /// Run a job now in this process (recorded as a run with trigger `cli`); waits for it.
    Run {
        /// The job's name, as `abm jobs list` shows it.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum CampaignsCommand {
    /// When each step of campaign KEY would go out, and to whom, between --from and --to
    /// (a draft as if activated at --from). Nothing is sent.
    Schedule {
        /// The campaign's key.
        key: String,
        /// Start (RFC 3339, or YYYY-MM-DD for midnight UTC); default now.
        #[arg(long)]
        from: Option<String>,
        /// End (RFC 3339, or YYYY-MM-DD); default 30 days after --from.
        #[arg(long)]
        to: Option<String>,
        /// Print the preview as JSON (the API's document) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the dispatcher tick once now: enrol, apply exit conditions, advance due enrolments.
    Tick,
}

#[derive(Subcommand)]
pub enum SegmentsCommand {
    /// Recompute the membership of every segment now (also done after each analysis run);
    /// prints one line per segment: key, members, entered, left.
    Recompute,
}

#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// Render every template against generated contexts and print each problem as
    /// `file:line: message`; exits 1 when there is any.
    Lint {
        /// Templates folder (default from config `templates.dir`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Choose the template for an account (and stakeholder) from the database, explain the
    /// choice and render it; prints the same JSON as `POST /api/v1/templates/preview`.
    Preview {
        /// The account's external id.
        #[arg(long)]
        account: String,
        /// Purpose: outreach, nurture, winback, negotiation_brief, manager_task, event_notification.
        #[arg(long)]
        purpose: String,
        /// A stakeholder id of the account.
        #[arg(long)]
        stakeholder: Option<i64>,
        /// email (default), webhook or task.
        #[arg(long)]
        channel: Option<String>,
        /// The offer as JSON, e.g. '{"kind":"discount","discount_percent":10,"code":"BACK10"}'.
        #[arg(long, value_name = "JSON")]
        offer: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ChurnCommand {
    /// Fit BG/NBD by maximum likelihood; prints {"r","alpha","a","b","log_likelihood",...}.
    Fit {
        /// Orders CSV (`account_id,ordered_at,amount`).
        #[arg(long, value_name = "FILE.csv")]
        orders: PathBuf,
        /// Last day of the calibration period; later orders are ignored.
        #[arg(long, value_name = "YYYY-MM-DD")]
        calibration_end: String,
        /// Time unit of recency and T (default from config `analytics.model_unit`).
        #[arg(long, value_enum)]
        unit: Option<crate::config::ModelUnit>,
    },
    /// Fit, then write per account frequency, recency, T, P(alive) and expected purchases.
    Predict {
        #[arg(long, value_name = "FILE.csv")]
        orders: PathBuf,
        #[arg(long, value_name = "YYYY-MM-DD")]
        calibration_end: String,
        /// Horizon for expected purchases, in the time unit.
        #[arg(long)]
        horizon: f64,
        #[arg(long, value_enum)]
        unit: Option<crate::config::ModelUnit>,
        /// CSV to write: account_id,frequency,recency,T,p_alive,expected_purchases.
        #[arg(long, value_name = "OUT.csv")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once; only its hash is stored.
    Create {
        /// A label saying who or what uses the token.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its prefix (the part after `abm_`) or its full text.
    Revoke { prefix: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportKind {
    Accounts,
    Stakeholders,
    Orders,
}

/// Runs the parsed command line: loads the configuration (exit code 2 when it is invalid),
/// starts the async runtime and runs the command (`serve` when none is given). An error from
/// the command is printed as `error: …` with exit code 1.
pub fn main(cli: Cli) -> ExitCode {
    let source = ConfigSource {
        dir: None,
        profile: cli.profile.clone(),
        file: cli.config.clone(),
    };
    let settings = match Settings::load(&source) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve { roles: Vec::new() });
    match runtime.block_on(run(command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command with the system clock and returns its exit code.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Serve { roles } => serve::serve(settings, clock, roles).await,
        Command::Jobs(JobsCommand::List) => jobs::list(settings, clock).await,
        Command::Campaigns(CampaignsCommand::Schedule {
            key,
            from,
            to,
            json,
        }) => campaigns::schedule(settings, clock, &key, from, to, json).await,
        Command::Campaigns(CampaignsCommand::Tick) => campaigns::tick(settings, clock).await,
        Command::Jobs(JobsCommand::Run { name }) => jobs::run(settings, clock, &name).await,
        Command::Migrate => migrate::migrate(&settings).await,
        Command::Token(TokenCommand::Create { name }) => {
            token::create(&settings, clock, &name).await
        }
        Command::Token(TokenCommand::List) => token::list(&settings).await,
        Command::Token(TokenCommand::Revoke { prefix }) => {
            token::revoke(&settings, clock, &prefix).await
        }
        Command::Import {
            kind,
            file,
            sheet,
            create_accounts,
            no_progress,
        } => {
            import::import(
                &settings,
                clock,
                kind,
                &file,
                sheet,
                create_accounts,
                no_progress,
            )
            .await
        }
        Command::Analyze {
            orders,
            out,
            as_of,
            months,
            measure,
        } => match (orders, out) {
            (Some(orders), Some(out)) => {
                analyze::offline(&settings, &orders, &out, as_of, months, measure)
            }
            _ => analyze::database(settings, clock).await,
        },
        Command::Report(ReportCommand::AbcXyz { xlsx, run_id }) => {
            report::abc_xyz(&settings, clock, &xlsx, run_id).await
        }
        Command::Report(ReportCommand::Campaign { key, xlsx }) => {
            report::campaign(&settings, clock, &key, &xlsx).await
        }
        Command::Report(ReportCommand::Winback {
            xlsx,
            from,
            to,
            by,
            currency,
        }) => {
            let args = report::WinbackArgs {
                from,
                to,
                by,
                currency,
            };
            report::winback(&settings, clock, &xlsx, &args).await
        }
        Command::Churn(ChurnCommand::Fit {
            orders,
            calibration_end,
            unit,
        }) => churn::fit(&settings, &orders, &calibration_end, unit),
        Command::Churn(ChurnCommand::Predict {
            orders,
            calibration_end,
            horizon,
            unit,
            out,
        }) => churn::predict(&settings, &orders, &calibration_end, horizon, unit, &out),
        Command::Templates(TemplatesCommand::Lint { dir }) => templates::lint(&settings, dir),
        Command::Templates(TemplatesCommand::Preview {
            account,
            purpose,
            stakeholder,
            channel,
            offer,
        }) => {
            templates::preview(
                settings,
                clock,
                account,
                purpose,
                stakeholder,
                channel,
                offer,
            )
            .await
        }
        Command::Segments(SegmentsCommand::Recompute) => segments::recompute(settings, clock).await,
        Command::Demo {
            accounts,
            seed,
            end,
            orders_csv,
            csv_only,
        } => demo::demo(&settings, clock, accounts, seed, end, orders_csv, csv_only).await,
    }
}
