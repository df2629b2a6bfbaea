//! The `abm` command line. It parses arguments and hands off to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use abm::clock::{SharedClock, SystemClock};
use abm::config::{ConfigSource, Settings};
use abm::import::{ImportError, ImportSummary, Progress};
use clap::{Parser, Subcommand, ValueEnum};

// Imports allocate and free many small strings across threads; mimalloc handles that far
// better than the system allocator (measured: see bench/import.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// abm — account-based-marketing campaign engine for key accounts.
///
/// With no command, `abm` runs `serve`. Configuration comes from config/default.toml (built
/// in), config/<profile>.toml and ABM_* environment variables (e.g. ABM_DATABASE__URL).
#[derive(Parser)]
#[command(name = "abm", version, about, long_about)]
struct Cli {
    /// Configuration profile: also reads config/<PROFILE>.toml [env: ABM_PROFILE]
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Extra configuration file merged after the profile file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
        measure: Option<abm::config::Measure>,
    },
    /// Reports over the stored analytics.
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
enum ReportCommand {
    /// Write the Excel workbook of an analysis run: matrix, accounts, churn sheets.
    AbcXyz {
        /// Where to write the .xlsx file.
        #[arg(long, value_name = "FILE.xlsx")]
        xlsx: PathBuf,
        /// Run to export (default: the latest succeeded run).
        #[arg(long)]
        run_id: Option<i64>,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Every job: name, schedule, last run (status, when, where) and next run.
    List,
    /// Run a job now in this process (recorded as a run with trigger `cli`); waits for it.
    Run {
        /// The job's name, as `abm jobs list` shows it.
        name: String,
    },
}

#[derive(Subcommand)]
enum SegmentsCommand {
    /// Recompute the membership of every segment now (also done after each analysis run);
    /// prints one line per segment: key, members, entered, left.
    Recompute,
}

#[derive(Subcommand)]
enum TemplatesCommand {
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
enum ChurnCommand {
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
        unit: Option<abm::config::ModelUnit>,
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
        unit: Option<abm::config::ModelUnit>,
        /// CSV to write: account_id,frequency,recency,T,p_alive,expected_purchases.
        #[arg(long, value_name = "OUT.csv")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
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
enum ImportKind {
    Accounts,
    Stakeholders,
    Orders,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Serve { roles } => {
            let mut settings = settings;
            if !roles.is_empty() {
                match abm::config::Roles::parse(roles.iter().map(String::as_str)) {
                    Ok(r) => settings.server.roles = r.names().join(","),
                    Err(e) => {
                        eprintln!("error: --role: {e}");
                        return Ok(ExitCode::from(2));
                    }
                }
            }
            abm::telemetry::init(&settings.log);
            let app = abm::startup::Application::build(settings.clone(), clock).await?;
            if settings.server.roles().api {
                tracing::info!(
                    address = %format!("http://{}:{}", settings.server.host, app.port()),
                    database = %abm::config::redact_url(&settings.database.url),
                    "abm is listening; API docs at /docs/"
                );
            }
            app.run().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs(cmd) => {
            let db = connect_migrated(&settings).await?;
            let ctx = Arc::new(abm::context::AppContext::new(db, settings, clock));
            match cmd {
                JobsCommand::List => {
                    println!(
                        "{:<20} {:<16} {:<48} NEXT RUN",
                        "JOB", "SCHEDULE", "LAST RUN"
                    );
                    for j in abm::jobs::list(&ctx).await? {
                        let last = j
                            .last_run
                            .map(|r| {
                                format!(
                                    "#{} {} {} on {}",
                                    r.id,
                                    r.status_str(),
                                    r.started_at
                                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                                        .unwrap_or_default(),
                                    r.instance_id.unwrap_or_default()
                                )
                            })
                            .unwrap_or_else(|| "never".into());
                        let next = j
                            .next_run
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                            .unwrap_or_else(|| "on demand".into());
                        println!(
                            "{:<20} {:<16} {:<48} {}",
                            j.name,
                            j.schedule.unwrap_or_else(|| "-".into()),
                            last,
                            next
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                JobsCommand::Run { name } => {
                    let run = match abm::jobs::worker::run_inline(
                        &ctx,
                        &name,
                        abm::jobs::Trigger::Cli,
                        None,
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return Ok(ExitCode::FAILURE);
                        }
                    };
                    let view = abm::jobs::RunView::from(run);
                    println!("{}", serde_json::to_string_pretty(&view)?);
                    // Runs it queued (e.g. the recompute after an analysis) run here too.
                    for next in abm::jobs::worker::drain(&ctx).await? {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&abm::jobs::RunView::from(next))?
                        );
                    }
                    Ok(if view.status == abm::jobs::RunStatus::Succeeded {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
            }
        }
        Command::Migrate => {
            let db = abm::db::connect(&settings.database).await?;
            abm::db::migrate(&db).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => {
            let db = connect_migrated(&settings).await?;
            match cmd {
                TokenCommand::Create { name } => {
                    let (row, token) = abm::auth::create_token(&db, clock.as_ref(), &name).await?;
                    eprintln!(
                        "created token `{}` (prefix {}); it is shown only now:",
                        row.name, row.prefix
                    );
                    println!("{}", token.0);
                }
                TokenCommand::List => {
                    for t in abm::auth::list_tokens(&db).await? {
                        println!(
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
                }
                TokenCommand::Revoke { prefix } => {
                    if !abm::auth::revoke_token(&db, clock.as_ref(), &prefix).await? {
                        eprintln!("error: no token with prefix `{prefix}`");
                        return Ok(ExitCode::FAILURE);
                    }
                    println!("revoked");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            kind,
            file,
            sheet,
            create_accounts,
            no_progress,
        } => {
            let db = connect_migrated(&settings).await?;
            let bar = ProgressBar::new(!no_progress, &file);
            let started = Instant::now();
            let result = match kind {
                ImportKind::Orders => {
                    let opts = abm::orders::import::OrderImportOptions {
                        create_accounts,
                        sheet,
                    };
                    abm::orders::import::import_orders(
                        &db,
                        clock.as_ref(),
                        &settings,
                        &file,
                        &opts,
                        &bar,
                    )
                    .await
                }
                ImportKind::Accounts => {
                    abm::accounts::import::import_accounts(
                        &db,
                        clock.as_ref(),
                        &settings,
                        &file,
                        sheet.as_deref(),
                        &bar,
                    )
                    .await
                }
                ImportKind::Stakeholders => {
                    abm::accounts::import::import_stakeholders(
                        &db,
                        clock.as_ref(),
                        &file,
                        sheet.as_deref(),
                        &bar,
                    )
                    .await
                }
            };
            bar.finish();
            Ok(report_import(kind, &file, result, started))
        }
        Command::Analyze {
            orders,
            out,
            as_of,
            months,
            measure,
        } => {
            let (Some(orders), Some(out)) = (orders, out) else {
                let db = connect_migrated(&settings).await?;
                let ctx = Arc::new(abm::context::AppContext::new(db, settings, clock));
                let run = abm::analytics::service::run_now(&ctx, abm::jobs::Trigger::Cli).await?;
                // The segment recompute the run queued.
                abm::jobs::worker::drain(&ctx).await?;
                println!(
                    "analysis run {} as of {}: {}",
                    run.id,
                    run.as_of,
                    run.summary.map(|s| s.to_string()).unwrap_or_default()
                );
                return Ok(ExitCode::SUCCESS);
            };
            let cfg = &settings.analytics;
            let measure = measure.unwrap_or(cfg.measure);
            let as_of = as_of
                .map(|d| abm::domain::parse_date(&d).map_err(|m| anyhow::anyhow!("--as-of: {m}")))
                .transpose()?;
            let book = match abm::analytics::offline::load(
                &orders,
                cfg.month_timezone.0,
                measure == abm::config::Measure::Profit,
                as_of,
            ) {
                Ok(b) => b,
                Err(e) => return Ok(report_input_error(&orders, e)),
            };
            let opts = abm::analytics::offline::AnalyzeOptions {
                as_of,
                window_end: None,
                months,
                measure,
            };
            let analysis = abm::analytics::offline::analyze(&book, &opts, cfg)
                .map_err(|e| anyhow::anyhow!(e))?;
            abm::analytics::offline::write_analysis(&analysis, &out)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            print!(
                "{}",
                abm::analytics::offline::matrix_text(&analysis, measure)
            );
            if let Some(e) = &analysis.fit_error {
                eprintln!(
                    "warning: the BG/NBD model could not be fitted ({e}); churn uses the rule only"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(ReportCommand::AbcXyz { xlsx, run_id }) => {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
            let db = connect_migrated(&settings).await?;
            let mut q = abm::entities::analysis_run::Entity::find()
                .filter(abm::entities::analysis_run::Column::Status.eq("succeeded"));
            if let Some(id) = run_id {
                q = q.filter(abm::entities::analysis_run::Column::Id.eq(id));
            }
            let Some(run) = q
                .order_by_desc(abm::entities::analysis_run::Column::Id)
                .one(&db)
                .await?
            else {
                eprintln!(
                    "error: no succeeded analysis run{} (run `abm analyze` first)",
                    run_id.map(|i| format!(" {i}")).unwrap_or_default()
                );
                return Ok(ExitCode::FAILURE);
            };
            let churn = abm::analytics::report::churn_rows(&db, clock.now(), None, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let bytes = abm::analytics::report::workbook(&db, &run, &churn)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(&xlsx, bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", xlsx.display()))?;
            println!(
                "wrote {} (run {} as of {})",
                xlsx.display(),
                run.id,
                run.as_of
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Segments(SegmentsCommand::Recompute) => {
            let db = connect_migrated(&settings).await?;
            let ctx = Arc::new(abm::context::AppContext::new(db, settings, clock));
            let started = std::time::Instant::now();
            let changes = abm::segments::recompute_now(&ctx, abm::jobs::Trigger::Cli, None).await?;
            for c in &changes {
                println!(
                    "{}: {} members ({} entered, {} left)",
                    c.key, c.members, c.entered, c.left
                );
            }
            eprintln!(
                "{} segments recomputed in {:.1} s",
                changes.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Templates(TemplatesCommand::Preview {
            account,
            purpose,
            stakeholder,
            channel,
            offer,
        }) => {
            let offer = offer
                .map(|o| serde_json::from_str(&o).map_err(|e| anyhow::anyhow!("--offer: {e}")))
                .transpose()?;
            let db = connect_migrated(&settings).await?;
            let ctx = abm::context::AppContext::new(db, settings.clone(), clock.clone());
            let input = abm::content::service::PreviewInput {
                account,
                stakeholder,
                purpose,
                channel,
                offer,
                event: None,
            };
            match abm::content::service::preview(&ctx, input).await {
                Ok(view) => {
                    println!("{}", serde_json::to_string_pretty(&view)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(abm::content::ContentError::Invalid(errors)) => {
                    eprintln!("error: the input has invalid fields");
                    for fe in errors {
                        eprintln!("  {}: {}", fe.path, fe.message);
                    }
                    Ok(ExitCode::from(1))
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Templates(TemplatesCommand::Lint { dir }) => {
            let dir = dir.unwrap_or_else(|| settings.templates.dir.clone());
            let problems = abm::content::lint::lint_dir(&dir);
            for p in &problems {
                eprintln!("{p}");
            }
            if problems.is_empty() {
                let n = abm::content::load_dir(&dir).templates.len();
                println!("{n} templates in {}: no problems", dir.display());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} problem(s)", problems.len());
                Ok(ExitCode::from(1))
            }
        }
        Command::Churn(cmd) => {
            let cfg = &settings.analytics;
            let (orders, calibration_end, unit) = match &cmd {
                ChurnCommand::Fit {
                    orders,
                    calibration_end,
                    unit,
                }
                | ChurnCommand::Predict {
                    orders,
                    calibration_end,
                    unit,
                    ..
                } => (orders, calibration_end, unit.unwrap_or(cfg.model_unit)),
            };
            let end = abm::domain::parse_date(calibration_end)
                .map_err(|m| anyhow::anyhow!("--calibration-end: {m}"))?;
            let book =
                match abm::analytics::offline::load(orders, cfg.month_timezone.0, false, Some(end))
                {
                    Ok(b) => b,
                    Err(e) => return Ok(report_input_error(orders, e)),
                };
            let customers = abm::analytics::offline::customers(&book, end, unit.days());
            let input: Vec<_> = customers.iter().map(|(_, c)| *c).collect();
            let started = Instant::now();
            let fit = abm::analytics::bgnbd::fit(&input)?;
            let fit_ms = started.elapsed().as_secs_f64() * 1000.0;
            match cmd {
                ChurnCommand::Fit { .. } => {
                    let unit_name = match unit {
                        abm::config::ModelUnit::Days => "days",
                        abm::config::ModelUnit::Weeks => "weeks",
                    };
                    println!(
                        "{}",
                        serde_json::json!({
                            "r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b,
                            "log_likelihood": fit.log_likelihood,
                            "customers": fit.customers, "unit": unit_name,
                            "calibration_end": end.to_string(),
                            "fit_ms": (fit_ms * 10.0).round() / 10.0,
                        })
                    );
                }
                ChurnCommand::Predict { horizon, out, .. } => {
                    anyhow::ensure!(
                        horizon > 0.0 && horizon.is_finite(),
                        "--horizon must be a positive number"
                    );
                    let file = std::fs::File::create(&out)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    abm::analytics::offline::write_predictions(
                        &book, &customers, &fit, horizon, &mut w,
                    )?;
                    eprintln!(
                        "fitted r={:.4} alpha={:.4} a={:.4} b={:.4} on {} accounts; wrote {}",
                        fit.r,
                        fit.alpha,
                        fit.a,
                        fit.b,
                        fit.customers,
                        out.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            accounts,
            seed,
            end,
            orders_csv,
            csv_only,
        } => {
            let end = match end {
                Some(e) => {
                    abm::domain::parse_date(&e).map_err(|m| anyhow::anyhow!("--end: {m}"))?
                }
                None => clock.now().date_naive(),
            };
            let opts = abm::demo::DemoOptions {
                accounts,
                seed,
                end,
                orders_csv,
            };
            let started = Instant::now();
            let db = if csv_only {
                None
            } else {
                Some(connect_migrated(&settings).await?)
            };
            let stats = abm::demo::generate(db.as_ref(), clock.as_ref(), &settings, &opts).await?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "demo data: {} accounts, {} managers, {} stakeholders, {} orders in {:.1}s (seed {seed}, history ending {end})",
                stats.accounts, stats.managers, stats.stakeholders, stats.orders, secs
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn connect_migrated(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = abm::db::connect(&settings.database).await?;
    abm::db::migrate(&db).await?;
    Ok(db)
}

fn report_import(
    kind: ImportKind,
    file: &std::path::Path,
    result: Result<(ImportSummary, Vec<String>), ImportError>,
    started: Instant,
) -> ExitCode {
    let what = match kind {
        ImportKind::Accounts => "accounts",
        ImportKind::Stakeholders => "stakeholders",
        ImportKind::Orders => "orders",
    };
    match result {
        Ok((s, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let related = match kind {
                ImportKind::Orders => format!(", {} accounts created", s.created_related),
                ImportKind::Accounts => format!(", {} managers created", s.created_related),
                ImportKind::Stakeholders => String::new(),
            };
            println!(
                "imported {what} from {}: {} rows, {} written, {} unchanged{related} in {:.2}s ({:.0} rows/s)",
                file.display(),
                s.rows,
                s.written,
                s.unchanged,
                secs,
                s.rows as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(ImportError::Rows { rows, count, shown }) => {
            for e in &shown {
                eprintln!("{}: {e}", file.display());
            }
            if count > shown.len() as u64 {
                eprintln!("… and {} more", count - shown.len() as u64);
            }
            eprintln!(
                "error: {rows} invalid row(s) in {}; nothing was imported",
                file.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was imported");
            ExitCode::FAILURE
        }
    }
}

/// Prints an input file's problems (row, column, reason) and returns the failure exit code.
fn report_input_error(file: &std::path::Path, e: ImportError) -> ExitCode {
    match e {
        ImportError::Rows { rows, count, shown } => {
            for e in &shown {
                eprintln!("{}: {e}", file.display());
            }
            if count > shown.len() as u64 {
                eprintln!("… and {} more", count - shown.len() as u64);
            }
            eprintln!("error: {rows} invalid row(s) in {}", file.display());
        }
        other => eprintln!("error: {}: {other}", file.display()),
    }
    ExitCode::FAILURE
}

/// A progress bar on a terminal; silent otherwise.
struct ProgressBar(Option<indicatif::ProgressBar>);

impl ProgressBar {
    fn new(enabled: bool, file: &std::path::Path) -> Self {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(Some(bar))
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for ProgressBar {
    fn rows(&self, rows: u64, bytes: u64) {
        if let Some(b) = &self.0 {
            if bytes > 0 {
                b.set_position(bytes);
            }
            b.set_message(format!("{rows} rows"));
        }
    }
}
