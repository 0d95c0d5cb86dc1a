//! A/A calibration: given two halves of the same code measured on this machine (an interleaved
//! A/A run, or one run's rounds split in two), what each cell's noise between runs is, how
//! often the default diff calls unchanged code different, and the smallest change it can
//! detect with 80% power. The false-alarm rate is measured, not assumed: the halves' rounds are
//! pooled and re-split at random many times, and each re-split is diffed exactly as `diff`
//! would diff two stored runs.

use std::collections::BTreeMap;

use super::{compare, side_figures, Settings, Verdict};
use crate::results::calibration::CellCalibration;
use crate::results::{CellRecord, Status};
use crate::rng::Rng;
use crate::stats::between::Side;
use crate::stats::distributions::t_quantile;

/// What the calibration of a set of matched cells found.
pub struct Found {
    pub cells: Vec<CellCalibration>,
    /// Share of re-splits in which any cell was flagged.
    pub false_alarm_rate: f64,
}

/// Power the detectable change is computed for.
const POWER: f64 = 0.8;

/// Calibrates the cells measured (ok, with two rounds or more) on both halves `a` and `b`,
/// matched by id, with `splits` seeded random re-splits judged under `settings`.
pub fn calibrate(a: &[CellRecord], b: &[CellRecord], settings: &Settings, splits: usize) -> Found {
    let usable = |r: &CellRecord| r.status == Status::Ok && r.rounds().len() >= 2;
    let pairs: Vec<(&CellRecord, &CellRecord)> = a
        .iter()
        .filter(|r| usable(r))
        .filter_map(|o| Some((o, b.iter().find(|n| n.cell_id == o.cell_id && usable(n))?)))
        .collect();
    let n_cells = pairs.len().max(1) as f64;
    let unpaired = Settings {
        paired: false,
        ..settings.clone()
    };
    let flagged_now = flagged(
        &pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        &pairs.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
        &unpaired,
    );
    // Re-splits: every cell's rounds of both halves pooled, shuffled, cut in two.
    let mut rng = Rng::new(0x00ca_11b7);
    let mut times_flagged: BTreeMap<String, usize> = BTreeMap::new();
    let mut any = 0;
    for _ in 0..splits {
        let (left, right): (Vec<CellRecord>, Vec<CellRecord>) = pairs
            .iter()
            .map(|(o, n)| {
                let mut pool: Vec<&[f64]> = o.rounds();
                pool.extend(n.rounds());
                rng.shuffle(&mut pool);
                let half = pool.len() / 2;
                (with_rounds(o, &pool[..half]), with_rounds(n, &pool[half..]))
            })
            .unzip();
        let f = flagged(&left, &right, &unpaired);
        if !f.is_empty() {
            any += 1;
        }
        for id in f {
            *times_flagged.entry(id).or_default() += 1;
        }
    }
    let cells = pairs
        .iter()
        .map(|(o, n)| {
            let (fo, fn_) = (side_figures(o).values, side_figures(n).values);
            let (so, sn) = (Side::of(&fo).unwrap(), Side::of(&fn_).unwrap());
            let rounds = so.rounds.min(sn.rounds);
            let pooled_var = (so.var * (so.rounds - 1) as f64 + sn.var * (sn.rounds - 1) as f64)
                / (so.rounds + sn.rounds - 2) as f64;
            let round_spread = pooled_var.sqrt();
            // Bonferroni's level for the study's cells: the strictest step of Holm's procedure.
            let q = |df: f64| {
                t_quantile(1.0 - settings.alpha / (2.0 * n_cells), df) + t_quantile(POWER, df)
            };
            let between_df = (so.rounds + sn.rounds - 2) as f64;
            let detectable_between_runs =
                (q(between_df) * round_spread * (2.0 / rounds as f64).sqrt()).exp() - 1.0;
            let paired_spread = (fo.len() == fn_.len()).then(|| {
                let d: Vec<f64> = fo.iter().zip(&fn_).map(|(x, y)| y - x).collect();
                Side::of(&d).unwrap().var.sqrt()
            });
            let detectable_interleaved = paired_spread
                .map(|sd| (q((rounds - 1) as f64) * sd / (rounds as f64).sqrt()).exp() - 1.0);
            CellCalibration {
                cell_id: n.cell_id.clone(),
                experiment: n.experiment.clone(),
                key: n.cell_key.clone(),
                rounds,
                round_spread,
                paired_spread,
                detectable_between_runs,
                detectable_interleaved,
                flagged: flagged_now.contains(&n.cell_id),
                false_alarm_rate: *times_flagged.get(&n.cell_id).unwrap_or(&0) as f64
                    / splits.max(1) as f64,
            }
        })
        .collect();
    Found {
        cells,
        false_alarm_rate: any as f64 / splits.max(1) as f64,
    }
}

/// The ids of the cells a diff of `a` and `b` calls slower or faster.
fn flagged(a: &[CellRecord], b: &[CellRecord], s: &Settings) -> Vec<String> {
    compare(a, b, "a", "b", s)
        .cells
        .into_iter()
        .filter(|c| matches!(c.verdict, Verdict::Slower | Verdict::Faster))
        .map(|c| c.cell_id)
        .collect()
}

/// `row` with its samples replaced by `rounds`, round by round.
pub fn with_rounds(row: &CellRecord, rounds: &[&[f64]]) -> CellRecord {
    CellRecord {
        samples_ms: rounds.concat(),
        round_sample_counts: rounds.iter().map(|r| r.len() as u64).collect(),
        round_started_s: vec![0.0; rounds.len()],
        round_positions: vec![0; rounds.len()],
        definition_sha256: None,
        ..row.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::tests::record;

    /// A row of `rounds` rounds whose medians are `exp(level)` times 1 ms.
    fn row(id: &str, levels: &[f64]) -> CellRecord {
        let rounds: Vec<Vec<f64>> = levels
            .iter()
            .map(|l| {
                (0..9)
                    .map(|i| l.exp() * (1.0 + i as f64 / 1000.0))
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = rounds.iter().map(Vec::as_slice).collect();
        with_rounds(&record(id, &[], vec![]), &refs)
    }

    #[test]
    fn a_noisy_cell_needs_a_larger_change_to_be_seen_and_quiet_halves_raise_no_alarm() {
        let quiet_a = row("quiet", &[0.0, 0.01, -0.01, 0.005, -0.005]);
        let quiet_b = row("quiet", &[0.002, 0.012, -0.008, 0.007, -0.003]);
        let noisy_a = row("noisy", &[0.0, 0.2, -0.2, 0.1, -0.1]);
        let noisy_b = row("noisy", &[0.05, -0.15, 0.15, -0.05, 0.0]);
        let found = calibrate(
            &[quiet_a, noisy_a],
            &[quiet_b, noisy_b],
            &Settings::default(),
            50,
        );
        let by = |id: &str| found.cells.iter().find(|c| c.cell_id == id).unwrap();
        let (q, n) = (by("quiet"), by("noisy"));
        assert_eq!(q.rounds, 5);
        assert!(
            q.detectable_between_runs < 0.05,
            "{}",
            q.detectable_between_runs
        );
        assert!(
            n.detectable_between_runs > 0.2,
            "{}",
            n.detectable_between_runs
        );
        // The quiet halves differ by a steady 0.2%: interleaved, that is seen to a fraction of
        // a percent.
        assert!(q.detectable_interleaved.unwrap() < 0.01);
        assert!(!q.flagged && !n.flagged);
        assert!(found.false_alarm_rate <= 0.1, "{}", found.false_alarm_rate);
        // The same re-splits every time.
        let again = calibrate(
            &[row("quiet", &[0.0, 0.01, -0.01, 0.005, -0.005])],
            &[row("quiet", &[0.002, 0.012, -0.008, 0.007, -0.003])],
            &Settings::default(),
            50,
        );
        assert_eq!(again.cells[0].false_alarm_rate, q.false_alarm_rate);
    }

    #[test]
    fn cells_without_two_rounds_on_both_halves_are_not_calibrated() {
        let found = calibrate(
            &[row("one", &[0.0])],
            &[row("one", &[0.0])],
            &Settings::default(),
            10,
        );
        assert!(found.cells.is_empty());
    }
}
