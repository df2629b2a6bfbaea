//! What the offline commands write: the per-account CSV of `abm analyze`, the matrix as
//! text, and the predictions CSV of `abm churn predict`.

use std::io::Write;
use std::path::Path;

use super::analyze::{AccountResult, Analysis};
use super::book::{OrderBook, SCALE};
use super::par::par_map;
use crate::analytics::bgnbd::{self, Customer, Fit};
use crate::analytics::classify::{Abc, Xyz};
use crate::config::Measure;
use crate::domain::format_decimal;

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
    w.flush()?;
    let mut out = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Rows are formatted in blocks on all cores, then written in order.
    const BLOCK: usize = 4096;
    let results = &analysis.results;
    let blocks = par_map(results.len().div_ceil(BLOCK), |b| {
        let mut w = csv::Writer::from_writer(Vec::with_capacity(BLOCK * 256));
        let rows = &results[b * BLOCK..((b + 1) * BLOCK).min(results.len())];
        rows.iter()
            .try_for_each(|r| write_result(&mut w, r, analysis.decimals))
            .and_then(|()| w.into_inner().map_err(|e| e.into_error().into()))
    });
    for block in blocks {
        out.write_all(&block?)?;
    }
    out.flush()
}

fn write_result<W: Write>(w: &mut csv::Writer<W>, r: &AccountResult, d: u32) -> csv::Result<()> {
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
    ])
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
