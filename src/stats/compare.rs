//! Comparing two sets of samples: a rank test for a difference (Mann–Whitney U, as benchstat
//! uses), an interval for the ratio of medians, and control of false alarms across the many
//! comparisons of one diff (Holm–Bonferroni or Benjamini–Hochberg).

use super::summary::median_ci_sorted;

/// Two-sided p-value of the Mann–Whitney U test that the two samples come from the same
/// distribution. Exact (by counting arrangements) when both samples are small and have no ties,
/// the normal approximation with tie and continuity corrections otherwise. `None` with an empty
/// sample.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Ranks, ties averaged; and the tie correction term Σ(t³ − t).
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += all[i..=j].iter().filter(|x| x.1 == 0).count() as f64 * avg_rank;
        i = j + 1;
    }
    let u = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let (f1, f2) = (n1 as f64, n2 as f64);
    if tie_term == 0.0 && n1 <= 20 && n2 <= 20 {
        return Some(exact_p(u.round() as usize, n1, n2));
    }
    let mean = f1 * f2 / 2.0;
    let nf = n as f64;
    let var = f1 * f2 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return Some(1.0); // every value equal
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some((2.0 * normal_sf(z)).min(1.0))
}

/// Exact two-sided p-value of U for samples of n1 and n2 without ties: the share of all
/// arrangements whose U is at least as far from the mean.
fn exact_p(u: usize, n1: usize, n2: usize) -> f64 {
    // counts[k] = number of arrangements with U = k, built up one element at a time
    // (the recurrence f(n1, n2, k) = f(n1 − 1, n2, k − n2) + f(n1, n2 − 1, k)).
    let max_u = n1 * n2;
    let mut table = vec![vec![vec![0f64; max_u + 1]; n2 + 1]; n1 + 1];
    for i in 0..=n1 {
        for j in 0..=n2 {
            if i == 0 || j == 0 {
                table[i][j][0] = 1.0;
                continue;
            }
            for k in 0..=i * j {
                let from_i = if k >= j { table[i - 1][j][k - j] } else { 0.0 };
                table[i][j][k] = from_i + table[i][j - 1][k];
            }
        }
    }
    let counts = &table[n1][n2];
    let total: f64 = counts.iter().sum();
    let mean = max_u as f64 / 2.0;
    let distance = (u as f64 - mean).abs();
    let extreme: f64 = counts
        .iter()
        .enumerate()
        .filter(|(k, _)| (*k as f64 - mean).abs() >= distance - 1e-9)
        .map(|(_, c)| c)
        .sum();
    (extreme / total).min(1.0)
}

/// Upper tail of the standard normal: P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, fractional error below
/// 1.2e-7 everywhere: ample for p-values).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

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
    pub fn parse(s: &str) -> Option<Correction> {
        match s {
            "holm" => Some(Correction::Holm),
            "bh" | "benjamini-hochberg" => Some(Correction::BenjaminiHochberg),
            "none" => Some(Correction::None),
            _ => None,
        }
    }

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
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(3.0) - 0.001_349_898).abs() < 1e-7);
        assert!((normal_sf(-1.0) - 0.841_344_746).abs() < 1e-6);
    }

    #[test]
    fn exact_u_matches_known_values() {
        // Completely separated samples of 3 and 3: U = 0; 2 of the 20 arrangements are as
        // extreme (both directions), p = 0.1 (R: wilcox.test(1:3, 4:6)$p.value == 0.1).
        assert!((mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap() - 0.1).abs() < 1e-12);
        // 5 against 5, separated: p = 2/252 (R gives 0.007937).
        let p = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // Interleaved samples: no evidence of a difference.
        assert_eq!(
            mann_whitney_u(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]).unwrap(),
            0.7
        );
    }

    #[test]
    fn the_normal_approximation_handles_large_samples_and_ties() {
        let a: Vec<f64> = (0..100).map(|i| 10.0 + (i % 10) as f64).collect();
        let b: Vec<f64> = (0..100).map(|i| 12.0 + (i % 10) as f64).collect();
        let p = mann_whitney_u(&a, &b).unwrap();
        assert!(p < 1e-4, "{p}");
        assert_eq!(mann_whitney_u(&a, &a).unwrap(), 1.0);
        assert_eq!(
            mann_whitney_u(&[1.0; 30], &[1.0; 30]).unwrap(),
            1.0,
            "all values equal"
        );
    }

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
