//! Diffs: comparing two result sets cell by cell and saying what changed beyond noise.
//!
//! Cells are matched by their stable id. Each side of a cell is its rounds (each a fresh
//! process at its own moment of the run): the ratio new/old compares the rounds' geometric-mean
//! medians (means for a loader, judged by its rate). What the whole study moved (the median
//! change across cells) is estimated with its interval and taken out; what is left is tested
//! with Welch's t on the rounds' log medians (or, with one round on a side, against the spread
//! of the other cells), adjusted across the diff for multiple comparisons. A change counts only
//! when it is significant after adjustment *and* beyond the threshold; "no change" only when the
//! interval rules out a change beyond the threshold; anything else is `uncertain`.

pub mod calibration;
pub mod output;
pub mod resolve;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::{CellRecord, Status};
use crate::stats::compare::Correction;
use crate::stats::median;

/// Settings of a diff.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Smallest relative change that counts (0.05 = 5%), unless an experiment sets its own.
    pub threshold: f64,
    /// Per-experiment thresholds, from the new side's plan (`diff_threshold`).
    pub experiment_thresholds: BTreeMap<String, f64>,
    /// Significance level, applied to adjusted p-values.
    pub alpha: f64,
    pub correction: Correction,
    /// Fewer samples than this on either side make a cell `uncertain`.
    pub min_samples: usize,
    /// The sides ran interleaved in the same rounds (`benchplan ab`): each cell is tested on
    /// its per-round differences, and a change shared by every cell is the code's (both sides
    /// ran on the same machine at the same minutes), so it is not taken out.
    pub paired: bool,
    /// Per-cell thresholds from this machine's calibration (cell id → the smallest change the
    /// cell can detect here, and the rounds per side that holds for): a cell is judged against
    /// the larger of this, scaled to the rounds it has, and its threshold.
    pub cell_thresholds: BTreeMap<String, (f64, usize)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: 0.05,
            experiment_thresholds: BTreeMap::new(),
            alpha: 0.05,
            correction: Correction::Holm,
            min_samples: 6,
            paired: false,
            cell_thresholds: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Slower,
    Uncertain,
    Faster,
    NoChange,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Slower => "slower",
            Verdict::Uncertain => "uncertain",
            Verdict::Faster => "faster",
            Verdict::NoChange => "no change",
        }
    }
}

/// A non-time figure that changed between the sides.
#[derive(Debug, Clone, Serialize)]
pub struct FigureChange {
    pub name: String,
    pub old: f64,
    pub new: f64,
}

/// One matched cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellDiff {
    pub cell_id: String,
    pub experiment: String,
    pub key: String,
    pub old_median_ms: f64,
    pub new_median_ms: f64,
    pub old_n: usize,
    pub new_n: usize,
    /// Rounds that measured the cell on each side (1 for sets written before rounds).
    pub old_rounds: usize,
    pub new_rounds: usize,
    /// What the ratio compares: `median` (of each round) or, for a loader, `mean` (its rate).
    pub figure: String,
    /// New over old: the ratio of the rounds' geometric-mean medians (means for a loader); above
    /// 1 is slower. Its interval is the 95% interval between runs.
    pub ratio: f64,
    pub ratio_low: Option<f64>,
    pub ratio_high: Option<f64>,
    /// The ratio beyond what the whole study moved (`ratio` over the study-wide shift): what the
    /// verdict judges. Equal to `ratio` when no shift could be estimated.
    pub relative: f64,
    pub relative_low: Option<f64>,
    pub relative_high: Option<f64>,
    /// How the noise between runs was estimated: `rounds` (Welch's t on the rounds' log
    /// medians), `other cells` (one round on a side: the robust spread of the other cells'
    /// changes), or `none` (neither was possible).
    pub method: String,
    /// The standard error of ln(`relative`) and the degrees of freedom of its test (infinite,
    /// written as null in JSON, for the normal test of one-round cells).
    pub std_error: Option<f64>,
    pub df: Option<f64>,
    pub p_value: Option<f64>,
    /// The p-value after the multiple-comparison adjustment.
    pub p_adjusted: Option<f64>,
    pub threshold: f64,
    /// Where the threshold came from: `default` (`--threshold`), `experiment` (the plan's
    /// `diff_threshold`) or `calibration` (the smallest change this cell can detect on this
    /// machine, from `benchplan calibrate`, where that is larger).
    pub threshold_source: String,
    pub verdict: Verdict,
    /// Why the verdict, in a few words (e.g. "too few samples").
    pub why: String,
    /// Which side's device was throttled during the cell's timed iterations (`old`, `new`,
    /// `both`), empty where neither was (or no state was read): such a comparison is marked
    /// in its `why`, not silently trusted.
    pub throttled: String,
    pub figures: Vec<FigureChange>,
}

/// A cell present on one side only, or not measured on one side.
#[derive(Debug, Clone, Serialize)]
pub struct Unmatched {
    pub cell_id: String,
    pub experiment: String,
    pub key: String,
    /// Why it could not be compared (status on either side).
    pub note: String,
}

/// Metadata that differs between the sides and may explain (or invalidate) a change.
#[derive(Debug, Clone, Serialize)]
pub struct MetaChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// A whole diff.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub old_label: String,
    pub new_label: String,
    pub correction: String,
    pub alpha: f64,
    pub cells: Vec<CellDiff>,
    pub added: Vec<Unmatched>,
    pub removed: Vec<Unmatched>,
    pub not_compared: Vec<Unmatched>,
    pub metadata: Vec<MetaChange>,
    pub faster: usize,
    pub slower: usize,
    pub unchanged: usize,
    pub uncertain: usize,
    /// Geometric mean of the ratios of the matched cells.
    pub geomean_ratio: Option<f64>,
    /// How much the whole study moved: the median of the cells' ratios, with its interval;
    /// each cell is judged beyond it. `None` with fewer than [`MIN_SHIFT_CELLS`] matched cells.
    pub shift: Option<StudyShift>,
    /// The spread between the two runs that the cells' rounds do not explain (log units, one
    /// standard deviation): how far cells moved apart beyond the shift, robustly across cells,
    /// less what their rounds account for. Added to every cell's noise; `None` where it could
    /// not be estimated (fewer than [`MIN_SHIFT_CELLS`] cells with rounds) or does not apply
    /// (paired sides).
    pub run_level_spread: Option<f64>,
    /// A line on what the diff could and could not tell apart (one-round sides, say).
    pub notes: Vec<String>,
}

/// How much every cell moved together between the sides.
#[derive(Debug, Clone, Serialize)]
pub struct StudyShift {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    /// The matched cells it is the median of.
    pub cells: usize,
    /// The bootstrap variance of the shift's log: added to each cell's squared standard error
    /// when the shift is applied.
    pub log_variance: f64,
    /// Whether cells were judged beyond the shift: only when its interval excludes 1.
    pub applied: bool,
    /// Whether its interval lies beyond the threshold on one side: the study as a whole moved.
    pub beyond_threshold: bool,
}

/// Below this many matched cells no study-wide shift is estimated (a median of fewer says
/// little), and cells are judged as they are.
pub const MIN_SHIFT_CELLS: usize = 5;

/// Below this many one-round cells, their run-to-run noise is not estimated from their spread.
pub const MIN_NOISE_CELLS: usize = 8;

/// What makes `diff` exit with [`ExitStatus::Failure`](crate::exit::ExitStatus::Failure).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailOn {
    /// A cell got slower beyond threshold and noise.
    #[default]
    Regressions,
    /// Any cell changed, faster or slower.
    Any,
    /// Nothing: the diff is for reading.
    Never,
}

impl FailOn {
    /// Whether `diff` found what fails the command.
    pub fn fails(self, diff: &Diff) -> bool {
        match self {
            FailOn::Regressions => diff.has_regression(),
            FailOn::Any => diff.has_change(),
            FailOn::Never => false,
        }
    }
}

/// `5%` or `0.05` as a fraction: the smallest change that counts.
pub fn parse_threshold(text: &str) -> anyhow::Result<f64> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => anyhow::bail!("`{text}` is not a threshold; write e.g. `5%` or `0.05`"),
    }
}

impl Settings {
    /// Settings from the command line's words: `threshold` as [`parse_threshold`] reads it,
    /// `alpha` strictly between 0 and 1.
    pub fn from_flags(
        threshold: &str,
        alpha: f64,
        correction: Correction,
        experiment_thresholds: BTreeMap<String, f64>,
    ) -> anyhow::Result<Settings> {
        if !(alpha > 0.0 && alpha < 1.0) {
            anyhow::bail!("`--alpha {alpha}` must be between 0 and 1");
        }
        Ok(Settings {
            threshold: parse_threshold(threshold)?,
            experiment_thresholds,
            alpha,
            correction,
            ..Settings::default()
        })
    }
}

impl Diff {
    /// Whether any cell got slower beyond threshold and noise.
    pub fn has_regression(&self) -> bool {
        self.slower > 0
    }

    pub fn has_change(&self) -> bool {
        self.slower + self.faster > 0
    }
}

fn measured(r: &CellRecord) -> bool {
    r.status == Status::Ok && !r.samples_ms.is_empty()
}

/// How the rows of two sides pair up: by cell id, and by machine too when a side holds rows of
/// several machines (a merged set), where a cell's key then names its machine.
struct Matching<'a> {
    by_machine: bool,
    /// Cells measured on both sides, (old, new).
    pairs: Vec<(&'a CellRecord, &'a CellRecord)>,
    added: Vec<Unmatched>,
    removed: Vec<Unmatched>,
    /// On both sides, but not measured on one of them (failed, skipped).
    not_compared: Vec<Unmatched>,
}

impl<'a> Matching<'a> {
    fn of(old: &'a [CellRecord], new: &'a [CellRecord]) -> Matching<'a> {
        let machines = |rs: &[CellRecord]| {
            rs.iter()
                .map(|r| r.meta.machine.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let mut m = Matching {
            by_machine: machines(old) > 1 || machines(new) > 1,
            pairs: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            not_compared: Vec::new(),
        };
        let old_by_id: BTreeMap<String, &CellRecord> = old.iter().map(|r| (m.id(r), r)).collect();
        let new_ids: std::collections::BTreeSet<String> = new.iter().map(|r| m.id(r)).collect();
        for n in new {
            match old_by_id.get(&m.id(n)) {
                None => m
                    .added
                    .push(m.unmatched(n, format!("new cell ({})", n.status))),
                Some(o) if measured(o) && measured(n) => m.pairs.push((o, n)),
                Some(o) => m
                    .not_compared
                    .push(m.unmatched(n, format!("{} before, {} now", o.status, n.status))),
            }
        }
        m.removed = old
            .iter()
            .filter(|o| !new_ids.contains(&m.id(o)))
            .map(|o| m.unmatched(o, format!("no longer in the result set (was {})", o.status)))
            .collect();
        m
    }

    fn id(&self, r: &CellRecord) -> String {
        if self.by_machine {
            format!("{}@{}", r.cell_id, r.meta.machine)
        } else {
            r.cell_id.clone()
        }
    }

    fn label(&self, r: &CellRecord) -> String {
        if self.by_machine {
            format!("machine={} {}", r.meta.machine, r.cell_key)
        } else {
            r.cell_key.clone()
        }
    }

    fn unmatched(&self, r: &CellRecord, note: String) -> Unmatched {
        Unmatched {
            cell_id: r.cell_id.clone(),
            experiment: r.experiment.clone(),
            key: self.label(r),
            note,
        }
    }
}

/// What one side of a matched cell gives the comparison.
struct SideFigures {
    /// ln of each round's figure (median; mean for a loader).
    values: Vec<f64>,
    /// The figure over all samples, for display.
    pooled_ms: f64,
    samples: usize,
}

fn side_figures(r: &CellRecord) -> SideFigures {
    SideFigures {
        values: r.round_log_figures(),
        pooled_ms: if r.judged_by_mean() {
            r.samples_ms.iter().sum::<f64>() / r.samples_ms.len().max(1) as f64
        } else {
            median(&r.samples_ms).unwrap_or(f64::NAN)
        },
        samples: r.samples_ms.len(),
    }
}

/// A matched cell's change before it is judged.
struct Change<'a> {
    old: &'a CellRecord,
    new: &'a CellRecord,
    o: SideFigures,
    n: SideFigures,
    /// ln(new/old).
    d: f64,
    /// The test's standard error and degrees of freedom, where both sides have rounds: Welch's,
    /// or the paired test's for sides measured in the same rounds.
    test: Option<(f64, f64)>,
}

/// Compares `old` with `new`: each matched cell's change between runs, beyond what the whole
/// study moved, tested on the rounds (see [`crate::stats::between`]).
pub fn compare(
    old: &[CellRecord],
    new: &[CellRecord],
    old_label: &str,
    new_label: &str,
    s: &Settings,
) -> Diff {
    use crate::stats::between::{self, Side};
    let m = Matching::of(old, new);
    let changes: Vec<Change> = m
        .pairs
        .iter()
        .map(|&(o, n)| {
            let (of, nf) = (side_figures(o), side_figures(n));
            let (os, ns) = (Side::of(&of.values), Side::of(&nf.values));
            let d = match (os, ns) {
                (Some(a), Some(b)) => b.mean - a.mean,
                _ => f64::NAN,
            };
            let test = if s.paired {
                between::paired(&of.values, &nf.values)
            } else {
                os.zip(ns).and_then(|(a, b)| between::welch(a, b))
            }
            .map(|(_, se, df)| (se, df));
            Change {
                old: o,
                new: n,
                o: of,
                n: nf,
                d,
                test,
            }
        })
        .collect();
    let finite: Vec<f64> = changes
        .iter()
        .map(|c| c.d)
        .filter(|d| d.is_finite())
        .collect();
    let shift = between::shift(&finite, MIN_SHIFT_CELLS, 0.95);
    // Cells are judged beyond the shift only when the study did move (its interval excludes no
    // change): with a few noisy cells the median's own uncertainty would otherwise blur every
    // cell's test for nothing.
    // Sides measured in the same rounds ran on the same machine at the same minutes: what all
    // cells share is the code's doing, and each cell is judged by its own change.
    let moved = shift.filter(|sh| !s.paired && (sh.low > 0.0 || sh.high < 0.0));
    let (delta, delta_var) = moved.map_or((0.0, 0.0), |sh| (sh.estimate, sh.var));
    // One round on a side: no spread of its own; the run-to-run noise is read from how much
    // the other one-round cells moved beyond the shift (most cells of a study do not change).
    let one_round: Vec<f64> = changes
        .iter()
        .filter(|c| c.test.is_none() && c.d.is_finite())
        .map(|c| c.d - delta)
        .collect();
    let noise_sd = (one_round.len() >= MIN_NOISE_CELLS)
        .then(|| between::robust_sd(&one_round))
        .flatten()
        .filter(|sd| *sd > 0.0);
    // Two runs differ by more than their rounds say: the rounds of one run share its minutes
    // (a neighbour busy for the whole run, where the run's memory landed). That run-level part
    // is read from how far the cells moved apart beyond the shift, robustly (a few cells that
    // really changed do not move a median absolute deviation), less what their rounds already
    // explain, and added to every cell's noise. A paired diff has no such part: both sides ran
    // in the same minutes.
    let with_rounds: Vec<&Change> = changes
        .iter()
        .filter(|c| c.test.is_some() && c.d.is_finite())
        .collect();
    let run_level_var = (!s.paired && with_rounds.len() >= MIN_SHIFT_CELLS)
        .then(|| {
            let moved: Vec<f64> = with_rounds.iter().map(|c| c.d).collect();
            let within: Vec<f64> = with_rounds
                .iter()
                .filter_map(|c| c.test.map(|(se, _)| se * se))
                .collect();
            let total = between::robust_sd(&moved)?;
            Some((total * total - crate::stats::median(&within)?).max(0.0))
        })
        .flatten();
    let tau2 = run_level_var.unwrap_or(0.0);
    // (estimate beyond the shift, its standard error, degrees of freedom, method)
    let tested: Vec<Option<(f64, f64, f64, &str)>> = changes
        .iter()
        .map(|c| {
            let e = c.d - delta;
            if !e.is_finite() {
                return None;
            }
            let method = if s.paired { "paired rounds" } else { "rounds" };
            match (c.test, noise_sd) {
                (Some((se, df)), _) => Some((e, (se * se + delta_var + tau2).sqrt(), df, method)),
                (None, Some(sd)) => Some((e, sd, f64::INFINITY, "other cells")),
                (None, None) => None,
            }
        })
        .collect();
    let raw_p: Vec<Option<f64>> = tested
        .iter()
        .map(|t| t.map(|(e, se, df, _)| between::two_sided_p(e, se, df)))
        .collect();
    let adjusted = s.correction.adjust(&raw_p);
    let mut cells: Vec<CellDiff> = changes
        .iter()
        .zip(&tested)
        .zip(raw_p.iter().zip(&adjusted))
        .map(|((c, t), (p, p_adj))| cell_diff(c, *t, (delta, tau2), *p, *p_adj, m.label(c.new), s))
        .collect();
    // Regressions first, then uncertain, improvements, and the rest; larger changes first.
    cells.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.relative.ln().abs().total_cmp(&a.relative.ln().abs()))
    });
    let count = |v: Verdict| cells.iter().filter(|c| c.verdict == v).count();
    let logs: Vec<f64> = cells
        .iter()
        .map(|c| c.ratio.ln())
        .filter(|x| x.is_finite())
        .collect();
    let mut notes = Vec::new();
    let single = changes.iter().filter(|c| c.test.is_none()).count();
    if single > 0 {
        notes.push(match noise_sd {
            Some(sd) => format!(
                "{single} cell(s) have one round on a side: a run's own spread cannot separate run-to-run noise from a change, so their noise is read from the spread of the other such cells beyond the shift (±{:.1}% for one standard deviation); measure with rounds (format 3) for a test of each cell",
                (sd.exp() - 1.0) * 100.0
            ),
            None => format!(
                "{single} cell(s) have one round on a side and there are too few of them (fewer than {MIN_NOISE_CELLS}) to read the run-to-run noise from their spread: they are uncertain; measure with rounds"
            ),
        });
    }
    let shift = shift.map(|sh| {
        let (ratio, low, high) = (sh.estimate.exp(), sh.low.exp(), sh.high.exp());
        let t = s.threshold;
        StudyShift {
            ratio,
            low,
            high,
            cells: sh.cells,
            log_variance: sh.var,
            applied: moved.is_some(),
            beyond_threshold: low > 1.0 + t || high < 1.0 - t,
        }
    });
    if tau2 > 0.0 {
        notes.push(format!(
            "the cells moved apart by more than their rounds explain: a spread between the two runs of ±{:.1}% (one standard deviation, robust across cells) is added to every cell's noise",
            tau2.sqrt().exp_m1() * 100.0
        ));
    }
    let calibrated: Vec<f64> = cells
        .iter()
        .filter(|c| c.threshold_source == "calibration")
        .map(|c| c.threshold)
        .collect();
    if !calibrated.is_empty() {
        let (lo, hi) = calibrated
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
        notes.push(format!(
            "{} cell(s) are judged against this machine's calibration: the smallest change each can detect here ({:.1}% to {:.1}%), larger than the threshold (`benchplan calibrate`; `--no-calibration` ignores it)",
            calibrated.len(),
            lo * 100.0,
            hi * 100.0
        ));
    }
    if s.paired {
        notes.push(
            "the sides ran interleaved, cell by cell, in the same rounds: each cell is tested on its per-round differences, and a change that every cell shares is the code's, not the machine's"
                .to_owned(),
        );
        if let Some(sh) = shift.as_ref().filter(|sh| sh.beyond_threshold) {
            notes.push(format!(
                "the whole study moved {:.3}× [{:.3}–{:.3}] (median of {} cells), measured side by side: a change to all the code",
                sh.ratio, sh.low, sh.high, sh.cells
            ));
        }
    } else if let Some(sh) = shift.as_ref().filter(|sh| sh.beyond_threshold) {
        notes.push(format!(
            "the whole study moved {:.3}× [{:.3}–{:.3}] (median of {} cells): every cell is judged beyond that; a change to all the code, or the machine running {} — two runs cannot tell which",
            sh.ratio,
            sh.low,
            sh.high,
            sh.cells,
            if sh.ratio > 1.0 { "slower" } else { "faster" }
        ));
    }
    let throttled = cells.iter().filter(|c| !c.throttled.is_empty()).count();
    if throttled > 0 {
        notes.push(format!(
            "{throttled} of the {} compared cells ran on a throttled device on at least one side (held back by its power or thermal limit): their verdicts compare a limited device, and say so",
            cells.len()
        ));
    }
    Diff {
        old_label: old_label.to_owned(),
        new_label: new_label.to_owned(),
        correction: s.correction.name().to_owned(),
        alpha: s.alpha,
        faster: count(Verdict::Faster),
        slower: count(Verdict::Slower),
        unchanged: count(Verdict::NoChange),
        uncertain: count(Verdict::Uncertain),
        geomean_ratio: (!logs.is_empty())
            .then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp()),
        cells,
        added: m.added,
        removed: m.removed,
        not_compared: m.not_compared,
        metadata: metadata_changes(old, new),
        shift,
        run_level_spread: run_level_var.map(f64::sqrt),
        notes,
    }
}

/// One matched cell: its ratio and the ratio beyond the shift, their intervals, the verdict.
fn cell_diff(
    c: &Change,
    tested: Option<(f64, f64, f64, &str)>,
    (delta, run_level_var): (f64, f64),
    p: Option<f64>,
    p_adj: Option<f64>,
    key: String,
    s: &Settings,
) -> CellDiff {
    use crate::stats::between::interval;
    let from_experiment = s.experiment_thresholds.get(&c.new.experiment).copied();
    let threshold = from_experiment.unwrap_or(s.threshold);
    let rounds = c.o.values.len().min(c.n.values.len()).max(1);
    let calibrated = s
        .cell_thresholds
        .get(&c.new.cell_id)
        .map(|&(t, at)| scaled_to_rounds(t, at, rounds))
        .filter(|t| *t > threshold);
    let threshold = calibrated.unwrap_or(threshold);
    let relative = (c.d - delta).exp();
    let rel_ci = tested.map(|(e, se, df, _)| {
        let (lo, hi) = interval(e, se, df, 0.95);
        (lo.exp(), hi.exp())
    });
    // The raw ratio's interval: the same noise, without the shift's.
    let raw_ci = match (c.test, tested) {
        (Some((se, df)), _) => Some(interval(c.d, (se * se + run_level_var).sqrt(), df, 0.95)),
        (None, Some((_, se, df, _))) => Some(interval(c.d, se, df, 0.95)),
        _ => None,
    }
    .map(|(lo, hi)| (lo.exp(), hi.exp()));
    let n = c.o.samples.min(c.n.samples);
    let (verdict, why) = judge(relative, rel_ci, p_adj, n, threshold, s);
    let why = if tested.is_none() && n >= s.min_samples {
        "one round on a side, and too few such cells to estimate run-to-run noise".to_owned()
    } else {
        why
    };
    let hot = |r: &CellRecord| r.throttled() == Some(true);
    let throttled = match (hot(c.old), hot(c.new)) {
        (true, true) => "both",
        (true, false) => "old",
        (false, true) => "new",
        (false, false) => "",
    };
    let why = if throttled.is_empty() {
        why
    } else {
        let r = if throttled == "old" { c.old } else { c.new };
        format!(
            "{why}; device throttled on the {} (mind the verdict): {}",
            if throttled == "both" {
                "both sides".to_owned()
            } else {
                format!("{throttled} side")
            },
            r.device_state_words()
        )
    };
    CellDiff {
        cell_id: c.new.cell_id.clone(),
        experiment: c.new.experiment.clone(),
        key,
        old_median_ms: c.o.pooled_ms,
        new_median_ms: c.n.pooled_ms,
        old_n: c.o.samples,
        new_n: c.n.samples,
        old_rounds: c.o.values.len(),
        new_rounds: c.n.values.len(),
        figure: if c.new.judged_by_mean() {
            "mean"
        } else {
            "median"
        }
        .to_owned(),
        ratio: c.d.exp(),
        ratio_low: raw_ci.map(|c| c.0),
        ratio_high: raw_ci.map(|c| c.1),
        relative,
        relative_low: rel_ci.map(|c| c.0),
        relative_high: rel_ci.map(|c| c.1),
        method: tested.map_or("none", |t| t.3).to_owned(),
        std_error: tested.map(|t| t.1),
        df: tested.map(|t| t.2).filter(|df| df.is_finite()),
        p_value: p,
        p_adjusted: p_adj,
        threshold,
        threshold_source: match (calibrated, from_experiment) {
            (Some(_), _) => "calibration",
            (None, Some(_)) => "experiment",
            (None, None) => "default",
        }
        .to_owned(),
        verdict,
        why,
        throttled: throttled.to_owned(),
        figures: figure_changes(c.old, c.new),
    }
}

/// A detectable change found for `at` rounds per side, for `rounds` instead: the standard
/// error shrinks as the square root of the rounds (the t quantiles' small change is left out,
/// which errs towards the larger threshold for more rounds).
fn scaled_to_rounds(detectable: f64, at: usize, rounds: usize) -> f64 {
    (detectable.ln_1p() * (at as f64 / rounds as f64).sqrt()).exp_m1()
}

/// The verdict of one cell, and why.
fn judge(
    ratio: f64,
    ci: Option<(f64, f64)>,
    p_adj: Option<f64>,
    n: usize,
    threshold: f64,
    s: &Settings,
) -> (Verdict, String) {
    if n < s.min_samples {
        return (
            Verdict::Uncertain,
            format!("too few samples ({n} < {})", s.min_samples),
        );
    }
    let significant = p_adj.is_some_and(|p| p < s.alpha);
    let large = (ratio - 1.0).abs() > threshold;
    if significant && large {
        return if ratio > 1.0 {
            (
                Verdict::Slower,
                "significant and beyond the threshold".into(),
            )
        } else {
            (
                Verdict::Faster,
                "significant and beyond the threshold".into(),
            )
        };
    }
    // Not a confirmed change: it is "no change" only if the interval rules out a change beyond
    // the threshold; a wide interval (a noisy cell) could hide one.
    match ci {
        Some((lo, hi)) if lo >= 1.0 - threshold && hi <= 1.0 + threshold => (
            Verdict::NoChange,
            if significant {
                "significant but within the threshold".into()
            } else {
                "within noise".into()
            },
        ),
        Some((lo, hi)) => (
            Verdict::Uncertain,
            format!(
                "interval {:.2}–{:.2} too wide to rule out a {:.0}% change",
                lo,
                hi,
                threshold * 100.0
            ),
        ),
        None => (Verdict::Uncertain, "no interval".into()),
    }
}

/// Non-time figures that differ by more than 1% (memory is exact or nearly so; RSS moves a
/// little by itself) or, for the prediction error, at all.
fn figure_changes(o: &CellRecord, n: &CellRecord) -> Vec<FigureChange> {
    let pairs: [(&str, Option<f64>, Option<f64>); 6] = [
        (
            "weight_bytes",
            o.weight_bytes.map(|x| x as f64),
            n.weight_bytes.map(|x| x as f64),
        ),
        (
            "optimizer_state_bytes",
            o.optimizer_state_bytes.map(|x| x as f64),
            n.optimizer_state_bytes.map(|x| x as f64),
        ),
        (
            "activation_bytes",
            o.activation_bytes.map(|x| x as f64),
            n.activation_bytes.map(|x| x as f64),
        ),
        (
            "peak_rss_bytes",
            o.peak_rss_bytes.map(|x| x as f64),
            n.peak_rss_bytes.map(|x| x as f64),
        ),
        (
            "device_allocated_bytes",
            o.device_allocated_bytes.map(|x| x as f64),
            n.device_allocated_bytes.map(|x| x as f64),
        ),
        ("prediction_error", o.prediction_error, n.prediction_error),
    ];
    pairs
        .into_iter()
        .filter_map(|(name, a, b)| {
            let (a, b) = (a?, b?);
            let changed = if name == "prediction_error" {
                a != b
            } else {
                (b - a).abs() > 0.01 * a.abs().max(1.0)
            };
            changed.then(|| FigureChange {
                name: name.to_owned(),
                old: a,
                new: b,
            })
        })
        .collect()
}

/// Metadata that matters for a comparison and differs between the sides.
fn metadata_changes(old: &[CellRecord], new: &[CellRecord]) -> Vec<MetaChange> {
    let (Some(o), Some(n)) = (old.first(), new.first()) else {
        return Vec::new();
    };
    // Every distinct value of a side, so that a merged set of several machines reads as all
    // of them rather than as its first row's.
    let all = |rs: &[CellRecord], of: fn(&CellRecord) -> &str| -> String {
        let values: std::collections::BTreeSet<&str> = rs.iter().map(of).collect();
        values.into_iter().collect::<Vec<_>>().join(", ")
    };
    let fields: [(&str, String, String); 8] = [
        (
            "machine",
            all(old, |r| &r.meta.machine),
            all(new, |r| &r.meta.machine),
        ),
        (
            "cpu_model",
            all(old, |r| &r.meta.cpu_model),
            all(new, |r| &r.meta.cpu_model),
        ),
        (
            "candle_version",
            o.meta.candle_version.clone(),
            n.meta.candle_version.clone(),
        ),
        (
            "benchplan_version",
            o.meta.benchplan_version.clone(),
            n.meta.benchplan_version.clone(),
        ),
        (
            "plan_sha256",
            o.meta.plan_sha256.clone(),
            n.meta.plan_sha256.clone(),
        ),
        (
            "git_dirty",
            old.iter().any(|r| r.meta.git_dirty).to_string(),
            new.iter().any(|r| r.meta.git_dirty).to_string(),
        ),
        ("os", o.meta.os.clone(), n.meta.os.clone()),
        (
            "cpu_cores",
            o.meta.cpu_cores.to_string(),
            n.meta.cpu_cores.to_string(),
        ),
    ];
    let mut out: Vec<MetaChange> = fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(f, a, b)| MetaChange {
            field: f.to_owned(),
            old: a,
            new: b,
        })
        .collect();
    // Device names per device, where both sides measured the device.
    let names = |rs: &[CellRecord]| -> BTreeMap<String, String> {
        rs.iter()
            .map(|r| (r.device_kind.clone(), r.device_name.clone()))
            .collect()
    };
    let (on, nn) = (names(old), names(new));
    for (kind, a) in &on {
        if let Some(b) = nn.get(kind) {
            if a != b {
                out.push(MetaChange {
                    field: format!("device_name ({kind})"),
                    old: a.clone(),
                    new: b.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::tests::record;

    /// Deterministic samples around `base`: a fixed spread of ±`spread`.
    fn samples(base: f64, spread: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| base * (1.0 - spread + 2.0 * spread * ((i * 37) % n) as f64 / n as f64))
            .collect()
    }

    /// A row of five rounds of eight samples around `base`, the rounds' levels `between` apart
    /// (a fixed pattern, so that two sides of one level have the same spread).
    fn rounds(id: &str, base: f64, within: f64, between: f64) -> CellRecord {
        let levels = [0.0, 1.0, -1.0, 0.5, -0.5];
        let mut r = record(id, &[], Vec::new());
        for level in levels {
            r.samples_ms
                .extend(samples(base * (1.0 + between * level), within, 8));
            r.round_sample_counts.push(8);
        }
        r
    }

    fn set(cells: &[(&str, f64, f64)]) -> Vec<CellRecord> {
        cells
            .iter()
            .map(|(id, base, spread)| rounds(id, *base, 0.01, *spread))
            .collect()
    }

    fn many(slow: Option<(&str, f64)>) -> Vec<CellRecord> {
        (0..100)
            .map(|i| {
                let id = format!("c{i:03}");
                let factor = match slow {
                    Some((s, f)) if s == id => f,
                    _ => 1.0,
                };
                rounds(&id, 10.0 * factor, 0.01, 0.005)
            })
            .collect()
    }

    /// `n` cells at level 10 (`c00`, `c01`, …) as measured in run `run`: in run 1 each level
    /// wanders by up to ±`amplitude` (a fixed pseudo-random pattern), and the cell `slow.0` is
    /// `slow.1` times slower; `row(id, level)` makes a cell's row.
    fn wandering(
        n: usize,
        amplitude: f64,
        run: usize,
        slow: Option<(usize, f64)>,
        row: impl Fn(&str, f64) -> CellRecord,
    ) -> Vec<CellRecord> {
        (0..n)
            .map(|i| {
                let mut f = 1.0;
                if run == 1 {
                    f += amplitude * (((i * 7919) % 101) as f64 / 50.0 - 1.0);
                    f *= slow.filter(|s| s.0 == i).map_or(1.0, |s| s.1);
                }
                row(&format!("c{i:02}"), 10.0 * f)
            })
            .collect()
    }

    #[test]
    fn identical_sets_change_nothing() {
        let a = many(None);
        let d = compare(&a, &a, "a", "b", &Settings::default());
        assert_eq!(
            (d.unchanged, d.slower, d.faster, d.uncertain),
            (100, 0, 0, 0)
        );
        assert!(!d.has_regression());
        assert_eq!(d.geomean_ratio, Some(1.0));
    }

    #[test]
    fn a_planted_20_percent_slowdown_is_found_among_many() {
        let d = compare(
            &many(None),
            &many(Some(("c042", 1.2))),
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!(d.slower, 1);
        assert_eq!(d.cells[0].cell_id, "c042", "regressions come first");
        assert_eq!(d.cells[0].verdict, Verdict::Slower);
        assert!((d.cells[0].ratio - 1.2).abs() < 0.01);
        assert!(d.cells[0].p_adjusted.unwrap() < 0.05);
        assert_eq!(d.unchanged, 99);
        assert!(d.has_regression());
    }

    #[test]
    fn a_comparison_on_a_throttled_device_is_marked() {
        let old = many(None);
        let mut new = many(Some(("c042", 1.2)));
        let hot = new.iter_mut().find(|r| r.cell_id == "c042").unwrap();
        hot.device_state = crate::energy::state::DeviceState {
            clock_events_end: Some("sw_power_cap".into()),
            held_back_s: Some(100.0),
            ..Default::default()
        };
        let d = compare(&old, &new, "a", "b", &Settings::default());
        let c = d.cells.iter().find(|c| c.cell_id == "c042").unwrap();
        assert_eq!(c.throttled, "new");
        assert!(
            c.why.contains(
                "device throttled on the new side (mind the verdict): throttled (sw power cap"
            ),
            "{}",
            c.why
        );
        assert!(d
            .notes
            .iter()
            .any(|n| n.starts_with("1 of the 100 compared cells ran on a throttled device")));
        assert!(d
            .cells
            .iter()
            .filter(|c| c.cell_id != "c042")
            .all(|c| c.throttled.is_empty()));
    }

    #[test]
    fn a_2_percent_change_is_not_flagged_at_5_percent() {
        let d = compare(
            &many(None),
            &many(Some(("c007", 1.02))),
            "a",
            "b",
            &Settings::default(),
        );
        let c = d.cells.iter().find(|c| c.cell_id == "c007").unwrap();
        assert_eq!(c.verdict, Verdict::NoChange, "{}", c.why);
        assert_eq!(d.slower, 0);
        // The same change counts with a 1% threshold.
        let strict = Settings {
            threshold: 0.01,
            ..Settings::default()
        };
        let d = compare(&many(None), &many(Some(("c007", 1.02))), "a", "b", &strict);
        assert_eq!(d.slower, 1);
    }

    #[test]
    fn a_study_that_moved_as_a_whole_blames_no_cell_but_the_one_that_moved_more() {
        let mut slower_machine = many(Some(("c010", 1.2)));
        for r in &mut slower_machine {
            for x in &mut r.samples_ms {
                *x *= 1.13;
            }
        }
        let d = compare(&many(None), &slower_machine, "a", "b", &Settings::default());
        let shift = d.shift.as_ref().unwrap();
        assert!((shift.ratio - 1.13).abs() < 0.005, "{shift:?}");
        assert!(shift.beyond_threshold && shift.cells == 100);
        assert_eq!(
            (d.slower, d.unchanged),
            (1, 99),
            "{}",
            output::table(&d, false)
        );
        assert_eq!(d.cells[0].cell_id, "c010");
        assert!((d.cells[0].relative - 1.2).abs() < 0.01);
        assert!((d.cells[0].ratio - 1.2 * 1.13).abs() < 0.01);
        assert!(d.notes.iter().any(|n| n.contains("the whole study moved")));
    }

    #[test]
    fn cells_that_moved_apart_beyond_their_rounds_widen_every_cells_noise() {
        // Twelve cells whose rounds agree to ±0.5%, but whose runs wander ±8% (a fixed
        // pattern): without the run-level spread most would be flagged; with it none is, and
        // a 60% change still is.
        let side = |run: usize, slow: bool| {
            wandering(12, 0.08, run, slow.then_some((3, 1.6)), |id, level| {
                rounds(id, level, 0.01, 0.005)
            })
        };
        let d = compare(
            &side(0, false),
            &side(1, false),
            "a",
            "b",
            &Settings::default(),
        );
        let spread = d.run_level_spread.unwrap();
        assert!(spread > 0.03 && spread < 0.15, "{spread}");
        assert_eq!((d.slower, d.faster), (0, 0), "{}", output::table(&d, false));
        assert!(d.notes.iter().any(|n| n.contains("moved apart")));
        let d = compare(
            &side(0, false),
            &side(1, true),
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!((d.slower, d.faster), (1, 0), "{}", output::table(&d, false));
        // Paired sides ran in the same minutes: no run-level part.
        let paired = Settings {
            paired: true,
            ..Settings::default()
        };
        assert_eq!(
            compare(&side(0, false), &side(1, false), "a", "b", &paired).run_level_spread,
            None
        );
    }

    #[test]
    fn a_significant_change_whose_interval_reaches_past_the_threshold_is_uncertain() {
        // 4% faster, significant, but the interval reaches past 5%: not "no change".
        let d = compare(
            &set(&[("c", 10.0, 0.03)]),
            &set(&[("c", 9.6, 0.03)]),
            "a",
            "b",
            &Settings::default(),
        );
        let c = &d.cells[0];
        assert!(c.p_adjusted.unwrap() < 0.05, "{c:?}");
        assert!(c.relative_low.unwrap() < 0.95, "{c:?}");
        assert_eq!(c.verdict, Verdict::Uncertain, "{}", c.why);
    }

    #[test]
    fn one_round_sides_are_judged_against_the_spread_of_the_other_cells() {
        // 60 one-round cells whose levels wander ±3% between the runs (a fixed pseudo-random
        // pattern), and one that moved 50%.
        let side = |run: usize, slow: bool| {
            wandering(60, 0.03, run, slow.then_some((5, 1.5)), |id, level| {
                record(id, &[], samples(level, 0.01, 40))
            })
        };
        let d = compare(
            &side(0, false),
            &side(1, true),
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!(d.slower, 1, "{}", output::table(&d, false));
        assert_eq!(d.cells[0].cell_id, "c05");
        assert_eq!(d.cells[0].method, "other cells");
        assert_eq!(d.faster, 0);
        assert!(d.notes[0].contains("one round on a side"));
        // Without enough such cells there is no noise estimate: uncertain, and said so.
        let d = compare(
            &side(0, false)[..3],
            &side(1, true)[..3],
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!(d.uncertain, 3);
        assert!(d.cells[0].why.contains("too few such cells"));
    }

    #[test]
    fn a_noisy_cell_is_uncertain() {
        let d = compare(
            &set(&[("noisy", 10.0, 0.5)]),
            &set(&[("noisy", 10.5, 0.5)]),
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!(d.cells[0].verdict, Verdict::Uncertain, "{}", d.cells[0].why);
        let few = vec![rounds("few", 1.0, 0.1, 0.1)]
            .into_iter()
            .map(|mut r| {
                r.samples_ms.truncate(3);
                r.round_sample_counts.clear();
                r
            })
            .collect::<Vec<_>>();
        let d = compare(&few, &few, "a", "b", &Settings::default());
        assert_eq!(d.cells[0].verdict, Verdict::Uncertain);
        assert!(d.cells[0].why.contains("too few samples"));
    }

    #[test]
    fn added_removed_and_unmeasured_cells_are_listed() {
        let old = set(&[
            ("kept", 10.0, 0.01),
            ("gone", 10.0, 0.01),
            ("broke", 10.0, 0.01),
        ]);
        let mut new = set(&[
            ("kept", 10.0, 0.01),
            ("fresh", 10.0, 0.01),
            ("broke", 10.0, 0.01),
        ]);
        new[2].status = Status::Failed;
        new[2].samples_ms.clear();
        let d = compare(&old, &new, "a", "b", &Settings::default());
        assert_eq!(
            d.added
                .iter()
                .map(|u| u.cell_id.as_str())
                .collect::<Vec<_>>(),
            ["fresh"]
        );
        assert_eq!(
            d.removed
                .iter()
                .map(|u| u.cell_id.as_str())
                .collect::<Vec<_>>(),
            ["gone"]
        );
        assert_eq!(d.not_compared[0].note, "ok before, failed now");
        assert_eq!(d.cells.len(), 1);
    }

    #[test]
    fn per_experiment_thresholds_override_the_default() {
        let mut s = Settings::default();
        s.experiment_thresholds.insert("e".into(), 0.5);
        let d = compare(&many(None), &many(Some(("c001", 1.2))), "a", "b", &s);
        assert_eq!(d.slower, 0, "a 20% change is within a 50% threshold");
    }

    #[test]
    fn metadata_that_matters_is_reported() {
        let old = many(None);
        let mut new = many(None);
        for r in &mut new {
            r.meta.candle_version = "0.11.1".into();
            r.weight_bytes = Some(1);
        }
        let d = compare(&old, &new, "a", "b", &Settings::default());
        assert_eq!(d.metadata[0].field, "candle_version");
        assert!(d.cells[0].figures.iter().any(|f| f.name == "weight_bytes"));
    }
}
