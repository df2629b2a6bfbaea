//! The offline commands `abm analyze`, `abm churn fit` and `abm churn predict`: they read an
//! orders CSV (`account_id,ordered_at,amount[,margin]`), need no database, and write their
//! results as CSV/JSON. Input errors are reported per row and column, and nothing is written.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::bgnbd::{self, Customer, Fit};
use super::classify::{self, Abc, ChurnPolicy, ChurnRule, Share, Thresholds, Xyz};
use crate::config::{AnalyticsSettings, Measure};
use crate::domain::{format_decimal, parse_decimal, parse_timestamp};
use crate::import::{Errors, ImportError, RowError};

/// A quick (non-DoS-resistant) hash map for account ids read from a trusted local file.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Amounts are read with this many decimals (exact integers of 1/10,000).
const SCALE: u32 = 4;

/// One account's orders in one calendar month, summed.
#[derive(Debug, Clone, Copy)]
struct MonthAgg {
    month: i32,
    amount: i64,
    margin: i64,
    orders: u32,
    has_margin: bool,
}

/// What the analyses need of one account's orders: monthly sums and the order days. Much
/// smaller than the orders themselves, so millions of rows fit in little memory.
#[derive(Debug, Clone, Default)]
pub struct AccountAgg {
    months: Vec<MonthAgg>,
    /// Order days; sorted and distinct once loading is done.
    days: Vec<i32>,
}

impl AccountAgg {
    /// Adds one order: its day and month (as numbered by [`day_number`] / [`month_index`]).
    pub fn add(&mut self, day: i32, month: i32, amount: i64, margin: Option<i64>) {
        if self.days.last() != Some(&day) {
            self.days.push(day);
        }
        let slot = match self.months.iter().rposition(|m| m.month == month) {
            Some(i) => &mut self.months[i],
            None => {
                self.months.push(MonthAgg {
                    month,
                    amount: 0,
                    margin: 0,
                    orders: 0,
                    has_margin: false,
                });
                let last = self.months.len() - 1;
                &mut self.months[last]
            }
        };
        // Saturating: a total beyond ±9.2e14 major units is not a real account; it stays at
        // the limit instead of wrapping around.
        slot.amount = slot.amount.saturating_add(amount);
        slot.orders = slot.orders.saturating_add(1);
        if let Some(m) = margin {
            slot.margin = slot.margin.saturating_add(m);
            slot.has_margin = true;
        }
    }

    fn merge(&mut self, other: AccountAgg) {
        self.days.extend(other.days);
        for m in other.months {
            match self.months.iter_mut().find(|x| x.month == m.month) {
                Some(x) => {
                    x.amount = x.amount.saturating_add(m.amount);
                    x.margin = x.margin.saturating_add(m.margin);
                    x.orders = x.orders.saturating_add(m.orders);
                    x.has_margin |= m.has_margin;
                }
                None => self.months.push(m),
            }
        }
    }

    /// Sorts and de-duplicates; call once all orders are added.
    pub fn finish(&mut self) {
        self.days.sort_unstable();
        self.days.dedup();
        self.months.sort_unstable_by_key(|m| m.month);
    }
}

/// All accounts of an orders file (or of the database), aggregated.
pub struct OrderBook {
    pub accounts: Vec<String>,
    aggs: Vec<AccountAgg>,
    /// Most decimals seen in an amount, to print sums the way they came in.
    decimals: u32,
    pub has_margin: bool,
    pub rows: u64,
}

/// Days since 1970-01-01.
pub fn day_number(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163 // days since 1970-01-01
}

/// The date of a [`day_number`].
pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap_or_default()
}

/// Months since year 0 (year × 12 + month − 1).
pub fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn decimals_of(raw: &str) -> u32 {
    raw.trim()
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('0').len() as u32)
        .unwrap_or(0)
}

impl OrderBook {
    /// A book built elsewhere (e.g. from the database); amounts in any fixed scale whose
    /// decimals are `decimals`.
    pub fn from_aggs(
        accounts: Vec<String>,
        mut aggs: Vec<AccountAgg>,
        decimals: u32,
        has_margin: bool,
    ) -> Self {
        for a in &mut aggs {
            a.finish();
        }
        Self {
            accounts,
            aggs,
            decimals,
            has_margin,
            rows: 0,
        }
    }
}

/// Column positions of an orders file.
#[derive(Debug, Clone, Copy)]
struct Cols {
    account: usize,
    at: usize,
    amount: usize,
    margin: Option<usize>,
    width: usize,
}

/// What one thread read from its part of the file.
#[derive(Default)]
struct Part {
    index: FastMap<Box<str>, u32>,
    names: Vec<String>,
    aggs: Vec<AccountAgg>,
    errors: Vec<RowError>,
    error_count: u64,
    /// Lines in this part (to number the rows of the parts after it).
    lines: u64,
    rows: u64,
    decimals: u32,
    has_margin: bool,
    /// A quote character was seen: parts split at newlines may have cut a quoted field.
    quoted: bool,
}

/// A reader that remembers whether a `"` went through it.
struct QuoteWatch<R> {
    inner: R,
    seen: bool,
}

impl<R: std::io::Read> std::io::Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.seen && buf[..n].contains(&b'"') {
            self.seen = true;
        }
        Ok(n)
    }
}

fn read_part(
    path: &Path,
    start: u64,
    end: u64,
    cols: Cols,
    tz: chrono_tz::Tz,
    cut: Option<i32>,
) -> Result<Part, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    let mut watch = QuoteWatch {
        inner: std::io::BufReader::with_capacity(1 << 20, file.take(end - start)),
        seen: false,
    };
    let mut part = Part::default();
    let utc = tz == chrono_tz::UTC;
    {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(&mut watch);
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Err(format!(
                        "line {line} of its part: the file cannot be parsed as CSV: {e}"
                    ));
                }
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            part.rows += 1;
            let mut bad = |column: &str, message: String| {
                part.error_count += 1;
                if part.errors.len() < 10_000 {
                    part.errors.push(RowError {
                        row: line,
                        column: Some(column.to_string()),
                        message,
                    });
                }
            };
            if record.len() != cols.width {
                bad(
                    "*",
                    format!(
                        "expected {} fields like the header, found {}",
                        cols.width,
                        record.len()
                    ),
                );
                continue;
            }
            let field = |i: usize| record.get(i).map(std::str::from_utf8);
            let (Some(Ok(acc)), Some(Ok(at)), Some(Ok(amount))) =
                (field(cols.account), field(cols.at), field(cols.amount))
            else {
                bad("*", "is not valid UTF-8".into());
                continue;
            };
            let acc = acc.trim();
            if acc.is_empty() {
                bad("account_id", "must not be empty".into());
                continue;
            }
            let at = at.trim();
            let (day, month) =
                match fast_date(at).or_else(|| if utc { fast_utc_timestamp(at) } else { None }) {
                    Some(d) => (day_number(d), month_index(d)),
                    None => match parse_timestamp(at) {
                        Ok(ts) => local_day(ts, tz, utc),
                        Err(e) => {
                            bad("ordered_at", e);
                            continue;
                        }
                    },
                };
            let amount_v = match parse_decimal(amount, SCALE) {
                Ok(v) => v,
                Err(e) => {
                    bad("amount", e);
                    continue;
                }
            };
            let margin = match cols
                .margin
                .and_then(|c| record.get(c))
                .map(std::str::from_utf8)
            {
                Some(Ok(m)) if !m.trim().is_empty() => match parse_decimal(m, SCALE) {
                    Ok(v) => {
                        part.has_margin = true;
                        part.decimals = part.decimals.max(decimals_of(m));
                        Some(v)
                    }
                    Err(e) => {
                        bad("margin", e);
                        continue;
                    }
                },
                Some(Err(_)) => {
                    bad("margin", "is not valid UTF-8".into());
                    continue;
                }
                _ => None,
            };
            part.decimals = part.decimals.max(decimals_of(amount));
            if cut.is_some_and(|c| day > c) {
                continue;
            }
            let idx = match part.index.get(acc) {
                Some(&i) => i as usize,
                None => {
                    let i = part.names.len();
                    part.index.insert(acc.into(), i as u32);
                    part.names.push(acc.to_string());
                    part.aggs.push(AccountAgg::default());
                    i
                }
            };
            part.aggs[idx].add(day, month, amount_v, margin);
        }
        part.lines = reader.position().line().saturating_sub(1);
    }
    part.quoted = watch.seen;
    Ok(part)
}

/// Reads and checks the whole file, on several threads for large files; any bad row fails
/// the load with every row error. Orders after `cut` (a day) are checked but not counted.
pub fn load(
    path: &Path,
    tz: chrono_tz::Tz,
    need_margin: bool,
    cut: Option<NaiveDate>,
) -> Result<OrderBook, ImportError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ImportError::File(format!("cannot open {}: {e}", path.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new().from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| ImportError::File(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let data_start = reader.position().byte();
    let header_lines = reader.position().line().saturating_sub(1);
    drop(reader);
    let find = |name: &str| headers.iter().position(|h| h == name);
    let (Some(account), Some(at), Some(amount)) =
        (find("account_id"), find("ordered_at"), find("amount"))
    else {
        let missing: Vec<&str> = ["account_id", "ordered_at", "amount"]
            .into_iter()
            .filter(|c| find(c).is_none())
            .collect();
        return Err(ImportError::File(format!(
            "missing required column(s): {} (the header row has: {})",
            missing.join(", "),
            headers.join(", ")
        )));
    };
    let cols = Cols {
        account,
        at,
        amount,
        margin: find("margin"),
        width: headers.len(),
    };
    if need_margin && cols.margin.is_none() {
        return Err(ImportError::File(
            "--measure profit needs a `margin` column".into(),
        ));
    }
    let cut = cut.map(day_number);
    let threads = if size > 16 << 20 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8)
    } else {
        1
    };
    let mut parts = read_parts(path, data_start, size, threads, cols, tz, cut)?;
    if parts.len() > 1 && parts.iter().any(|p| p.quoted) {
        // Quoted fields may span lines, so a split at a newline could cut one: read in one go.
        parts = read_parts(path, data_start, size, 1, cols, tz, cut)?;
    }

    // Number rows across parts, then merge the parts' accounts into the first.
    let mut errors = Errors::default();
    let mut lines_before = header_lines;
    let mut book = OrderBook {
        accounts: Vec::new(),
        aggs: Vec::new(),
        decimals: 0,
        has_margin: false,
        rows: 0,
    };
    let mut index: FastMap<Box<str>, u32> = FastMap::default();
    for part in parts {
        let kept = part.errors.len() as u64;
        for mut e in part.errors {
            e.row += lines_before;
            errors.add(e);
        }
        // Problems beyond the ones kept by the part only count.
        errors.count += part.error_count - kept;
        lines_before += part.lines;
        book.rows += part.rows;
        book.decimals = book.decimals.max(part.decimals);
        book.has_margin |= part.has_margin;
        let mut aggs = part.aggs.into_iter();
        for name in part.names {
            let agg = aggs.next().unwrap_or_default();
            match index.get(name.as_str()) {
                Some(&i) => book.aggs[i as usize].merge(agg),
                None => {
                    index.insert(name.as_str().into(), book.accounts.len() as u32);
                    book.accounts.push(name);
                    book.aggs.push(agg);
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.into_error());
    }
    for agg in &mut book.aggs {
        agg.finish();
    }
    Ok(book)
}

#[allow(clippy::too_many_arguments)]
fn read_parts(
    path: &Path,
    data_start: u64,
    size: u64,
    threads: usize,
    cols: Cols,
    tz: chrono_tz::Tz,
    cut: Option<i32>,
) -> Result<Vec<Part>, ImportError> {
    // Split points just after a newline near each equal share of the file.
    let mut bounds = vec![data_start];
    for i in 1..threads as u64 {
        let nominal = data_start + (size - data_start) * i / threads as u64;
        bounds.push(next_line_start(
            path,
            nominal.max(*bounds.last().unwrap_or(&0)),
            size,
        )?);
    }
    bounds.push(size);
    bounds.dedup();
    let results: Vec<Result<Part, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || read_part(path, start, end, cols, tz, cut))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a reader thread failed".into()))
            })
            .collect()
    });
    results
        .into_iter()
        .map(|r| r.map_err(ImportError::File))
        .collect()
}

/// The offset just after the first newline at or after `from` (or `size`).
fn next_line_start(path: &Path, from: u64, size: u64) -> Result<u64, ImportError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| ImportError::File(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = from;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(size);
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

/// `YYYY-MM-DD` without going through the general parser.
fn fast_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    (crate::domain::MIN_YEAR..=crate::domain::MAX_YEAR)
        .contains(&d.year())
        .then_some(d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (the common UTC form) without the general parser; its UTC date.
fn fast_utc_timestamp(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let two = |i: usize| -> Option<u32> {
        (b[i].is_ascii_digit() && b[i + 1].is_ascii_digit())
            .then(|| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0'))
    };
    if two(11)? > 23 || two(14)? > 59 || two(17)? > 60 {
        return None;
    }
    fast_date(&s[..10])
}

fn local_day(ts: DateTime<Utc>, tz: chrono_tz::Tz, utc: bool) -> (i32, i32) {
    let d = if utc {
        ts.date_naive()
    } else {
        ts.with_timezone(&tz).date_naive()
    };
    (day_number(d), month_index(d))
}

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
    let accs: Vec<Acc> = book
        .aggs
        .iter()
        .map(|agg| {
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
        })
        .collect();

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
    let customers: Vec<Option<Customer>> = accs
        .iter()
        .map(|a| bgnbd::customer_from_days(a.days, as_of_day, unit))
        .collect();
    let fit_input: Vec<Customer> = customers.iter().flatten().copied().collect();
    let (fit, fit_error) = if cfg.churn_policy == ChurnPolicy::Rule {
        (None, None)
    } else {
        match bgnbd::fit(&fit_input) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };

    let mut results = Vec::with_capacity(accs.len());
    for (i, a) in accs.iter().enumerate() {
        let x = classify::xyz(&a.monthly, &thresholds);
        let verdict = classify::churn_rule(a.days, as_of_day, &rule);
        let (p_alive, expected) = match (&fit, customers[i]) {
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

        results.push(AccountResult {
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
        });
    }
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

/// Formats an amount read at 1/10,000 with the decimals the input used.
fn money(v: i64, decimals: u32) -> String {
    let drop = 10i64.pow(SCALE - decimals.min(SCALE));
    format_decimal(v / drop, decimals.min(SCALE))
}

/// Writes the per-account CSV of `abm analyze` (column contract in README).
pub fn write_analysis(analysis: &Analysis, out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record([
        "account_id",
        "revenue",
        "profit",
        "abc",
        "cv",
        "xyz",
        "orders",
        "first_order_at",
        "last_order_at",
        "days_since_last_order",
        "types",
        "lost",
        "lost_reason",
        "p_alive",
        "expected_purchases",
        "abc_reason",
        "xyz_reason",
    ])?;
    let d = analysis.decimals;
    for r in &analysis.results {
        w.write_record([
            r.account_id.as_str(),
            &money(r.revenue, d),
            &r.profit.map(|p| money(p, d)).unwrap_or_default(),
            r.abc.map(Abc::as_str).unwrap_or(""),
            &r.cv.map(|c| format!("{c:.4}")).unwrap_or_default(),
            r.xyz.map(Xyz::as_str).unwrap_or(""),
            &r.orders.to_string(),
            &r.first_order.map(|d| d.to_string()).unwrap_or_default(),
            &r.last_order.map(|d| d.to_string()).unwrap_or_default(),
            &r.days_since_last_order
                .map(|d| d.to_string())
                .unwrap_or_default(),
            &r.types.join(";"),
            if r.lost { "true" } else { "false" },
            &r.lost_reason,
            &r.p_alive.map(|p| format!("{p:.4}")).unwrap_or_default(),
            &r.expected_purchases
                .map(|p| format!("{p:.4}"))
                .unwrap_or_default(),
            &r.abc_reason,
            &r.xyz_reason,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The 3×3 ABC-XYZ matrix as text: count and share of value per cell.
pub fn matrix_text(analysis: &Analysis, measure: Measure) -> String {
    let mut count = [[0u64; 3]; 3];
    let mut value = [[0i128; 3]; 3];
    let mut total: i128 = 0;
    let mut unclassified = 0u64;
    for r in &analysis.results {
        let v = match measure {
            Measure::Revenue => r.revenue,
            Measure::Profit => r.profit.unwrap_or(0),
        };
        match (r.abc, r.xyz) {
            (Some(a), Some(x)) => {
                count[a as usize][x as usize] += 1;
                value[a as usize][x as usize] += i128::from(v);
                total += i128::from(v);
            }
            _ => unclassified += 1,
        }
    }
    let mut s = format!(
        "ABC-XYZ matrix: {} accounts, {} months from {} to {} ({}; accounts, share of value)\n",
        analysis.results.len(),
        analysis.months,
        analysis.first_month.format("%Y-%m"),
        analysis.as_of,
        match measure {
            Measure::Revenue => "revenue",
            Measure::Profit => "profit",
        }
    );
    s.push_str(&format!("{:>4}{:>18}{:>18}{:>18}\n", "", "X", "Y", "Z"));
    for (ai, a) in ["A", "B", "C"].iter().enumerate() {
        s.push_str(&format!("{a:>4}"));
        for xi in 0..3 {
            let share = if total > 0 {
                value[ai][xi] as f64 / total as f64 * 100.0
            } else {
                0.0
            };
            s.push_str(&format!(
                "{:>18}",
                format!("{} ({share:.1}%)", count[ai][xi])
            ));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "unclassified (no value or no purchases in the window): {unclassified}\n"
    ));
    s
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

/// Writes `account_id,frequency,recency,T,p_alive,expected_purchases`.
pub fn write_predictions(
    book: &OrderBook,
    customers: &[(usize, Customer)],
    fit: &Fit,
    horizon: f64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "account_id",
        "frequency",
        "recency",
        "T",
        "p_alive",
        "expected_purchases",
    ])?;
    let p = fit.params();
    for (i, c) in customers {
        w.write_record([
            book.accounts[*i].as_str(),
            &c.x.to_string(),
            &format!("{:.4}", c.t_x),
            &format!("{:.4}", c.t),
            &format!("{:.6}", bgnbd::p_alive(&p, c)),
            &Some(bgnbd::expected_purchases(&p, c, horizon))
                .filter(|v| v.is_finite())
                .map(|v| format!("{v:.6}"))
                .unwrap_or_default(),
        ])?;
    }
    w.flush()
}
