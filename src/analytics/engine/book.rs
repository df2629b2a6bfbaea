//! The order book: every account's orders reduced to what the analyses need (monthly sums
//! and order days), whether they came from an orders file or from the database, and the day
//! and month numbering the aggregates use.

use chrono::{Datelike, NaiveDate};

/// Amounts of a file are read with this many decimals (exact integers of 1/10,000).
pub(super) const SCALE: u32 = 4;

/// One account's orders in one calendar month, summed.
#[derive(Debug, Clone, Copy)]
pub(super) struct MonthAgg {
    pub(super) month: i32,
    pub(super) amount: i64,
    pub(super) margin: i64,
    pub(super) orders: u32,
    pub(super) has_margin: bool,
}

/// What the analyses need of one account's orders: monthly sums and the order days. Much
/// smaller than the orders themselves, so millions of rows fit in little memory.
#[derive(Debug, Clone, Default)]
pub struct AccountAgg {
    pub(super) months: Vec<MonthAgg>,
    /// Order days; sorted and distinct once loading is done.
    pub(super) days: Vec<i32>,
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
    pub(super) aggs: Vec<AccountAgg>,
    /// Most decimals seen in an amount, to print sums the way they came in.
    pub(super) decimals: u32,
    pub has_margin: bool,
    pub rows: u64,
}

/// Days since 1970-01-01.
#[inline]
pub fn day_number(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163 // days since 1970-01-01
}

/// The date of a [`day_number`].
#[inline]
pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap_or_default()
}

/// Months since year 0 (year × 12 + month − 1).
#[inline]
pub fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
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
