//! Fairness statistics: is the lottery behaving as stake-weighted?
//!
//! Pearson's chi-square goodness of fit of observed wins against expected wins, where a
//! validator's expected wins are Σ stake/T over the draws it entered. Validators expecting
//! fewer than [`MIN_EXPECTED`] wins are pooled into one bucket (kept if that pool expects at
//! least [`MIN_EXPECTED`]); degrees of freedom are buckets − 1. Entrant sets differ from draw to
//! draw, so this is an approximation of the exact test (each draw is its own multinomial).

use serde::Serialize;

use crate::ledger::Tally;

/// Buckets expecting fewer wins than this are too small for the chi-square approximation.
pub const MIN_EXPECTED: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChiSquare {
    pub statistic: f64,
    pub degrees_of_freedom: u32,
    /// P(X² ≥ statistic) if the lottery is fair: tiny values (< 0.001) are a red flag.
    pub p_value: f64,
    /// How many validators were tested on their own (the rest are pooled).
    pub buckets: u32,
}

/// The statistic over every validator's tally; `None` with fewer than two buckets.
pub fn chi_square<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Option<ChiSquare> {
    let mut statistic = 0.0;
    let mut buckets = 0u32;
    let (mut pool_observed, mut pool_expected) = (0.0, 0.0);
    for t in tallies {
        if t.expected >= MIN_EXPECTED {
            statistic += (t.wins as f64 - t.expected).powi(2) / t.expected;
            buckets += 1;
        } else {
            pool_observed += t.wins as f64;
            pool_expected += t.expected;
        }
    }
    if pool_expected >= MIN_EXPECTED {
        statistic += (pool_observed - pool_expected).powi(2) / pool_expected;
        buckets += 1;
    }
    if buckets < 2 {
        return None;
    }
    let df = buckets - 1;
    Some(ChiSquare {
        statistic,
        degrees_of_freedom: df,
        p_value: chi_square_sf(statistic, f64::from(df)),
        buckets,
    })
}

/// Survival function of the chi-square distribution: Q(df/2, x/2).
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    upper_gamma_regularized(df / 2.0, x / 2.0)
}

/// Q(a, x), by the series for x < a + 1 and Lentz's continued fraction otherwise
/// (Numerical Recipes §6.2).
fn upper_gamma_regularized(a: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-14;
    const TINY: f64 = 1e-300;
    let ln_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * EPS {
                break;
            }
        }
        (1.0 - sum * ln_front.exp()).clamp(0.0, 1.0)
    } else {
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < EPS {
                break;
            }
        }
        (ln_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn survival_function_matches_tables() {
        // Critical values from standard chi-square tables.
        assert!(close(chi_square_sf(3.841458820694124, 1.0), 0.05, 1e-9));
        assert!(close(chi_square_sf(5.991464547107979, 2.0), 0.05, 1e-9));
        assert!(close(chi_square_sf(23.20925115895, 10.0), 0.01, 1e-9));
        assert!(close(chi_square_sf(2.0, 2.0), (-1.0f64).exp(), 1e-12));
        assert!(close(chi_square_sf(124.342, 100.0), 0.05, 1e-4));
        assert_eq!(chi_square_sf(0.0, 3.0), 1.0);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-12));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn statistic_pools_small_buckets() {
        let t = |wins, expected| Tally {
            wins,
            expected,
            draws: 0,
        };
        let tallies = [t(50, 50.0), t(30, 30.0), t(20, 20.0), t(1, 0.5), t(0, 0.5)];
        let c = chi_square(&tallies).unwrap();
        assert_eq!((c.buckets, c.degrees_of_freedom), (3, 2));
        assert!(close(c.statistic, 0.0, 1e-12));
        assert!(close(c.p_value, 1.0, 1e-12));
        let skewed = [t(90, 50.0), t(10, 50.0)];
        let c = chi_square(&skewed).unwrap();
        assert!(close(c.statistic, 64.0, 1e-12));
        assert!(c.p_value < 1e-10);
        assert!(chi_square(&[t(3, 3.0)]).is_none());
    }
}
