//! Control of false alarms across the many comparisons of one diff (Holm–Bonferroni or
//! Benjamini–Hochberg), and the within-run interval of a ratio of medians (for the side-by-side
//! tables of one report, whose two sides ran in the same run).

use super::summary::median_ci_sorted;

/// Adjusts p-values for the number of comparisons made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// Holm–Bonferroni: controls the chance of any false alarm (family-wise error rate).
    Holm,
    /// Benjamini–Hochberg: controls the expected share of false alarms among the flagged
    /// cells (false discovery rate); more power with many cells.
    BenjaminiHochberg,
    /// No adjustment: with a hundred cells, about five are flagged by chance at 5%.
    None,
}

impl Correction {
    pub fn name(self) -> &'static str {
        match self {
            Correction::Holm => "holm",
            Correction::BenjaminiHochberg => "bh",
            Correction::None => "none",
        }
    }

    /// Adjusted p-values, in the order given. Missing p-values stay missing and do not count.
    pub fn adjust(self, p: &[Option<f64>]) -> Vec<Option<f64>> {
        let mut idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
        idx.sort_by(|&x, &y| p[x].unwrap().total_cmp(&p[y].unwrap()));
        let m = idx.len() as f64;
        let mut out = vec![None; p.len()];
        match self {
            Correction::None => return p.to_vec(),
            Correction::Holm => {
                let mut running: f64 = 0.0;
                for (rank, &i) in idx.iter().enumerate() {
                    let adjusted = ((m - rank as f64) * p[i].unwrap()).min(1.0);
                    running = running.max(adjusted);
                    out[i] = Some(running);
                }
            }
            Correction::BenjaminiHochberg => {
                let mut running: f64 = 1.0;
                for (rank, &i) in idx.iter().enumerate().rev() {
                    let adjusted = (m / (rank as f64 + 1.0) * p[i].unwrap()).min(1.0);
                    running = running.min(adjusted);
                    out[i] = Some(running);
                }
            }
        }
        out
    }
}

/// An approximate 95% interval for the ratio of medians new/old. Each median's
/// distribution-free interval gives its standard error on the log scale
/// ((ln hi − ln lo) / 2·1.96); the two combine as independent errors. `None` when either side
/// has too few samples for an interval, or a non-positive value.
pub fn ratio_ci(old_sorted: &[f64], new_sorted: &[f64], ratio: f64) -> Option<(f64, f64)> {
    let (ol, oh) = median_ci_sorted(old_sorted, 0.95)?;
    let (nl, nh) = median_ci_sorted(new_sorted, 0.95)?;
    if ol <= 0.0 || nl <= 0.0 || ratio <= 0.0 {
        return None;
    }
    let se = |lo: f64, hi: f64| (hi.ln() - lo.ln()) / (2.0 * 1.96);
    let se_ratio = (se(ol, oh).powi(2) + se(nl, nh).powi(2)).sqrt();
    Some((
        ratio * (-1.96 * se_ratio).exp(),
        ratio * (1.96 * se_ratio).exp(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_and_bh_adjust_as_defined() {
        let p = [Some(0.01), Some(0.04), None, Some(0.03), Some(0.005)];
        let holm = Correction::Holm.adjust(&p);
        // Sorted: 0.005×4 = 0.02, 0.01×3 = 0.03, 0.03×2 = 0.06, 0.04×1 → max(0.06, 0.04) = 0.06.
        assert_eq!(holm, [Some(0.03), Some(0.06), None, Some(0.06), Some(0.02)]);
        let bh = Correction::BenjaminiHochberg.adjust(&p);
        // BH: 0.04×4/4 = 0.04, 0.03×4/3 = 0.04, 0.01×4/2 = 0.02, 0.005×4/1 = 0.02.
        let close = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-12;
        assert!(
            close(bh[0], 0.02) && close(bh[1], 0.04) && close(bh[3], 0.04) && close(bh[4], 0.02)
        );
        assert_eq!(Correction::None.adjust(&p), p.to_vec());
    }

    #[test]
    fn ratio_interval_contains_the_ratio_and_narrows_with_samples() {
        let old: Vec<f64> = (0..50).map(|i| 10.0 + 0.01 * i as f64).collect();
        let new: Vec<f64> = old.iter().map(|x| x * 1.2).collect();
        let (lo, hi) = ratio_ci(&old, &new, 1.2).unwrap();
        assert!(lo < 1.2 && 1.2 < hi && hi - lo < 0.05, "{lo} {hi}");
        assert_eq!(
            ratio_ci(&old[..3], &new, 1.2),
            None,
            "too few samples for an interval"
        );
    }
}
