//! Adaptive stopping: a cell stops taking samples once its median is known precisely enough,
//! that is once the 95% confidence interval of the median lies within `target_ci` of it on
//! either side. The `iterations` budget (count or time) and `max_iterations` stay the
//! ceiling, `min_iterations` the floor.
//!
//! The interval is recomputed at geometrically spaced sample counts (every 10% more samples),
//! so that checking costs O(n log n) over the whole cell, not per sample.

use crate::stats::summary::median_ci_sorted;

/// The relative half-width of the median's 95% CI: the larger distance from the median to an
/// end of the interval, over the median. `None` with too few samples for an interval.
pub fn relative_ci_half_width(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = median_ci_sorted(&sorted, 0.95)?;
    let median = crate::stats::summary::percentile_sorted(&sorted, 50.0);
    (median > 0.0).then(|| (median - lo).max(hi - median) / median)
}

/// Decides, as samples arrive, whether the target precision has been reached.
#[derive(Debug, Clone)]
pub struct Adaptive {
    target: f64,
    min: usize,
    next_check: usize,
}

impl Adaptive {
    pub fn new(target: f64, min_iterations: u64) -> Adaptive {
        let min = min_iterations.max(1) as usize;
        Adaptive {
            target,
            min,
            next_check: min,
        }
    }

    /// Whether `samples` (all timed samples so far) are precise enough to stop.
    pub fn satisfied(&mut self, samples: &[f64]) -> bool {
        let n = samples.len();
        if n < self.next_check.max(self.min) {
            return false;
        }
        self.next_check = n + (n / 10).max(1);
        relative_ci_half_width(samples).is_some_and(|w| w <= self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_samples_stop_early_and_noisy_ones_do_not() {
        let mut steady = Adaptive::new(0.01, 10);
        let samples: Vec<f64> = (0..200).map(|i| 10.0 + (i % 7) as f64 * 0.001).collect();
        let stop = (1..=samples.len()).find(|&n| steady.satisfied(&samples[..n]));
        assert_eq!(stop, Some(10), "the floor is the first check");

        let mut noisy = Adaptive::new(0.01, 10);
        let wild: Vec<f64> = (0..200).map(|i| 1.0 + (i * 37 % 100) as f64).collect();
        assert!((1..=wild.len()).all(|n| !noisy.satisfied(&wild[..n])));
    }

    #[test]
    fn half_width_is_relative_to_the_median() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        // The 95% interval of 100 samples is [x₄₀, x₆₁] = [40, 61]; the median is 50.5.
        let w = relative_ci_half_width(&samples).unwrap();
        assert!((w - 10.5 / 50.5).abs() < 1e-12, "{w}");
        assert_eq!(relative_ci_half_width(&[1.0, 2.0]), None);
    }
}
