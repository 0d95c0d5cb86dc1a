//! Diffs: comparing two result sets cell by cell and saying what changed beyond noise.
//!
//! Cells are matched by their stable id. For each matched pair: the ratio of medians new/old
//! with an interval, a Mann–Whitney U p-value on the raw samples, adjusted across the whole
//! diff for multiple comparisons, and a verdict. A change counts only when it is significant
//! after adjustment *and* larger than the threshold; a cell whose interval cannot rule out a
//! change beyond the threshold, or with too few samples, is `uncertain` rather than unchanged.

pub mod output;
pub mod resolve;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::{CellRecord, Status};
use crate::stats::compare::{mann_whitney_u, ratio_ci, Correction};
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: 0.05,
            experiment_thresholds: BTreeMap::new(),
            alpha: 0.05,
            correction: Correction::Holm,
            min_samples: 6,
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
    /// New median over old median: above 1 is slower.
    pub ratio: f64,
    pub ratio_low: Option<f64>,
    pub ratio_high: Option<f64>,
    pub p_value: Option<f64>,
    /// The p-value after the multiple-comparison adjustment.
    pub p_adjusted: Option<f64>,
    pub threshold: f64,
    pub verdict: Verdict,
    /// Why the verdict, in a few words (e.g. "too few samples").
    pub why: String,
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
}

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

/// Compares `old` with `new`.
pub fn compare(
    old: &[CellRecord],
    new: &[CellRecord],
    old_label: &str,
    new_label: &str,
    s: &Settings,
) -> Diff {
    let m = Matching::of(old, new);
    let raw_p: Vec<Option<f64>> = m
        .pairs
        .iter()
        .map(|(o, n)| mann_whitney_u(&o.samples_ms, &n.samples_ms))
        .collect();
    let adjusted = s.correction.adjust(&raw_p);
    let mut cells: Vec<CellDiff> = m
        .pairs
        .iter()
        .zip(&raw_p)
        .zip(&adjusted)
        .map(|(((o, n), p), p_adj)| cell_diff(o, n, *p, *p_adj, m.label(n), s))
        .collect();
    // Regressions first, then uncertain, improvements, and the rest; larger changes first.
    cells.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.ratio.ln().abs().total_cmp(&a.ratio.ln().abs()))
    });
    let count = |v: Verdict| cells.iter().filter(|c| c.verdict == v).count();
    let logs: Vec<f64> = cells
        .iter()
        .map(|c| c.ratio.ln())
        .filter(|x| x.is_finite())
        .collect();
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
    }
}

/// One matched cell: the ratio of medians with its interval, the test, the verdict.
fn cell_diff(
    o: &CellRecord,
    n: &CellRecord,
    p: Option<f64>,
    p_adj: Option<f64>,
    key: String,
    s: &Settings,
) -> CellDiff {
    let mut os = o.samples_ms.clone();
    let mut ns = n.samples_ms.clone();
    os.sort_by(f64::total_cmp);
    ns.sort_by(f64::total_cmp);
    let (om, nm) = (
        median(&os).unwrap_or(f64::NAN),
        median(&ns).unwrap_or(f64::NAN),
    );
    let ratio = nm / om;
    let ci = ratio_ci(&os, &ns, ratio);
    let threshold = s
        .experiment_thresholds
        .get(&n.experiment)
        .copied()
        .unwrap_or(s.threshold);
    let (verdict, why) = judge(ratio, ci, p_adj, os.len().min(ns.len()), threshold, s);
    CellDiff {
        cell_id: n.cell_id.clone(),
        experiment: n.experiment.clone(),
        key,
        old_median_ms: om,
        new_median_ms: nm,
        old_n: os.len(),
        new_n: ns.len(),
        ratio,
        ratio_low: ci.map(|c| c.0),
        ratio_high: ci.map(|c| c.1),
        p_value: p,
        p_adjusted: p_adj,
        threshold,
        verdict,
        why,
        figures: figure_changes(o, n),
    }
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
        Some(_) if significant => (
            Verdict::NoChange,
            "significant but within the threshold".into(),
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

    fn set(cells: &[(&str, f64, f64)]) -> Vec<CellRecord> {
        cells
            .iter()
            .map(|(id, base, spread)| record(id, &[], samples(*base, *spread, 40)))
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
                record(&id, &[], samples(10.0 * factor, 0.01, 40))
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
    fn a_noisy_cell_is_uncertain() {
        let d = compare(
            &set(&[("noisy", 10.0, 0.5)]),
            &set(&[("noisy", 10.5, 0.5)]),
            "a",
            "b",
            &Settings::default(),
        );
        assert_eq!(d.cells[0].verdict, Verdict::Uncertain, "{}", d.cells[0].why);
        let few = vec![record("few", &[], vec![1.0, 1.1, 1.2])];
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
