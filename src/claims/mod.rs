//! Claims checked against measurements (issue 20): a plan states what a write-up says — "a
//! training step of the small MLP takes 450 ms on a CPU", "the GPU trains 10× faster" — names
//! the cells that test it, and the report says whether it holds on the machine that ran them.
//!
//! A claim ([`Claim`]) gives its words, its source, the figure it states (`value` in `unit`),
//! the cells that test it (`cells`, a selection as `--filter` makes one) and, for a speed-up,
//! the cells it is faster than (`over`). [`verdict`] compares the claimed figure with the
//! measured one: their ratio, with its interval between rounds where one cell on each side
//! measured it, and `holds` (within `tolerance`), `off` (by how much, which way) or `not
//! measurable` (no cell here, or one that failed or was skipped: never a verdict from those).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::plan::claim::{selection_of, Selection, UNITS};
use crate::results::{CellRecord, Status};

/// How far the measured figure may be from the claimed one, as a fraction, for the claim to
/// hold when the plan does not say: 25% (a claim in a write-up rarely means more than that).
pub const DEFAULT_TOLERANCE: f64 = 0.25;

/// A claim as a plan states it (`[[claims]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// A short name, unique in the plan.
    pub name: String,
    /// The claim's words, as the source says them.
    pub says: String,
    /// Where it is said: a citation or a link.
    #[serde(default)]
    pub source: Option<String>,
    /// The figure the claim states.
    pub value: f64,
    /// Its unit: `s`, `ms`, `us` (time per iteration), `samples/s`, `x` (a speed-up of `cells`
    /// over `over`).
    pub unit: String,
    /// The cells that test the claim: key → value or values, as `--filter` selects.
    pub cells: BTreeMap<String, Selection>,
    /// For a speed-up (`x`): the cells the claim is faster than, the same way.
    #[serde(default)]
    pub over: Option<BTreeMap<String, Selection>>,
    /// The fraction the measured figure may differ by for the claim to hold (default 0.25).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// Whether a row's cell is selected by `selection` (every key matches one of its values).
pub fn selects(selection: &BTreeMap<String, Selection>, r: &CellRecord) -> bool {
    selection.iter().all(|(key, accepted)| {
        let actual = match key.as_str() {
            "experiment" => Some(r.experiment.clone()),
            "workload" => Some(r.workload.clone()),
            "id" => Some(r.cell_id.clone()),
            name => r.params.get(name).map(ToString::to_string),
        };
        actual.is_some_and(|a| accepted.values().contains(&a))
    })
}

/// The outcome of a claim on one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The measured figure is within the tolerance of the claimed one.
    Holds,
    /// It is not: `ratio` says by how much.
    Off,
    /// No verdict: no cell here, or a selected cell failed or was skipped.
    NotMeasurable,
}

/// A claim's verdict on one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub name: String,
    pub says: String,
    pub source: String,
    pub claimed: f64,
    pub unit: String,
    /// The measured figure in the claim's unit.
    pub measured: Option<f64>,
    /// Measured over claimed, and its 95% interval between rounds where it has one.
    pub ratio: Option<f64>,
    pub ratio_interval: Option<(f64, f64)>,
    pub outcome: Outcome,
    /// Why, in words: `measured 1.10× the claim, within 25%`, `measured 300× faster than
    /// claimed`, `no cell of this machine's results is selected`.
    pub words: String,
}

/// A side of a claim: the headline time of its cells (their geometric mean), and the log
/// half-width of its interval between rounds where it is one cell with one.
struct Side {
    ms: f64,
    log_half_width: Option<f64>,
}

/// The selected rows' time, or why there is none.
fn side(selection: &BTreeMap<String, Selection>, rows: &[CellRecord]) -> Result<Side, String> {
    let chosen: Vec<&CellRecord> = rows.iter().filter(|r| selects(selection, r)).collect();
    if chosen.is_empty() {
        return Err("no cell of this machine's results is selected".to_owned());
    }
    if let Some(bad) = chosen.iter().find(|r| r.status != Status::Ok) {
        return Err(format!(
            "cell `{} {}` {}{}",
            bad.experiment,
            bad.cell_key,
            bad.status.name(),
            bad.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    let times: Vec<f64> = chosen.iter().filter_map(|r| r.headline_ms()).collect();
    if times.len() != chosen.len() || times.iter().any(|t| *t <= 0.0) {
        return Err("a selected cell has no time".to_owned());
    }
    let ms = crate::stats::geomean(&times).ok_or("a selected cell has no time")?;
    let log_half_width = match chosen.as_slice() {
        [one] => one
            .between_rounds_interval()
            .filter(|(lo, hi)| *lo > 0.0 && *hi > 0.0)
            .map(|(lo, hi)| (hi.ln() - lo.ln()) / 2.0),
        _ => None,
    };
    Ok(Side { ms, log_half_width })
}

/// The per-sample throughput of the selected rows (samples per second), or why there is none.
fn throughput(selection: &BTreeMap<String, Selection>, rows: &[CellRecord]) -> Result<f64, String> {
    let chosen: Vec<&CellRecord> = rows.iter().filter(|r| selects(selection, r)).collect();
    let rates: Vec<f64> = chosen.iter().filter_map(|r| r.throughput()).collect();
    if rates.len() != chosen.len() || rates.is_empty() {
        return Err("a selected cell does not say how many samples an iteration processes".into());
    }
    crate::stats::geomean(&rates).ok_or_else(|| "no selected cell has a rate".to_owned())
}

/// The verdict of `claim` on `rows` (one machine's result set).
pub fn verdict(claim: &Claim, rows: &[CellRecord]) -> Verdict {
    let tolerance = claim.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let measured: Result<(f64, Option<f64>), String> = (|| {
        let cells = side(&claim.cells, rows)?;
        Ok(match claim.unit.as_str() {
            "s" => (cells.ms / 1e3, cells.log_half_width),
            "ms" => (cells.ms, cells.log_half_width),
            "us" => (cells.ms * 1e3, cells.log_half_width),
            "samples/s" => (throughput(&claim.cells, rows)?, cells.log_half_width),
            "x" => {
                let over = claim
                    .over
                    .as_ref()
                    .ok_or("a speed-up claim names no `over` cells")?;
                let base = side(over, rows)?;
                // Errors of the two sides add in quadrature on the log scale.
                let half = cells
                    .log_half_width
                    .zip(base.log_half_width)
                    .map(|(a, b)| a.hypot(b));
                (base.ms / cells.ms, half)
            }
            other => return Err(format!("unit `{other}` is not one benchplan measures")),
        })
    })();
    let mut v = Verdict {
        name: claim.name.clone(),
        says: claim.says.clone(),
        source: claim.source.clone().unwrap_or_default(),
        claimed: claim.value,
        unit: claim.unit.clone(),
        measured: None,
        ratio: None,
        ratio_interval: None,
        outcome: Outcome::NotMeasurable,
        words: String::new(),
    };
    let (value, half) = match measured {
        Ok(m) => m,
        Err(why) => {
            v.words = why;
            return v;
        }
    };
    let ratio = value / claim.value;
    v.measured = Some(value);
    v.ratio = Some(ratio);
    v.ratio_interval = half.map(|h| (ratio * (-h).exp(), ratio * h.exp()));
    let holds = ratio <= 1.0 + tolerance && ratio >= 1.0 / (1.0 + tolerance);
    v.outcome = if holds { Outcome::Holds } else { Outcome::Off };
    v.words = if holds {
        format!(
            "measured {} the claim, within {:.0}%",
            times(ratio),
            tolerance * 100.0
        )
    } else {
        // What "more" means: a shorter time is better, a larger rate or speed-up is.
        let time = matches!(claim.unit.as_str(), "s" | "ms" | "us");
        let better = if time { ratio < 1.0 } else { ratio > 1.0 };
        let factor = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
        let what = match (time, better) {
            (true, true) => "faster",
            (true, false) => "slower",
            (false, true) => "more",
            (false, false) => "less",
        };
        format!("measured {} {what} than claimed", times(factor))
    };
    v
}

/// `1.53×`, `300×`.
fn times(x: f64) -> String {
    format!("{}×", crate::format::significant(x))
}

/// The claims of a plan table (`[[claims]]`), read leniently for reports: a claim that does
/// not parse is left out (`benchplan check` names it).
pub fn from_plan(plan: &toml::Table) -> Vec<Claim> {
    plan.get("claims")
        .and_then(|c| c.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|c| c.clone().try_into::<Claim>().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ParamValue::Str;
    use crate::results::store::tests::record;

    /// A row of `device` with `rounds` round medians (10 samples each).
    fn row(id: &str, device: &str, medians: &[f64]) -> CellRecord {
        let samples: Vec<f64> = medians.iter().flat_map(|m| vec![*m; 10]).collect();
        let mut r = record(
            id,
            &[
                ("device", Str(device.into())),
                ("model", Str("small".into())),
            ],
            samples,
        );
        r.experiment = "train".into();
        r.round_sample_counts = vec![10; medians.len()];
        r.samples_per_iteration = Some(32);
        r
    }

    fn claim(value: f64, unit: &str, device: &str) -> Claim {
        Claim {
            name: "c".into(),
            says: "says".into(),
            source: None,
            value,
            unit: unit.into(),
            cells: [(
                "device".to_owned(),
                Selection::One(toml::Value::String(device.into())),
            )]
            .into_iter()
            .collect(),
            over: None,
            tolerance: None,
        }
    }

    #[test]
    fn a_time_claim_is_off_by_how_much_and_which_way() {
        // The seed's "small MLP training step: 450 ms on CPU"; measured 1.5 ms here.
        let rows = [row("a", "cpu", &[1.4, 1.5, 1.6])];
        let v = verdict(&claim(450.0, "ms", "cpu"), &rows);
        assert_eq!(v.outcome, Outcome::Off);
        assert!(
            (v.ratio.unwrap() - 1.5 / 450.0).abs() < 1e-3,
            "{:?}",
            v.ratio
        );
        assert_eq!(v.words, "measured 300× faster than claimed");
        let (lo, hi) = v.ratio_interval.unwrap();
        assert!(lo < v.ratio.unwrap() && v.ratio.unwrap() < hi);
        // Within 25%, it holds; a rate claim reads the other way round.
        assert_eq!(
            verdict(&claim(1.3, "ms", "cpu"), &rows).outcome,
            Outcome::Holds
        );
        let rate = verdict(&claim(1e5, "samples/s", "cpu"), &rows);
        assert!(rate.words.ends_with("less than claimed"), "{}", rate.words);
    }

    #[test]
    fn a_speed_up_claim_divides_the_baseline_by_the_cells() {
        let rows = [
            row("c", "cpu", &[20.0, 20.0, 20.0]),
            row("g", "gpu", &[2.0, 2.1, 1.9]),
        ];
        let mut c = claim(10.0, "x", "gpu");
        c.over = Some(
            [(
                "device".to_owned(),
                Selection::Many(vec![toml::Value::String("cpu".into())]),
            )]
            .into_iter()
            .collect(),
        );
        let v = verdict(&c, &rows);
        assert_eq!(v.outcome, Outcome::Holds, "{}", v.words);
        assert!((v.measured.unwrap() - 10.0).abs() < 0.1);
        assert!(
            v.words.starts_with("measured 1.00× the claim"),
            "{}",
            v.words
        );
        c.value = 25.0;
        assert_eq!(verdict(&c, &rows).words, "measured 2.50× less than claimed");
    }

    #[test]
    fn no_verdict_from_a_failed_or_skipped_cell_or_none() {
        let mut failed = row("g", "gpu", &[2.0]);
        failed.status = Status::Failed;
        failed.reason = Some("out of memory".into());
        let v = verdict(&claim(2.0, "ms", "gpu"), &[failed]);
        assert_eq!(v.outcome, Outcome::NotMeasurable);
        assert!(v.words.contains("failed: out of memory"), "{}", v.words);
        assert_eq!(v.measured, None);
        let none = verdict(&claim(2.0, "ms", "mps"), &[row("a", "cpu", &[1.0])]);
        assert!(none
            .words
            .contains("no cell of this machine's results is selected"));
    }

    #[test]
    fn claims_are_read_from_a_plan_table() {
        let plan: toml::Table = r#"
            [[claims]]
            name = "small-cpu"
            says = "Small (100K params): CPU 450 ms"
            source = "seed write-up, Training"
            value = 450
            unit = "ms"
            cells = { experiment = "train", model = "mlp-small", device = "cpu" }
        "#
        .parse()
        .unwrap();
        let claims = from_plan(&plan);
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].value, 450.0);
        assert_eq!(claims[0].cells["device"].values(), ["cpu"]);
    }
}
