//! ABC, XYZ, account types and the churn rule: plain data in, plain data out, each result
//! with the sentence that explains it. Money is integer minor units and shares are compared
//! exactly (no float drift at a boundary); the coefficient of variation is a float by nature.

use std::cmp::Ordering;

/// A share threshold such as 0.80, kept as parts per million so comparisons are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share(pub u32);

impl Share {
    pub const ONE: u32 = 1_000_000;

    /// Parses a decimal share between 0 and 1 with at most 6 decimals.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ppm = crate::domain::parse_decimal(raw, 6)
            .map_err(|e| format!("{e} (a share between 0 and 1, e.g. 0.80)"))?;
        if !(0..=i64::from(Self::ONE)).contains(&ppm) {
            return Err(format!("`{raw}` must be between 0 and 1"));
        }
        Ok(Share(ppm as u32))
    }

    pub fn from_f64(v: f64) -> Result<Self, String> {
        Self::parse(&format!("{v:.6}"))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE)
    }

    /// Whether `part / whole >= self`, exactly (`whole > 0`).
    pub fn reached_by(self, part: i128, whole: i128) -> bool {
        part * i128::from(Self::ONE) >= i128::from(self.0) * whole
    }

    /// Whether `part / whole <= self`, exactly (`whole > 0`).
    pub fn holds_at_most(self, part: i128, whole: i128) -> bool {
        part * i128::from(Self::ONE) <= i128::from(self.0) * whole
    }
}

/// ABC class by share of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Abc {
    A,
    B,
    C,
}

impl Abc {
    pub fn as_str(self) -> &'static str {
        match self {
            Abc::A => "A",
            Abc::B => "B",
            Abc::C => "C",
        }
    }
}

/// XYZ class by regularity of monthly purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Xyz {
    X,
    Y,
    Z,
}

impl Xyz {
    pub fn as_str(self) -> &'static str {
        match self {
            Xyz::X => "X",
            Xyz::Y => "Y",
            Xyz::Z => "Z",
        }
    }
}

/// Thresholds for ABC and XYZ.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub a: Share,
    pub b: Share,
    pub x: f64,
    pub y: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            a: Share(800_000),
            b: Share(950_000),
            x: 0.10,
            y: 0.25,
        }
    }
}

/// One account's ABC result.
#[derive(Debug, Clone, PartialEq)]
pub struct AbcResult {
    pub class: Option<Abc>,
    /// Cumulative share including this account (None when unclassified).
    pub cumulative_share: Option<f64>,
    pub why: String,
}

/// `labels` are the thresholds `t.a` and `t.b` printed with two decimals.
fn fmt_share(part: i128, whole: i128, t: &Thresholds, labels: &[String; 2]) -> String {
    // Rounded for people (the class was decided exactly); more decimals when two decimals
    // would make the share look equal to a threshold it is not equal to.
    let v = part as f64 / whole as f64;
    let short = format!("{v:.2}");
    let looks_equal = [t.a, t.b].iter().zip(labels).any(|(s, label)| {
        short == *label && part * i128::from(Share::ONE) != i128::from(s.0) * whole
    });
    if looks_equal {
        format!("{v:.4}")
    } else {
        short
    }
}

/// Classifies accounts by value. `values[i] = (key, value)`; keys order ties ascending.
/// Accounts with value ≤ 0 are left unclassified. Returns results in input order.
pub fn abc<K: Ord>(values: &[(K, i64)], t: &Thresholds) -> Vec<AbcResult> {
    let total: i128 = values.iter().map(|(_, v)| i128::from((*v).max(0))).sum();
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| values[i].1 > 0).collect();
    order.sort_by(|&i, &j| match values[j].1.cmp(&values[i].1) {
        Ordering::Equal => values[i].0.cmp(&values[j].0),
        other => other,
    });
    let mut out: Vec<AbcResult> = values
        .iter()
        .map(|(_, v)| AbcResult {
            class: None,
            cumulative_share: None,
            why: if *v == 0 {
                "unclassified: no value in the window".into()
            } else {
                "unclassified: value is negative (returns exceed sales)".into()
            },
        })
        .collect();
    let labels = [
        format!("{:.2}", t.a.as_f64()),
        format!("{:.2}", t.b.as_f64()),
    ];
    let [a, b] = &labels;
    let mut cumulative: i128 = 0;
    for i in order {
        cumulative += i128::from(values[i].1);
        let share = fmt_share(cumulative, total, t, &labels);
        let (class, why) = if t.a.holds_at_most(cumulative, total) {
            (Abc::A, format!("A: cumulative share {share} ≤ {a}"))
        } else if t.b.holds_at_most(cumulative, total) {
            (
                Abc::B,
                format!("B: cumulative share {share} > {a} and ≤ {b}"),
            )
        } else {
            (Abc::C, format!("C: cumulative share {share} > {b}"))
        };
        out[i] = AbcResult {
            class: Some(class),
            cumulative_share: Some(cumulative as f64 / total as f64),
            why,
        };
    }
    out
}

/// One account's XYZ result.
#[derive(Debug, Clone, PartialEq)]
pub struct XyzResult {
    pub class: Option<Xyz>,
    pub cv: Option<f64>,
    pub why: String,
}

/// Classifies regularity from the amounts of every month of the window (0 for empty months):
/// CV = population standard deviation / mean.
pub fn xyz(monthly: &[i64], t: &Thresholds) -> XyzResult {
    let n = monthly.len() as f64;
    let sum: f64 = monthly.iter().map(|&v| v as f64).sum();
    if monthly.is_empty() || sum <= 0.0 {
        return XyzResult {
            class: None,
            cv: None,
            why: "unclassified: no purchases in the window".into(),
        };
    }
    let mean = sum / n;
    let var = monthly
        .iter()
        .map(|&v| {
            let d = v as f64 - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let cv = var.sqrt() / mean;
    // Compare with a tiny tolerance so that a CV of exactly 0.10 computed as 0.1000000001
    // still counts as X.
    let eps = 1e-12;
    let (class, why) = if cv <= t.x + eps {
        (
            Xyz::X,
            format!("X: CV {cv:.3} ≤ {:.2} over {} months", t.x, monthly.len()),
        )
    } else if cv <= t.y + eps {
        (
            Xyz::Y,
            format!(
                "Y: CV {cv:.3} > {:.2} and ≤ {:.2} over {} months",
                t.x,
                t.y,
                monthly.len()
            ),
        )
    } else {
        (
            Xyz::Z,
            format!("Z: CV {cv:.3} > {:.2} over {} months", t.y, monthly.len()),
        )
    };
    XyzResult {
        class: Some(class),
        cv: Some(cv),
        why,
    }
}

/// The churn rule's parameters.
#[derive(Debug, Clone, Copy)]
pub struct ChurnRule {
    pub min_days: i64,
    pub k: f64,
}

impl Default for ChurnRule {
    fn default() -> Self {
        Self {
            min_days: 90,
            k: 3.0,
        }
    }
}

/// The rule's verdict for one account.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVerdict {
    pub lost: bool,
    pub days_since_last_order: i64,
    pub median_interval_days: Option<f64>,
    pub limit_days: f64,
    pub why: String,
}

/// Median of the gaps between consecutive distinct order days (sorted input).
pub fn median_interval(days: &[i32]) -> Option<f64> {
    let mut gaps: Vec<i32> = days
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    let n = gaps.len();
    Some(if n % 2 == 1 {
        f64::from(gaps[n / 2])
    } else {
        (f64::from(gaps[n / 2 - 1]) + f64::from(gaps[n / 2])) / 2.0
    })
}

/// Lost when days since the last order exceed max(min_days, k × median interval).
/// `days` are the account's order days (sorted), `as_of` the day of the analysis.
pub fn churn_rule(days: &[i32], as_of: i32, rule: &ChurnRule) -> Option<RuleVerdict> {
    let last = *days.last()?;
    let since = i64::from(as_of - last);
    let median = median_interval(days);
    let by_rhythm = median.map(|m| rule.k * m);
    let limit = by_rhythm.map_or(rule.min_days as f64, |r| r.max(rule.min_days as f64));
    let lost = since as f64 > limit;
    let basis = match (median, by_rhythm) {
        (Some(m), Some(r)) if r >= rule.min_days as f64 => {
            format!("{} × median interval {m:.0} days", rule.k)
        }
        (Some(m), _) => format!(
            "the minimum of {} days ({} × median interval {m:.0} days is less)",
            rule.min_days, rule.k
        ),
        (None, _) => format!("the minimum of {} days (a single order day)", rule.min_days),
    };
    let why = if lost {
        format!("lost: {since} days since last order > {basis}")
    } else {
        format!("active: {since} days since last order ≤ {basis}")
    };
    Some(RuleVerdict {
        lost,
        days_since_last_order: since,
        median_interval_days: median,
        limit_days: limit,
        why,
    })
}

/// How the rule and the model combine into "lost".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnPolicy {
    Rule,
    Model,
    Either,
    Both,
}

impl ChurnPolicy {
    /// Combines the verdicts; a missing model verdict (model not fitted) defers to the rule.
    pub fn combine(self, rule: bool, model: Option<bool>) -> bool {
        match (self, model) {
            (ChurnPolicy::Rule, _) | (_, None) => rule,
            (ChurnPolicy::Model, Some(m)) => m,
            (ChurnPolicy::Either, Some(m)) => rule || m,
            (ChurnPolicy::Both, Some(m)) => rule && m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn classes(values: &[(u32, i64)]) -> Vec<Option<Abc>> {
        abc(values, &Thresholds::default())
            .into_iter()
            .map(|r| r.class)
            .collect()
    }

    #[test]
    fn exactly_eighty_percent_is_a() {
        // 80 of 100 is exactly the A boundary: A.
        assert_eq!(
            classes(&[(1, 80), (2, 15), (3, 5)]),
            [Some(Abc::A), Some(Abc::B), Some(Abc::C)]
        );
        // One minor unit above the boundary is B.
        assert_eq!(
            classes(&[(1, 8_001), (2, 1_499), (3, 500)]),
            [Some(Abc::B), Some(Abc::B), Some(Abc::C)]
        );
    }

    #[test]
    fn float_drift_does_not_move_a_boundary() {
        // Summing float shares gives 0.6 + 0.2 = 0.8000000000000002 (> 0.80, B); the exact
        // cumulative value 80 of 100 is A.
        assert_eq!(
            classes(&[(1, 60), (2, 20), (3, 20)]),
            [Some(Abc::A), Some(Abc::A), Some(Abc::C)]
        );
    }

    #[test]
    fn ties_are_ordered_by_account_id() {
        // Two accounts of 40: the lower id comes first (cum 0.40 → A), the other reaches 0.80 → A;
        // then 10 + 10: id 3 reaches 0.90 (B), id 4 reaches 1.00 (C).
        let r = classes(&[(4, 10), (2, 40), (3, 10), (1, 40)]);
        assert_eq!(r, [Some(Abc::C), Some(Abc::A), Some(Abc::B), Some(Abc::A)]);
    }

    #[test]
    fn zero_and_negative_values_are_unclassified() {
        let r = abc(&[(1, 0), (2, -5), (3, 100)], &Thresholds::default());
        assert_eq!(r[0].class, None);
        assert_eq!(r[1].class, None);
        assert_eq!(
            r[2].class,
            Some(Abc::C),
            "one account holds 100 %: cumulative 1.00 > 0.95"
        );
        assert!(r[0].why.contains("unclassified"));
    }

    #[test]
    fn explanations_name_the_numbers() {
        let r = abc(&[(1, 83), (2, 17)], &Thresholds::default());
        assert_eq!(r[0].why, "B: cumulative share 0.83 > 0.80 and ≤ 0.95");
    }

    #[test]
    fn xyz_uses_population_cv_with_empty_months() {
        // Equal months: CV 0 → X.
        assert_eq!(
            xyz(&[100, 100, 100], &Thresholds::default()).class,
            Some(Xyz::X)
        );
        // [100, 0]: mean 50, population sd 50 → CV 1.0 → Z.
        let r = xyz(&[100, 0], &Thresholds::default());
        assert_eq!(r.cv, Some(1.0));
        assert_eq!(r.class, Some(Xyz::Z));
        // [90, 110]: mean 100, sd 10 → CV exactly 0.10 → X.
        assert_eq!(xyz(&[90, 110], &Thresholds::default()).class, Some(Xyz::X));
        // [75, 125]: CV 0.25 → Y.
        assert_eq!(xyz(&[75, 125], &Thresholds::default()).class, Some(Xyz::Y));
        assert_eq!(xyz(&[0, 0], &Thresholds::default()).class, None);
    }

    #[test]
    fn churn_rule_uses_the_accounts_own_rhythm() {
        let rule = ChurnRule::default();
        // Orders every 41 days; 212 days since the last → lost (212 > 123 → but min is 90, so 123).
        let days = [0, 41, 82, 123];
        let v = churn_rule(&days, 123 + 212, &rule).expect("verdict");
        assert!(v.lost);
        assert_eq!(
            v.why,
            "lost: 212 days since last order > 3 × median interval 41 days"
        );
        // Weekly buyer: 3 × 7 = 21 < 90 → the minimum applies.
        let weekly = [0, 7, 14, 21];
        assert!(!churn_rule(&weekly, 21 + 90, &rule).expect("v").lost);
        assert!(churn_rule(&weekly, 21 + 91, &rule).expect("v").lost);
        // A single order uses min_days.
        let single = churn_rule(&[10], 101, &rule).expect("v");
        assert!(single.lost);
        assert!(single.why.contains("single order"));
        assert!(churn_rule(&[], 5, &rule).is_none());
    }

    #[test]
    fn median_interval_of_even_count_averages() {
        assert_eq!(median_interval(&[0, 10, 30, 60, 100]), Some(25.0));
        assert_eq!(median_interval(&[5, 5, 5]), None);
    }

    #[test]
    fn policies_combine_verdicts() {
        assert!(ChurnPolicy::Either.combine(false, Some(true)));
        assert!(!ChurnPolicy::Both.combine(false, Some(true)));
        assert!(ChurnPolicy::Model.combine(false, Some(true)));
        assert!(
            ChurnPolicy::Model.combine(true, None),
            "no model: the rule decides"
        );
    }

    proptest! {
        #[test]
        fn abc_is_invariant_to_row_order(values in proptest::collection::vec(-5i64..1000, 1..60), seed in any::<u64>()) {
            let keyed: Vec<(usize, i64)> = values.iter().copied().enumerate().collect();
            let mut shuffled = keyed.clone();
            // Deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let a = abc(&keyed, &Thresholds::default());
            let b = abc(&shuffled, &Thresholds::default());
            for (pos, (k, _)) in shuffled.iter().enumerate() {
                prop_assert_eq!(&a[*k], &b[pos]);
            }
        }

        #[test]
        fn the_last_classified_account_reaches_a_share_of_one(values in proptest::collection::vec(1i64..1_000_000, 1..60)) {
            let keyed: Vec<(usize, i64)> = values.iter().copied().enumerate().collect();
            let r = abc(&keyed, &Thresholds::default());
            let max = r.iter().filter_map(|x| x.cumulative_share).fold(0.0, f64::max);
            prop_assert!((max - 1.0).abs() < 1e-12);
            // Shares of the individual accounts sum to 1.
            let total: i64 = values.iter().sum();
            let sum: f64 = values.iter().map(|v| *v as f64 / total as f64).sum();
            prop_assert!((sum - 1.0).abs() < 1e-9);
        }
    }
}
