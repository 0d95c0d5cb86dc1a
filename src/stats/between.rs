//! Comparisons that hold between runs. The replicate is the **round** (a fresh process, at its
//! own moment of the run), not the iteration: iterations of one process share its memory
//! layout, its clocks and its neighbours, so their spread understates how much a second run
//! differs. Each side of a cell is summarized by its rounds' log medians; two sides are
//! compared by Welch's t-test on those; what every cell of a study shares (the machine was
//! slower that minute) is estimated as the median change across cells and taken out before a
//! cell is judged. The book's statistics chapter gives the reasons and the limits.
//!
//! Everything here is arithmetic on numbers; `diff` decides what the numbers of a cell are.

use super::distributions::{t_quantile, t_sf};
use crate::rng::Rng;

/// One side of a cell: its per-round values (natural logs of round medians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Side {
    pub mean: f64,
    /// Sample variance (n − 1) of the round values; 0 with one round.
    pub var: f64,
    pub rounds: usize,
}

impl Side {
    /// `None` without values.
    pub fn of(values: &[f64]) -> Option<Side> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Side {
            mean,
            var,
            rounds: n,
        })
    }
}

/// Welch's comparison of two sides: the difference of means (new − old, in log units), its
/// standard error and the Welch–Satterthwaite degrees of freedom. `None` unless both sides
/// have at least two rounds.
pub fn welch(old: Side, new: Side) -> Option<(f64, f64, f64)> {
    if old.rounds < 2 || new.rounds < 2 {
        return None;
    }
    let (va, vb) = (old.var / old.rounds as f64, new.var / new.rounds as f64);
    let se2 = va + vb;
    let df = if se2 > 0.0 {
        se2 * se2 / (va * va / (old.rounds - 1) as f64 + vb * vb / (new.rounds - 1) as f64)
    } else {
        (old.rounds + new.rounds - 2) as f64
    };
    Some((new.mean - old.mean, se2.sqrt(), df))
}

/// The paired comparison of two sides measured in the same rounds (an interleaved A/B run,
/// where round `r` of each side ran back to back): the mean of the per-round differences
/// (new − old, log units), its standard error and `n − 1` degrees of freedom. Whatever the
/// machine did during a round falls on both sides of it and cancels. `None` unless the sides
/// have the same number of rounds, at least two.
pub fn paired(old: &[f64], new: &[f64]) -> Option<(f64, f64, f64)> {
    if old.len() != new.len() || old.len() < 2 {
        return None;
    }
    let d: Vec<f64> = old.iter().zip(new).map(|(o, n)| n - o).collect();
    let s = Side::of(&d)?;
    Some((
        s.mean,
        (s.var / s.rounds as f64).sqrt(),
        (s.rounds - 1) as f64,
    ))
}

/// Two-sided p-value of an estimate `e` with standard error `se` and `df` degrees of freedom
/// (infinite: normal). A zero standard error gives 0 for a non-zero estimate, 1 otherwise.
pub fn two_sided_p(e: f64, se: f64, df: f64) -> f64 {
    if se <= 0.0 || !se.is_finite() {
        return if e == 0.0 { 1.0 } else { 0.0 };
    }
    (2.0 * t_sf((e / se).abs(), df)).min(1.0)
}

/// The `confidence` interval `e ± q·se`, q Student's (or the normal's, for infinite `df`).
pub fn interval(e: f64, se: f64, df: f64, confidence: f64) -> (f64, f64) {
    let q = t_quantile(0.5 + confidence / 2.0, df);
    (e - q * se, e + q * se)
}

/// What every cell of a study shares: the median of the cells' changes (log units), with a
/// percentile-bootstrap interval over cells and the bootstrap variance of the median. The
/// median, so that a few cells that really changed do not move it. Deterministic: the
/// resampling is seeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub var: f64,
    pub cells: usize,
}

/// The shift of `changes` (one per cell), `None` below `min_cells` cells.
pub fn shift(changes: &[f64], min_cells: usize, confidence: f64) -> Option<Shift> {
    let n = changes.len();
    if n < min_cells.max(1) {
        return None;
    }
    let estimate = super::median(changes)?;
    let mut rng = Rng::new(0x5eed_5a1f);
    let mut medians = Vec::with_capacity(2000);
    let mut resample = vec![0.0; n];
    for _ in 0..2000 {
        for x in resample.iter_mut() {
            *x = changes[(rng.next_u64() % n as u64) as usize];
        }
        medians.push(super::median(&resample).unwrap_or(estimate));
    }
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| super::summary::percentile_sorted(&medians, q * 100.0);
    let mean = medians.iter().sum::<f64>() / medians.len() as f64;
    let var = medians.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (medians.len() - 1) as f64;
    Some(Shift {
        estimate,
        low: at((1.0 - confidence) / 2.0),
        high: at((1.0 + confidence) / 2.0),
        var,
        cells: n,
    })
}

/// A robust standard deviation: 1.4826 × the median absolute deviation from the median (the
/// standard deviation itself for normal data, and unmoved by a few outliers).
pub fn robust_sd(values: &[f64]) -> Option<f64> {
    let m = super::median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    Some(1.4826 * super::median(&deviations)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paired_test_cancels_what_each_round_shares() {
        // Rounds that swing by ±20% together, and a steady 5% between the sides: the pairs see
        // only the 5%; unpaired, the swing hides it.
        let old = [0.0, 0.2, -0.2, 0.1, -0.1, 0.15];
        let new: Vec<f64> = old
            .iter()
            .enumerate()
            .map(|(i, o)| o + 0.05 + 0.002 * (i % 2) as f64)
            .collect();
        let (e, se, df) = paired(&old, &new).unwrap();
        assert!((e - 0.051).abs() < 1e-12, "{e}");
        assert_eq!(df, 5.0);
        assert!(two_sided_p(e, se, df) < 1e-6);
        let (_, se_w, df_w) = welch(Side::of(&old).unwrap(), Side::of(&new).unwrap()).unwrap();
        assert!(
            two_sided_p(e, se_w, df_w) > 0.3,
            "unpaired, the rounds' swing hides it"
        );
        assert!(paired(&old[..3], &new).is_none(), "rounds must match");
        assert!(paired(&old[..1], &new[..1]).is_none());
    }
    use crate::stats::distributions::normal_quantile;

    /// Against SciPy: `scipy.stats.ttest_ind(b, a, equal_var=False)` on these values gives
    /// t = 3.77297 with df = 7.47615 and p = 0.0061615 (SciPy 1.17.1).
    #[test]
    fn welch_agrees_with_scipy() {
        let a = [1.0, 1.1, 0.9, 1.05, 0.95];
        let b = [1.2, 1.35, 1.15, 1.3, 1.1];
        let (d, se, df) = welch(Side::of(&a).unwrap(), Side::of(&b).unwrap()).unwrap();
        assert!((d - 0.22).abs() < 1e-12);
        assert!((d / se - 3.77297).abs() < 1e-4, "{}", d / se);
        assert!((df - 7.47615).abs() < 1e-4, "{df}");
        assert!((two_sided_p(d, se, df) - 0.0061615).abs() < 1e-6);
    }

    #[test]
    fn one_round_sides_are_not_compared_by_welch() {
        let one = Side::of(&[1.0]).unwrap();
        let five = Side::of(&[1.0, 1.1, 0.9, 1.0, 1.0]).unwrap();
        assert_eq!(welch(one, five), None);
        assert_eq!(one.var, 0.0);
    }

    #[test]
    fn the_shift_is_the_median_change_and_ignores_a_few_movers() {
        let mut changes = vec![0.10, 0.11, 0.09, 0.10, 0.12, 0.08, 0.10];
        changes.push(0.9); // one cell that really changed
        let s = shift(&changes, 4, 0.95).unwrap();
        assert!((s.estimate - 0.10).abs() < 1e-9, "{s:?}");
        assert!(s.low <= 0.10 && s.high >= 0.10 && s.high < 0.2, "{s:?}");
        assert_eq!(shift(&changes[..3], 4, 0.95), None);
        assert_eq!(
            shift(&changes, 4, 0.95),
            shift(&changes, 4, 0.95),
            "deterministic"
        );
    }

    #[test]
    fn the_robust_sd_of_normal_scores_is_about_one() {
        // Normal quantiles at evenly spaced probabilities: an idealized standard normal sample.
        let xs: Vec<f64> = (1..1000)
            .map(|i| normal_quantile(i as f64 / 1000.0))
            .collect();
        let sd = robust_sd(&xs).unwrap();
        assert!((sd - 1.0).abs() < 0.01, "{sd}");
    }
}
