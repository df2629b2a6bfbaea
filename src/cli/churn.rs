//! `abm churn fit|predict`: the BG/NBD churn model, from an orders CSV.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use chrono::NaiveDate;

use super::output::report_input_error;
use crate::analytics::bgnbd::{Customer, Fit};
use crate::analytics::engine::OrderBook;
use crate::config::{ModelUnit, Settings};

/// Fits BG/NBD on the orders up to `calibration_end` and prints the parameters as JSON.
pub fn fit(
    settings: &Settings,
    orders: &Path,
    calibration_end: &str,
    unit: Option<ModelUnit>,
) -> anyhow::Result<ExitCode> {
    let fitted = match Fitted::new(settings, orders, calibration_end, unit)? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let Fitted {
        fit,
        end,
        unit,
        fit_ms,
        ..
    } = fitted;
    let unit_name = match unit {
        ModelUnit::Days => "days",
        ModelUnit::Weeks => "weeks",
    };
    outln!(
        "{}",
        serde_json::json!({
            "r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b,
            "log_likelihood": fit.log_likelihood,
            "customers": fit.customers, "unit": unit_name,
            "calibration_end": end.to_string(),
            "fit_ms": (fit_ms * 10.0).round() / 10.0,
            "optimiser": fit.optimiser,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Fits BG/NBD, then writes per account frequency, recency, T, P(alive) and the purchases
/// expected within `horizon` to `out`.
pub fn predict(
    settings: &Settings,
    orders: &Path,
    calibration_end: &str,
    horizon: f64,
    unit: Option<ModelUnit>,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let fitted = match Fitted::new(settings, orders, calibration_end, unit)? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let Fitted {
        book,
        customers,
        fit,
        ..
    } = fitted;
    anyhow::ensure!(
        horizon > 0.0 && horizon.is_finite(),
        "--horizon must be a positive number"
    );
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    crate::analytics::engine::write_predictions(&book, &customers, &fit, horizon, &mut w)?;
    eprintln!(
        "fitted r={:.4} alpha={:.4} a={:.4} b={:.4} on {} accounts; wrote {}",
        fit.r,
        fit.alpha,
        fit.a,
        fit.b,
        fit.customers,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The model fitted on an orders CSV, with what it was fitted on.
struct Fitted {
    book: OrderBook,
    customers: Vec<(usize, Customer)>,
    fit: Fit,
    end: NaiveDate,
    unit: ModelUnit,
    /// How long the fit took, in milliseconds.
    fit_ms: f64,
}

impl Fitted {
    /// Loads the orders up to `calibration_end` and fits the model; `Ok(Err(code))` when the
    /// input file is invalid (its problems printed).
    fn new(
        settings: &Settings,
        orders: &Path,
        calibration_end: &str,
        unit: Option<ModelUnit>,
    ) -> anyhow::Result<Result<Self, ExitCode>> {
        let cfg = &settings.analytics;
        let unit = unit.unwrap_or(cfg.model_unit);
        let end = crate::domain::parse_date(calibration_end)
            .map_err(|m| anyhow::anyhow!("--calibration-end: {m}"))?;
        let book =
            match crate::analytics::engine::load(orders, cfg.month_timezone.0, false, Some(end)) {
                Ok(b) => b,
                Err(e) => return Ok(Err(report_input_error(orders, e))),
            };
        let customers = crate::analytics::engine::customers(&book, end, unit.days());
        let input: Vec<_> = customers.iter().map(|(_, c)| *c).collect();
        let started = Instant::now();
        let fit = crate::analytics::bgnbd::fit(&input)?;
        let fit_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Ok(Self {
            book,
            customers,
            fit,
            end,
            unit,
            fit_ms,
        }))
    }
}
