//! The analysis of an order book: ABC/XYZ, pillar, churn by rule and by the BG/NBD model,
//! per account with the reason for each class. The offline command and the in-database run
//! both call [`analyze`], so a file and the database give the same classes.

use chrono::NaiveDate;

use super::book::{OrderBook, date_of, day_number, month_index};
use super::par::par_map;
use crate::analytics::bgnbd::{self, Customer, Fit};
use crate::analytics::classify::{self, Abc, ChurnPolicy, ChurnRule, Share, Thresholds, Xyz};
use crate::config::{AnalyticsSettings, Measure};

/// Options of `abm analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub as_of: Option<NaiveDate>,
    /// A day in the window's last month when it is not the as-of month (the service analyses
    /// complete months only).
    pub window_end: Option<NaiveDate>,
    pub months: Option<u32>,
    pub measure: Measure,
}

/// One output row of `abm analyze`.
#[derive(Debug, Clone)]
pub struct AccountResult {
    pub account_id: String,
    pub revenue: i64,
    pub profit: Option<i64>,
    pub abc: Option<Abc>,
    pub abc_reason: String,
    pub cv: Option<f64>,
    pub xyz: Option<Xyz>,
    pub xyz_reason: String,
    pub orders: u64,
    pub first_order: Option<NaiveDate>,
    pub last_order: Option<NaiveDate>,
    pub days_since_last_order: Option<i64>,
    pub median_interval_days: Option<f64>,
    /// Share of the measure's total (unclassified accounts included at their value).
    pub value_share: Option<f64>,
    pub cumulative_share: Option<f64>,
    pub types: Vec<&'static str>,
    pub types_reason: String,
    pub lost: bool,
    pub lost_reason: String,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
}

/// The analysis of a whole file.
pub struct Analysis {
    pub results: Vec<AccountResult>,
    pub as_of: NaiveDate,
    pub first_month: NaiveDate,
    pub months: u32,
    pub decimals: u32,
    pub fit: Option<Fit>,
    pub fit_error: Option<String>,
}

fn month_start(index: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or_default()
}

/// Runs ABC/XYZ, types and churn over the order book.
pub fn analyze(
    book: &OrderBook,
    opts: &AnalyzeOptions,
    cfg: &AnalyticsSettings,
) -> Result<Analysis, String> {
    let as_of_day = match opts.as_of {
        Some(d) => day_number(d),
        None => book
            .aggs
            .iter()
            .filter_map(|a| a.days.last().copied())
            .max()
            .ok_or("the file has no orders")?,
    };
    let as_of = date_of(as_of_day);
    let last_month = month_index(opts.window_end.unwrap_or(as_of));
    let first_month = match opts.months {
        Some(n) if n == 0 || n > 1200 => return Err("--months must be between 1 and 1200".into()),
        Some(n) => last_month - n as i32 + 1,
        None => book
            .aggs
            .iter()
            .filter_map(|a| a.months.first().map(|m| m.month))
            .min()
            .unwrap_or(last_month),
    };
    let months = (last_month - first_month + 1).max(1) as u32;
    let thresholds = Thresholds {
        a: Share::from_f64(cfg.abc_a)?,
        b: Share::from_f64(cfg.abc_b)?,
        x: cfg.xyz_x,
        y: cfg.xyz_y,
    };
    let rule = ChurnRule {
        min_days: i64::from(cfg.churn_min_days),
        k: cfg.churn_k,
    };

    // Per account: window sums and monthly buckets (orders after as-of were cut at load).
    struct Acc<'a> {
        revenue: i64,
        profit: Option<i64>,
        monthly: Vec<i64>,
        orders: u64,
        days: &'a [i32],
    }
    let accs: Vec<Acc> = par_map(book.aggs.len(), |i| {
        let agg = &book.aggs[i];
        {
            let mut a = Acc {
                revenue: 0,
                profit: None,
                monthly: vec![0; months as usize],
                orders: 0,
                days: &agg.days,
            };
            for m in agg
                .months
                .iter()
                .filter(|m| m.month >= first_month && m.month <= last_month)
            {
                a.revenue = a.revenue.saturating_add(m.amount);
                if m.has_margin {
                    let p = a.profit.get_or_insert(0);
                    *p = p.saturating_add(m.margin);
                }
                let slot = &mut a.monthly[(m.month - first_month) as usize];
                *slot = slot.saturating_add(m.amount);
                a.orders += u64::from(m.orders);
            }
            a
        }
    });

    let values: Vec<(&str, i64)> = book
        .accounts
        .iter()
        .zip(&accs)
        .map(|(k, a)| {
            let v = match opts.measure {
                Measure::Revenue => a.revenue,
                Measure::Profit => a.profit.unwrap_or(0),
            };
            (k.as_str(), v)
        })
        .collect();
    let abc = classify::abc(&values, &thresholds);
    let value_total: i128 = values.iter().map(|(_, v)| i128::from((*v).max(0))).sum();

    // Pillar: share of profit (revenue when no margins are known) ≥ pillar_share.
    let pillar_share = Share::from_f64(cfg.pillar_share)?;
    // Profit only when every account with sales reports margins; otherwise accounts without
    // margins would count as zero.
    let use_profit = book.has_margin
        && accs
            .iter()
            .filter(|a| a.revenue > 0)
            .all(|a| a.profit.is_some());
    let pillar_values: Vec<i64> = accs
        .iter()
        .map(|a| {
            if use_profit {
                a.profit.unwrap_or(0)
            } else {
                a.revenue
            }
            .max(0)
        })
        .collect();
    let pillar_total: i128 = pillar_values.iter().map(|v| i128::from(*v)).sum();

    // BG/NBD over every account with an order on or before as-of.
    let unit = cfg.model_unit.days();
    let customers: Vec<Option<Customer>> = if cfg.churn_policy == ChurnPolicy::Rule {
        Vec::new()
    } else {
        accs.iter()
            .map(|a| bgnbd::customer_from_days(a.days, as_of_day, unit))
            .collect()
    };
    let (fit, fit_error) = if cfg.churn_policy == ChurnPolicy::Rule {
        (None, None)
    } else {
        let fit_input: Vec<Customer> = customers.iter().flatten().copied().collect();
        match bgnbd::fit(&fit_input) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };

    let results = par_map(accs.len(), |i| {
        let a = &accs[i];
        let x = classify::xyz(&a.monthly, &thresholds);
        let verdict = classify::churn_rule(a.days, as_of_day, &rule);
        let (p_alive, expected) = match (&fit, customers.get(i).copied().flatten()) {
            (Some(f), Some(c)) => (
                Some(bgnbd::p_alive(&f.params(), &c)),
                Some(bgnbd::expected_purchases(
                    &f.params(),
                    &c,
                    cfg.model_horizon,
                ))
                .filter(|v| v.is_finite()),
            ),
            _ => (None, None),
        };
        let model_lost = p_alive.map(|p| p < cfg.p_alive_threshold);
        let rule_lost = verdict.as_ref().is_some_and(|v| v.lost);
        let lost = verdict.is_some() && cfg.churn_policy.combine(rule_lost, model_lost);
        let mut reasons = Vec::new();
        if lost {
            if rule_lost && cfg.churn_policy != ChurnPolicy::Model {
                reasons.push(verdict.as_ref().map(|v| v.why.clone()).unwrap_or_default());
            }
            if model_lost == Some(true) && cfg.churn_policy != ChurnPolicy::Rule {
                reasons.push(format!(
                    "P(alive) {:.2} < {:.2}",
                    p_alive.unwrap_or(0.0),
                    cfg.p_alive_threshold
                ));
            }
        }
        let mut types = Vec::new();
        let share_of = |v: i64| {
            if pillar_total > 0 {
                v as f64 / pillar_total as f64
            } else {
                0.0
            }
        };
        let basis = if use_profit { "profit" } else { "revenue" };
        let types_reason = if pillar_total > 0
            && pillar_share.reached_by(i128::from(pillar_values[i]), pillar_total)
        {
            types.push("pillar");
            format!(
                "pillar: {:.1} % of {basis} ≥ {:.0} %",
                share_of(pillar_values[i]) * 100.0,
                pillar_share.as_f64() * 100.0
            )
        } else {
            format!(
                "not a pillar: {:.1} % of {basis} < {:.0} %",
                share_of(pillar_values[i]) * 100.0,
                pillar_share.as_f64() * 100.0
            )
        };

        AccountResult {
            account_id: book.accounts[i].clone(),
            revenue: a.revenue,
            profit: a.profit,
            abc: abc[i].class,
            abc_reason: abc[i].why.clone(),
            cv: x.cv,
            xyz: x.class,
            xyz_reason: x.why,
            orders: a.orders,
            first_order: a.days.first().map(|d| date_of(*d)),
            last_order: a.days.last().map(|d| date_of(*d)),
            days_since_last_order: verdict.as_ref().map(|v| v.days_since_last_order),
            median_interval_days: verdict.as_ref().and_then(|v| v.median_interval_days),
            value_share: (value_total > 0).then(|| values[i].1 as f64 / value_total as f64),
            cumulative_share: abc[i].cumulative_share,
            types,
            types_reason,
            lost,
            lost_reason: reasons.join("; "),
            p_alive,
            expected_purchases: expected,
        }
    });
    Ok(Analysis {
        results,
        as_of,
        first_month: month_start(first_month),
        months,
        decimals: book.decimals,
        fit,
        fit_error,
    })
}

/// Model inputs per account for a calibration end date.
pub fn customers(book: &OrderBook, end: NaiveDate, unit_days: f64) -> Vec<(usize, Customer)> {
    let end = day_number(end);
    book.aggs
        .iter()
        .enumerate()
        .filter_map(|(i, agg)| bgnbd::customer_from_days(&agg.days, end, unit_days).map(|c| (i, c)))
        .collect()
}
