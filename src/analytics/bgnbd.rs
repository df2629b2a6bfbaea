//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
//! maximum-likelihood fit over all accounts' (frequency, recency, T), then per account the
//! probability of being alive and the expected purchases over a horizon.
//!
//! Robustness: the optimiser works on log-parameters (so they stay positive), the likelihood
//! is summed in log space with log-sum-exp, identical (x, t_x, T) triples are weighted once,
//! and the Gaussian hypergeometric series is summed with a convergence guard.

use std::collections::HashMap;

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;
use statrs::function::gamma::ln_gamma;

/// One account's purchase summary in the model's time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Customer {
    /// Repeat purchases: distinct purchase days after the first.
    pub x: u32,
    /// Time from first to last purchase.
    pub t_x: f64,
    /// Time from first purchase to the end of calibration.
    pub t: f64,
}

/// Model parameters: r, α (purchase rate gamma), a, b (dropout beta).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Params {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Fit {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
    /// Accounts the model was fitted on.
    pub customers: usize,
    /// The optimiser that found it: `newton`, `lbfgs` or `nelder_mead` (the fallbacks).
    pub optimiser: &'static str,
}

impl Fit {
    pub fn params(&self) -> Params {
        Params {
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b,
        }
    }
}

/// Why a fit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("no customers to fit the model on")]
    Empty,
    #[error("invalid customer data: {0}")]
    Invalid(String),
    #[error("the optimiser failed: {0}")]
    Optimiser(String),
    #[error(
        "too little data for the model: {customers} accounts, {repeaters} with repeat purchases \
         (needs at least {MIN_CUSTOMERS} and {MIN_REPEATERS})"
    )]
    TooFew { customers: usize, repeaters: usize },
    #[error("the fit is degenerate ({0}); the model is not used")]
    Degenerate(String),
}

/// Fewest accounts, and accounts with repeat purchases, a fit is attempted on.
pub const MIN_CUSTOMERS: usize = 30;
pub const MIN_REPEATERS: usize = 10;

/// Row groups from which the likelihood is summed on two threads.
const PARALLEL_ROWS: usize = 20_000;

/// Log-parameters are kept within ±LOG_BOUND (parameters within e^±20 ≈ 2e-9 … 5e8).
const LOG_BOUND: f64 = 20.0;

/// Customers grouped into identical triples, with the distinct values the likelihood needs.
struct Prepared {
    xs: Vec<u32>,
    ts: Vec<f64>,
    txs: Vec<f64>,
    /// (x index, t_x index, T index, weight)
    rows: Vec<(usize, usize, usize, f64)>,
    n: f64,
}

fn index_of(map: &mut HashMap<u64, usize>, values: &mut Vec<f64>, v: f64) -> usize {
    *map.entry(v.to_bits()).or_insert_with(|| {
        values.push(v);
        values.len() - 1
    })
}

impl Prepared {
    fn new(customers: &[Customer]) -> Result<Self, FitError> {
        let mut xs = Vec::new();
        let mut x_idx: HashMap<u32, usize> = HashMap::new();
        let (mut ts, mut txs) = (Vec::new(), Vec::new());
        let (mut t_idx, mut tx_idx) = (HashMap::new(), HashMap::new());
        let mut groups: HashMap<(usize, usize, usize), f64> = HashMap::new();
        for c in customers {
            if !(c.t.is_finite() && c.t_x.is_finite() && c.t_x >= 0.0 && c.t >= c.t_x) {
                return Err(FitError::Invalid(format!(
                    "need 0 ≤ recency ≤ T, got x={} t_x={} T={}",
                    c.x, c.t_x, c.t
                )));
            }
            let xi = *x_idx.entry(c.x).or_insert_with(|| {
                xs.push(c.x);
                xs.len() - 1
            });
            let ti = index_of(&mut t_idx, &mut ts, c.t);
            let txi = index_of(&mut tx_idx, &mut txs, c.t_x);
            *groups.entry((xi, txi, ti)).or_insert(0.0) += 1.0;
        }
        if customers.is_empty() {
            return Err(FitError::Empty);
        }
        // A fixed order: float sums (and so the optimum's last digits) do not depend on the
        // hash map's iteration order.
        let mut rows: Vec<(usize, usize, usize, f64)> = groups
            .into_iter()
            .map(|((x, tx, t), w)| (x, tx, t, w))
            .collect();
        rows.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        Ok(Self {
            xs,
            ts,
            txs,
            rows,
            n: customers.len() as f64,
        })
    }

    /// Total log-likelihood at the given parameters.
    fn log_likelihood(&self, p: &Params) -> f64 {
        self.pass::<true>(p).0
    }
}

impl Prepared {
    /// The gradient of the total log-likelihood in (r, α, a, b) (Fader, Hardie & Lee 2005,
    /// differentiated term by term; the two exponential terms weighted by their softmax).
    fn gradient(&self, p: &Params) -> [f64; 4] {
        self.pass::<false>(p).1
    }
}

impl Prepared {
    /// The gradient of the log-likelihood in (r, α, a, b), and the log-likelihood itself when
    /// `VALUE`, in one pass: per distinct x, t and t_x the logarithms, reciprocals and
    /// digammas, then per row one `exp` (and one `ln_1p` for the value; the Hessian's
    /// differences need gradients only).
    fn pass<const VALUE: bool>(&self, p: &Params) -> (f64, [f64; 4]) {
        use statrs::function::gamma::digamma;
        let Params { r, alpha, a, b } = *p;
        if !(r > 0.0 && alpha > 0.0 && a > 0.0 && b > 0.0) {
            return (f64::NEG_INFINITY, [0.0; 4]);
        }
        let lg_r = ln_gamma(r);
        let lg_ab_minus_b = ln_gamma(a + b) - ln_gamma(b);
        let r_ln_alpha = r * alpha.ln();
        let ln_a = a.ln();
        let (dg_r, dg_ab, dg_b) = (digamma(r), digamma(a + b), digamma(b));
        let ln_alpha = alpha.ln();
        struct PerX {
            base: f64,
            ln_bx1: f64,
            inv_bx1: f64,
            rx: f64,
            x: f64,
            // ψ(r+x) − ψ(r), ψ(a+b) − ψ(a+b+x), ψ(a+b) − ψ(b) + ψ(b+x) − ψ(a+b+x)
            d_r: f64,
            d_a: f64,
            d_b: f64,
        }
        let per_x: Vec<PerX> = self
            .xs
            .iter()
            .map(|&x| {
                let x = f64::from(x);
                let a1 = ln_gamma(r + x) - lg_r + r_ln_alpha;
                let a2 = lg_ab_minus_b + ln_gamma(b + x) - ln_gamma(a + b + x);
                let (ln_bx1, inv_bx1) = if x > 0.0 {
                    ((b + x - 1.0).ln(), 1.0 / (b + x - 1.0))
                } else {
                    (0.0, 0.0)
                };
                let dg_abx = digamma(a + b + x);
                PerX {
                    base: a1 + a2,
                    ln_bx1,
                    inv_bx1,
                    rx: r + x,
                    x,
                    d_r: digamma(r + x) - dg_r + ln_alpha,
                    d_a: dg_ab - dg_abx,
                    d_b: dg_ab - dg_b + digamma(b + x) - dg_abx,
                }
            })
            .collect();
        let at = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .map(|t| ((alpha + t).ln(), 1.0 / (alpha + t)))
                .collect()
        };
        let (per_t, per_tx) = (at(&self.ts), at(&self.txs));
        let sum = |rows: &[(usize, usize, usize, f64)]| {
            let (mut ll, mut g) = (0.0, [0.0; 4]);
            for &(xi, txi, ti, w) in rows {
                let px = &per_x[xi];
                let (ln_at, inv_at) = per_t[ti];
                let a3 = -px.rx * ln_at;
                // The second term: the customer dropped out after the last purchase.
                let (value, w4, ln_atx, inv_atx) = if px.x > 0.0 {
                    let (ln_atx, inv_atx) = per_tx[txi];
                    let a4 = ln_a - px.ln_bx1 - px.rx * ln_atx;
                    let (hi, lo, second_wins) = if a3 > a4 {
                        (a3, a4, false)
                    } else {
                        (a4, a3, true)
                    };
                    let e = (lo - hi).exp();
                    let w4 = if second_wins {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    let value = if VALUE { px.base + hi + e.ln_1p() } else { 0.0 };
                    (value, w4, ln_atx, inv_atx)
                } else {
                    (if VALUE { px.base + a3 } else { 0.0 }, 0.0, 0.0, 0.0)
                };
                let w3 = 1.0 - w4;
                ll += w * value;
                g[0] += w * (px.d_r - w3 * ln_at - w4 * ln_atx);
                g[1] += w * (r / alpha - px.rx * (w3 * inv_at + w4 * inv_atx));
                g[2] += w * (px.d_a + w4 / a);
                g[3] += w * (px.d_b - w4 * px.inv_bx1);
            }
            (ll, g)
        };
        if self.rows.len() < PARALLEL_ROWS {
            return sum(&self.rows);
        }
        let (left, right) = self.rows.split_at(self.rows.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| sum(right));
            let (l1, g1) = sum(left);
            let (l2, g2) = other.join().unwrap_or((f64::NAN, [f64::NAN; 4]));
            (l1 + l2, std::array::from_fn(|i| g1[i] + g2[i]))
        })
    }

    /// The mean negative log-likelihood at log-parameters `theta` and its gradient in them
    /// (zero where a parameter is held at its bound): what the optimisers minimise.
    fn objective(&self, theta: &[f64; 4]) -> (f64, [f64; 4]) {
        self.objective_of::<true>(theta)
    }

    /// [`Self::objective`], the value only when `VALUE` (else 0).
    fn objective_of<const VALUE: bool>(&self, theta: &[f64; 4]) -> (f64, [f64; 4]) {
        let p = params_of(theta);
        let (ll, g) = self.pass::<VALUE>(&p);
        if !ll.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return (f64::INFINITY, [0.0; 4]);
        }
        let v = [p.r, p.alpha, p.a, p.b];
        (
            -ll / self.n,
            std::array::from_fn(|i| {
                if theta[i].abs() >= LOG_BOUND {
                    0.0
                } else {
                    -v[i] * g[i] / self.n
                }
            }),
        )
    }
}

/// Newton's method on the log-parameters, damped (Levenberg–Marquardt) so that every step
/// lowers the objective: the Hessian from forward differences of the analytic gradient, a
/// start whose purchase rate matches the data. Four parameters make each step cheap and the
/// convergence quadratic near the optimum; `None` (the L-BFGS and Nelder–Mead path takes
/// over) unless it ends inside the bounds with a vanishing gradient.
#[allow(clippy::needless_range_loop)] // 4 × 4 matrices read best by index
fn newton(prepared: &Prepared, start: [f64; 4]) -> Option<Vec<f64>> {
    let norm = |g: &[f64; 4]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut theta = start;
    let (mut f, mut g) = prepared.objective(&theta);
    if !f.is_finite() {
        return None;
    }
    let mut lambda = 1e-3;
    for _ in 0..100 {
        if norm(&g) < 1e-11 {
            break;
        }
        let mut h = [[0.0; 4]; 4];
        for j in 0..4 {
            let step = 1e-6 * theta[j].abs().max(1.0);
            let mut moved = theta;
            moved[j] += step;
            let (_, gj) = prepared.objective_of::<false>(&moved);
            for i in 0..4 {
                h[i][j] = (gj[i] - g[i]) / step;
            }
        }
        for i in 0..4 {
            for j in 0..i {
                let m = 0.5 * (h[i][j] + h[j][i]);
                h[i][j] = m;
                h[j][i] = m;
            }
        }
        let mut moved = false;
        while lambda < 1e12 {
            let mut damped = h;
            for (i, row) in damped.iter_mut().enumerate() {
                row[i] += lambda * h[i][i].abs().max(1e-12);
            }
            let neg_g = g.map(|v| -v);
            if let Some(mut d) = cholesky_solve(&damped, &neg_g) {
                // At most one unit of log-parameter per step (a factor of e): far from the
                // optimum the quadratic model overshoots along the flat dropout ridge.
                let longest = d.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                if longest > MAX_STEP {
                    d = d.map(|v| v * MAX_STEP / longest);
                }
                let cand: [f64; 4] =
                    std::array::from_fn(|i| (theta[i] + d[i]).clamp(-LOG_BOUND, LOG_BOUND));
                let (fc, gc) = prepared.objective(&cand);
                let decrease: f64 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
                if fc.is_finite() && fc <= f + 1e-4 * decrease {
                    let tiny = (f - fc).abs() <= 1e-16 * f.abs().max(1.0);
                    theta = cand;
                    f = fc;
                    g = gc;
                    lambda = (lambda * 0.1).max(1e-12);
                    moved = !tiny;
                    break;
                }
            }
            lambda *= 10.0;
        }
        // Running into a bound: the data do not identify the model (or Newton strayed);
        // the slower path decides.
        if !moved || theta.iter().any(|t| t.abs() >= LOG_BOUND - 0.5) {
            break;
        }
    }
    let inside = theta.iter().all(|t| t.abs() < LOG_BOUND - 0.5);
    (f.is_finite() && inside && norm(&g) < 1e-7).then(|| theta.to_vec())
}

/// The longest Newton step in any log-parameter.
const MAX_STEP: f64 = 1.0;

/// Solves `a · x = b` for a symmetric positive definite `a`; `None` when it is not.
#[allow(clippy::needless_range_loop)] // 4 × 4 matrices read best by index
fn cholesky_solve(a: &[[f64; 4]; 4], b: &[f64; 4]) -> Option<[f64; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    let mut y = [0.0; 4];
    for i in 0..4 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        x[i] = (y[i] - (i + 1..4).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// Where Newton starts: r = a = b = 1 and α so that the mean purchase rate r/α matches the
/// data's repeat purchases per unit of time.
fn newton_start(customers: &[Customer]) -> [f64; 4] {
    let purchases: f64 = customers.iter().map(|c| f64::from(c.x)).sum();
    let time: f64 = customers.iter().map(|c| c.t).sum();
    let ln_alpha = if purchases > 0.0 && time > 0.0 {
        (time / purchases).ln().clamp(-10.0, 10.0)
    } else {
        0.0
    };
    [0.0, ln_alpha, 0.0, 0.0]
}

struct NegLogLikelihood<'a>(&'a Prepared);

impl argmin::core::Gradient for NegLogLikelihood<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    /// In log-parameters: ∂/∂θ = p · ∂/∂p (zero where a parameter is held at its bound).
    fn gradient(&self, theta: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        let p = params_of(theta);
        let g = self.0.gradient(&p);
        Ok([p.r, p.alpha, p.a, p.b]
            .iter()
            .zip(g)
            .zip(theta)
            .map(|((v, d), t)| {
                if t.abs() >= LOG_BOUND {
                    0.0
                } else {
                    -v * d / self.0.n
                }
            })
            .collect())
    }
}

impl CostFunction for NegLogLikelihood<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> Result<f64, argmin::core::Error> {
        // Parameters live in log space; clamp to keep exp() finite.
        let p = params_of(theta);
        let ll = self.0.log_likelihood(&p);
        // Mean negative log-likelihood keeps the scale independent of the number of accounts.
        Ok(if ll.is_finite() {
            -ll / self.0.n
        } else {
            f64::MAX
        })
    }
}

/// Parameters from (bounded) log-parameters; the optimiser and the result use the same map.
fn params_of(theta: &[f64]) -> Params {
    let e = |v: f64| v.clamp(-LOG_BOUND, LOG_BOUND).exp();
    Params {
        r: e(theta[0]),
        alpha: e(theta[1]),
        a: e(theta[2]),
        b: e(theta[3]),
    }
}

/// Fits the model by maximum likelihood: L-BFGS on the analytic gradient, or Nelder–Mead on
/// bounded log-parameters (restarted once from its own optimum) when that does not converge.
/// Refuses too little data, and solutions on the bounds or with a non-finite likelihood (the data then do not identify the model; callers fall back to the
/// churn rule and say so).
pub fn fit(customers: &[Customer]) -> Result<Fit, FitError> {
    let repeaters = customers.iter().filter(|c| c.x > 0).count();
    if customers.is_empty() {
        return Err(FitError::Empty);
    }
    let prepared = Prepared::new(customers)?;
    if customers.len() < MIN_CUSTOMERS || repeaters < MIN_REPEATERS {
        return Err(FitError::TooFew {
            customers: customers.len(),
            repeaters,
        });
    }
    // Damped Newton first (a few milliseconds); then L-BFGS on the analytic gradient, and
    // Nelder–Mead from the origin when neither converges cleanly.
    let (start, optimiser) = match newton(&prepared, newton_start(customers)) {
        Some(theta) => (theta, "newton"),
        None => match lbfgs(&prepared) {
            Some(theta) => (theta, "lbfgs"),
            None => (nelder_mead(&prepared)?, "nelder_mead"),
        },
    };
    let mut fit = finish(&prepared, start, customers.len())?;
    fit.optimiser = optimiser;
    Ok(fit)
}

/// L-BFGS from the origin of the log-parameters (at most 40 iterations); `None`, so that
/// Nelder–Mead takes over, unless it ends inside the bounds with a finite likelihood and a
/// vanishing gradient.
fn lbfgs(prepared: &Prepared) -> Option<Vec<f64>> {
    use argmin::solver::linesearch::MoreThuenteLineSearch;
    use argmin::solver::quasinewton::LBFGS;
    let problem = NegLogLikelihood(prepared);
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(1e-9)
        .ok()?
        .with_tolerance_cost(1e-15)
        .ok()?;
    let result = Executor::new(NegLogLikelihood(prepared), solver)
        .configure(|s| s.param(vec![0.0; 4]).max_iters(40))
        .run()
        .ok()?;
    let theta = result.state().get_best_param()?.clone();
    let cost = problem.cost(&theta).ok()?;
    let grad = argmin::core::Gradient::gradient(&problem, &theta).ok()?;
    let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    let inside = theta.iter().all(|t| t.abs() < LOG_BOUND - 0.5);
    (cost.is_finite() && cost < f64::MAX && inside && norm < 1e-6).then_some(theta)
}

/// Nelder–Mead on the log-parameters, restarted once from its own optimum.
fn nelder_mead(prepared: &Prepared) -> Result<Vec<f64>, FitError> {
    let mut start = vec![0.0_f64; 4];
    for _ in 0..2 {
        let simplex: Vec<Vec<f64>> = std::iter::once(start.clone())
            .chain((0..4).map(|i| {
                let mut v = start.clone();
                v[i] += 0.5;
                v
            }))
            .collect();
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-12)
            .map_err(|e| FitError::Optimiser(e.to_string()))?;
        let result = Executor::new(NegLogLikelihood(prepared), solver)
            .configure(|s| s.max_iters(4000))
            .run()
            .map_err(|e| FitError::Optimiser(e.to_string()))?;
        start = result
            .state()
            .get_best_param()
            .cloned()
            .ok_or_else(|| FitError::Optimiser("no best parameters".into()))?;
    }
    Ok(start)
}

/// Checks an optimum and turns it into a fit.
fn finish(prepared: &Prepared, start: Vec<f64>, customers: usize) -> Result<Fit, FitError> {
    if let Some(i) = start.iter().position(|t| t.abs() >= LOG_BOUND - 0.5) {
        let name = ["r", "alpha", "a", "b"][i];
        return Err(FitError::Degenerate(format!(
            "{name} ran to the bound e^{:+.0}",
            start[i].clamp(-LOG_BOUND, LOG_BOUND)
        )));
    }
    let p = params_of(&start);
    let log_likelihood = prepared.log_likelihood(&p);
    if !log_likelihood.is_finite() {
        return Err(FitError::Degenerate("the likelihood is not finite".into()));
    }
    Ok(Fit {
        r: p.r,
        alpha: p.alpha,
        a: p.a,
        b: p.b,
        log_likelihood,
        customers,
        optimiser: "",
    })
}

/// Log-likelihood of the customers at given parameters (for checks against published values).
pub fn log_likelihood(customers: &[Customer], p: &Params) -> Result<f64, FitError> {
    Ok(Prepared::new(customers)?.log_likelihood(p))
}

/// P(alive | x, t_x, T): 1 for an account with no repeat purchase.
pub fn p_alive(p: &Params, c: &Customer) -> f64 {
    if c.x == 0 {
        return 1.0;
    }
    let x = f64::from(c.x);
    let ln_ratio = (p.r + x) * ((p.alpha + c.t).ln() - (p.alpha + c.t_x).ln());
    let odds = (p.a / (p.b + x - 1.0)).ln() + ln_ratio;
    1.0 / (1.0 + odds.exp())
}

/// Expected purchases in the next `horizon` time units, given the account's history.
pub fn expected_purchases(p: &Params, c: &Customer, horizon: f64) -> f64 {
    if horizon <= 0.0 {
        return 0.0;
    }
    let x = f64::from(c.x);
    let Params { r, alpha, b, .. } = *p;
    // The formula divides by a − 1; nudge a off 1 (the limit is continuous there).
    let a = if (p.a - 1.0).abs() < 1e-9 {
        1.0 + 1e-9
    } else {
        p.a
    };
    let z = horizon / (alpha + c.t + horizon);
    let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
    let ln_ratio = (r + x) * ((alpha + c.t).ln() - (alpha + c.t + horizon).ln());
    let numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ln_ratio.exp() * hyp);
    let denominator = if c.x > 0 {
        1.0 + (a / (b + x - 1.0)) * ((r + x) * ((alpha + c.t).ln() - (alpha + c.t_x).ln())).exp()
    } else {
        1.0
    };
    let v = numerator / denominator;
    // Rounding can leave a tiny negative; anything else non-finite or negative is a failure
    // of the series and is reported as NaN, never as a silent zero.
    if v.is_finite() && v > -1e-9 {
        v.max(0.0)
    } else {
        f64::NAN
    }
}

/// Gauss hypergeometric 2F1(a, b; c; z) for 0 ≤ z < 1 by its power series, summed until the
/// terms stop mattering (or 100,000 terms).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z == 0.0 {
        return 1.0;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..100_000 {
        let n = f64::from(n);
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if !sum.is_finite() {
            return f64::NAN;
        }
        if term.abs() < 1e-15 * sum.abs() {
            return sum;
        }
    }
    f64::NAN
}

/// Builds the model inputs from an account's distinct purchase days.
/// `days` sorted ascending (days since the epoch), `end` the calibration end day,
/// `unit` the number of days per time unit (1 for days, 7 for weeks).
pub fn customer_from_days(days: &[i32], end: i32, unit: f64) -> Option<Customer> {
    let first = *days.first()?;
    let last = *days.last()?;
    if first > end {
        return None;
    }
    let mut distinct = 0u32;
    let mut prev = None;
    for &d in days.iter().filter(|d| **d <= end) {
        if prev != Some(d) {
            distinct += 1;
            prev = Some(d);
        }
    }
    let last_in = days
        .iter()
        .copied()
        .filter(|d| *d <= end)
        .max()
        .unwrap_or(last);
    Some(Customer {
        x: distinct.saturating_sub(1),
        t_x: f64::from(last_in - first) / unit,
        t: f64::from(end - first) / unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypergeometric_series_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1 − z)/z
        for z in [0.1_f64, 0.5, 0.9] {
            let want = -(1.0 - z).ln() / z;
            assert!((hyp2f1(1.0, 1.0, 2.0, z) - want).abs() < 1e-10, "z={z}");
        }
        // 2F1(a, b; b; z) = (1 − z)^−a
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-10);
    }

    #[test]
    fn p_alive_is_one_without_repeat_purchases_and_falls_with_silence() {
        let p = Params {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        assert_eq!(
            p_alive(
                &p,
                &Customer {
                    x: 0,
                    t_x: 0.0,
                    t: 30.0
                }
            ),
            1.0
        );
        let recent = p_alive(
            &p,
            &Customer {
                x: 5,
                t_x: 30.0,
                t: 32.0,
            },
        );
        let silent = p_alive(
            &p,
            &Customer {
                x: 5,
                t_x: 5.0,
                t: 32.0,
            },
        );
        assert!(recent > 0.8 && silent < 0.05, "{recent} {silent}");
    }

    #[test]
    fn summaries_count_distinct_purchase_days() {
        let c = customer_from_days(&[0, 0, 7, 14, 14, 30], 35, 7.0).expect("customer");
        assert_eq!(c.x, 3);
        assert!((c.t_x - 30.0 / 7.0).abs() < 1e-12);
        assert!((c.t - 5.0).abs() < 1e-12);
        assert!(
            customer_from_days(&[40], 35, 1.0).is_none(),
            "first purchase after calibration"
        );
        let cut = customer_from_days(&[0, 10, 50], 35, 1.0).expect("customer");
        assert_eq!(
            (cut.x, cut.t_x),
            (1, 10.0),
            "later purchases are outside calibration"
        );
    }

    #[test]
    fn fit_rejects_bad_input() {
        assert!(matches!(fit(&[]), Err(FitError::Empty)));
        assert!(
            fit(&[Customer {
                x: 1,
                t_x: 5.0,
                t: 2.0
            }])
            .is_err()
        );
    }

    #[test]
    fn too_few_accounts_are_not_fitted() {
        let few: Vec<Customer> = (0..5)
            .map(|i| Customer {
                x: i,
                t_x: f64::from(i),
                t: 10.0,
            })
            .collect();
        assert!(matches!(
            fit(&few),
            Err(FitError::TooFew { customers: 5, .. })
        ));
    }

    #[test]
    fn steady_buyers_that_never_drop_out_give_a_refused_fit_or_sane_predictions() {
        // 200 accounts buying every week for two years: no dropout in the data.
        let steady: Vec<Customer> = (0..200)
            .map(|i| Customer {
                x: 104,
                t_x: 104.0 - f64::from(i % 3) * 0.1,
                t: 104.3,
            })
            .collect();
        match fit(&steady) {
            Err(FitError::Degenerate(_)) => {}
            Ok(f) => {
                let e = expected_purchases(&f.params(), &steady[0], 13.0);
                assert!((5.0..20.0).contains(&e), "{f:?} → {e}");
            }
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let customers: Vec<Customer> = (0..200)
            .map(|i| Customer {
                x: i % 7,
                t_x: if i % 7 == 0 {
                    0.0
                } else {
                    f64::from(i % 30) + 0.5
                },
                t: 40.0 + f64::from(i % 11),
            })
            .collect();
        let prepared = Prepared::new(&customers).expect("prepared");
        let p = Params {
            r: 0.7,
            alpha: 3.1,
            a: 0.9,
            b: 2.2,
        };
        let g = prepared.gradient(&p);
        let h = 1e-6;
        let numeric = |i: usize| {
            let bump = |p: Params, by: f64| {
                let mut q = p;
                match i {
                    0 => q.r += by,
                    1 => q.alpha += by,
                    2 => q.a += by,
                    _ => q.b += by,
                }
                q
            };
            (prepared.log_likelihood(&bump(p, h)) - prepared.log_likelihood(&bump(p, -h)))
                / (2.0 * h)
        };
        for (i, analytic) in g.iter().enumerate() {
            let n = numeric(i);
            assert!(
                (analytic - n).abs() <= 1e-4 * n.abs().max(1.0),
                "parameter {i}: analytic {analytic} vs numeric {n}"
            );
        }
    }

    #[test]
    fn the_pass_gives_one_gradient_with_or_without_the_value() {
        // Enough rows to take the two-thread path too.
        for n in [500u32, 60_000] {
            let customers: Vec<Customer> = (0..n)
                .map(|i| Customer {
                    x: i % 13,
                    t_x: if i % 13 == 0 {
                        0.0
                    } else {
                        f64::from(i % 97) * 0.25 + 0.5
                    },
                    t: 30.0 + f64::from(i % 101) * 0.5,
                })
                .collect();
            let prepared = Prepared::new(&customers).expect("prepared");
            let p = Params {
                r: 3.8,
                alpha: 6.7,
                a: 0.28,
                b: 68.0,
            };
            let (ll, g) = prepared.pass::<true>(&p);
            let (none, g0) = prepared.pass::<false>(&p);
            assert!(ll.is_finite() && ll < 0.0, "{ll}");
            assert_eq!(none, 0.0);
            assert_eq!(g, g0);
        }
    }

    #[test]
    fn newton_finds_the_optimum_the_slower_path_finds() {
        // Simulated from the model (r = 2, α = 8, a = 1, b = 3) over 20–60 weeks: purchase
        // rates from a sum of two exponentials, dropout probabilities by inverse CDF.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut exp = |rate: f64| -(1.0 - rng.random::<f64>()).ln() / rate;
        let mut customers = Vec::new();
        for i in 0..3000u32 {
            let lambda = (exp(1.0) + exp(1.0)) / 8.0;
            let p = 1.0 - (1.0 - f64::from((i * 7919) % 1000) / 1000.0).powf(1.0 / 3.0);
            let t = 20.0 + f64::from(i % 41);
            let (mut now, mut x, mut t_x) = (0.0, 0u32, 0.0);
            loop {
                now += exp(lambda);
                if now > t {
                    break;
                }
                x += 1;
                t_x = now;
                if f64::from((i * 31 + x * 17) % 1000) / 1000.0 < p {
                    break;
                }
            }
            customers.push(Customer { x, t_x, t });
        }
        let prepared = Prepared::new(&customers).expect("prepared");
        let fast = newton(&prepared, newton_start(&customers)).expect("newton converges");
        let slow = match lbfgs(&prepared) {
            Some(t) => t,
            None => nelder_mead(&prepared).expect("nelder-mead"),
        };
        let (pf, ps) = (params_of(&fast), params_of(&slow));
        for (f, s) in [
            (pf.r, ps.r),
            (pf.alpha, ps.alpha),
            (pf.a, ps.a),
            (pf.b, ps.b),
        ] {
            assert!((f - s).abs() <= 1e-5 * s.abs(), "{pf:?} vs {ps:?}");
        }
        assert!(prepared.log_likelihood(&pf) >= prepared.log_likelihood(&ps) - 1e-9);
    }

    #[test]
    fn a_divergent_series_is_nan_not_zero() {
        assert!(hyp2f1(1000.0, 1000.0, 1.5, 0.99).is_nan());
    }
}
