//! Summaries of a cell's raw samples: location, spread, tail percentiles, and a
//! distribution-free confidence interval of the median.

/// Summary of one cell's timed samples, all in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub median: f64,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single sample.
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
    pub p99: f64,
    /// 95% confidence interval of the median from order statistics (no assumption about the
    /// shape of the distribution, which for timings is skewed); `None` below 6 samples, where
    /// even [min, max] covers less than 95%.
    pub median_ci: Option<(f64, f64)>,
}

impl Summary {
    /// Summarizes samples; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Summary {
            count: n,
            median: percentile_sorted(&sorted, 50.0),
            mean,
            std,
            min: sorted[0],
            max: sorted[n - 1],
            p95: percentile_sorted(&sorted, 95.0),
            p99: percentile_sorted(&sorted, 99.0),
            median_ci: median_ci_sorted(&sorted, 0.95),
        })
    }
}

/// Percentile of sorted data with linear interpolation between closest ranks (NumPy's
/// default, Hyndman–Fan type 7), so figures match what users compute in pandas.
pub fn percentile_sorted(sorted: &[f64], pct: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let rank = pct / 100.0 * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Median of unsorted data.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_sorted(&sorted, 50.0))
}

/// Geometric mean of positive values (the mean of ratios and rates); `None` when there are
/// none.
pub fn geomean(values: &[f64]) -> Option<f64> {
    (!values.is_empty())
        .then(|| (values.iter().map(|x| x.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// Confidence interval of the median from order statistics: the number of samples below the
/// true median is Binomial(n, ½), so [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] covers it with probability
/// 1 − 2·P(X ≤ k−1). Picks the largest k whose coverage is still at least `confidence`.
pub fn median_ci_sorted(sorted: &[f64], confidence: f64) -> Option<(f64, f64)> {
    let n = sorted.len();
    let tail = (1.0 - confidence) / 2.0;
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut cdf = 0.0;
    let mut k = 0;
    while k < n / 2 {
        let pmf = (ln_choose - ln2n).exp();
        if cdf + pmf > tail {
            break;
        }
        cdf += pmf;
        ln_choose += ((n - k) as f64).ln() - ((k + 1) as f64).ln();
        k += 1;
    }
    (k >= 1).then(|| (sorted[k - 1], sorted[n - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_data() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.mean, 3.0);
        assert!((s.std - 2.5f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 5.0));
        assert!((s.p95 - 4.8).abs() < 1e-12);
        assert_eq!(s.median_ci, None, "5 samples cannot give a 95% interval");
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[7.0]).unwrap().std, 0.0);
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let data: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.percentile(range(1, 11), [50, 95, 99]) == [5.5, 9.55, 9.91]
        assert!((percentile_sorted(&data, 50.0) - 5.5).abs() < 1e-12);
        assert!((percentile_sorted(&data, 95.0) - 9.55).abs() < 1e-12);
        assert!((percentile_sorted(&data, 99.0) - 9.91).abs() < 1e-12);
    }

    #[test]
    fn median_interval_matches_binomial_tables() {
        let data: Vec<f64> = (1..=10).map(f64::from).collect();
        // n = 10: P(X ≤ 1) = 11/1024 ≤ 2.5% < P(X ≤ 2) = 56/1024, so [x₂, x₉].
        assert_eq!(median_ci_sorted(&data, 0.95), Some((2.0, 9.0)));
        let six: Vec<f64> = (1..=6).map(f64::from).collect();
        assert_eq!(median_ci_sorted(&six, 0.95), Some((1.0, 6.0)));
        // n = 100: the classical interval is [x₄₀, x₆₁].
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(median_ci_sorted(&hundred, 0.95), Some((40.0, 61.0)));
    }

    #[test]
    fn median_interval_always_contains_the_median() {
        // A property over many sizes and shapes: lower ≤ median ≤ upper, and the interval
        // narrows (in rank terms) as n grows.
        for n in 6..400 {
            let data: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 10.0).collect();
            let mut sorted = data.clone();
            sorted.sort_by(f64::total_cmp);
            let (lo, hi) = median_ci_sorted(&sorted, 0.95).unwrap();
            let m = median(&data).unwrap();
            assert!(lo <= m && m <= hi, "n={n}: {lo} ≤ {m} ≤ {hi}");
        }
    }
}
