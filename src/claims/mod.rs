//! Claims checked against measurements (issue 20): a plan states what a write-up says — "a
//! training step of the small MLP takes 450 ms on a CPU", "the GPU trains 10× faster",
//! "quantization cuts the weights by 75%" — names the cells that test it, and the report says
//! whether it holds on the machine that ran them.
//!
//! A claim ([`Claim`]) gives its words, its source, the figure it states (`value` in `unit`,
//! `of` a time, a pipeline stage, a memory figure, energy or CPU use), the cells that test it
//! (`cells`, a selection as `--filter` makes one) and, for a comparison, the cells it is
//! compared with (`over`). [`verdict`] compares the claimed figure with the measured one
//! (`measure` finds it): their ratio, with its interval between rounds where one cell on each
//! side measured a time, and `holds` (within `tolerance`), `off` (by how much, which way) or
//! `not measurable` — no cell here, one that failed or was skipped (never a verdict from
//! those), hardware the claim names that this machine is not (`hardware`), or a figure the
//! plan cannot measure (`not_measured`); the last two still show the closest measured figure.

mod measure;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::plan::claim::{selection_of, Selection};
use crate::results::CellRecord;

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
    /// Its unit (plan::claim::units_for says which `of` allows which).
    pub unit: String,
    /// What the figure is of: `time` when absent, a pipeline stage, a memory figure,
    /// `energy`, `cpu`.
    #[serde(default)]
    pub of: Option<String>,
    /// The cells that test the claim: key → value or values, as `--filter` selects; none
    /// only for a claim `not_measured`.
    #[serde(default)]
    pub cells: Option<BTreeMap<String, Selection>>,
    /// For a comparison (`x`, or `%` of memory): the cells compared with, the same way.
    #[serde(default)]
    pub over: Option<BTreeMap<String, Selection>>,
    /// The fraction the measured figure may differ by for the claim to hold (default 0.25).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The hardware the claim was measured on, as part of a device name.
    #[serde(default)]
    pub hardware: Option<String>,
    /// Why the plan cannot measure what the claim states.
    #[serde(default)]
    pub not_measured: Option<String>,
}

impl Claim {
    /// What the claim is of (`time` when it does not say).
    pub fn of(&self) -> &str {
        self.of.as_deref().unwrap_or("time")
    }
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
    /// No verdict: no cell here, a selected cell failed or was skipped, the claim is about
    /// other hardware or a figure the plan cannot measure (`closest` then says so).
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
    /// The measured figure in the claim's unit: the claim's own, or (`closest`) the closest
    /// comparison this machine has.
    pub measured: Option<f64>,
    /// Measured over claimed, and its 95% interval between rounds where it has one.
    pub ratio: Option<f64>,
    pub ratio_interval: Option<(f64, f64)>,
    pub outcome: Outcome,
    /// Whether `measured` is a stand-in: other hardware, or not the claim's own figure.
    pub closest: bool,
    /// The devices the tested cells ran on.
    pub devices: Vec<String>,
    /// Why, in words: `measured 1.10× the claim, within 25%`, `measured 300× faster than
    /// claimed`, `no cell of this machine's results is selected`.
    pub words: String,
}

/// The verdict of `claim` on `rows` (one machine's result set).
pub fn verdict(claim: &Claim, rows: &[CellRecord]) -> Verdict {
    let tolerance = claim.tolerance.unwrap_or(DEFAULT_TOLERANCE);
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
        closest: false,
        devices: Vec::new(),
        words: String::new(),
    };
    if let (None, Some(why)) = (&claim.cells, &claim.not_measured) {
        v.words = why.clone();
        return v;
    }
    let measured = measure::measure(claim, rows);
    // Why the figure measured here, if any, stands in for the claim's rather than tests it.
    let elsewhere = claim.not_measured.clone().or_else(|| {
        let hardware = claim.hardware.as_deref()?;
        let devices = &measured.as_ref().ok()?.devices;
        let here = devices
            .iter()
            .all(|d| d.to_lowercase().contains(&hardware.to_lowercase()));
        (!here).then(|| format!("measured on {hardware}, which this machine is not"))
    });
    let m = match measured {
        Ok(m) => m,
        Err(why) => {
            v.words = match elsewhere
                .or_else(|| claim.hardware.as_ref().map(|h| format!("measured on {h}")))
            {
                Some(reason) => format!("{reason}; nothing to compare here: {why}"),
                None => why,
            };
            return v;
        }
    };
    let change = m.value;
    // A change in percent compares as the size it leaves: -75% is 0.25× the size.
    let is_change = claim.unit == "%" && crate::plan::claim::compares(claim.of(), "%");
    let ratio = if is_change {
        (1.0 + change / 100.0) / (1.0 + claim.value / 100.0)
    } else {
        m.value / claim.value
    };
    v.measured = Some(m.value);
    v.ratio = Some(ratio);
    v.ratio_interval = m
        .log_half_width
        .map(|h| (ratio * (-h).exp(), ratio * h.exp()));
    v.devices = m.devices;
    if let Some(reason) = elsewhere {
        v.closest = true;
        v.words = format!(
            "{reason}; the closest measured here: {} on {} ({})",
            figure_words(m.value, &claim.unit),
            v.devices.join(", "),
            against_claim(claim, ratio, is_change)
        );
        return v;
    }
    let holds = ratio <= 1.0 + tolerance && ratio >= 1.0 / (1.0 + tolerance);
    v.outcome = if holds { Outcome::Holds } else { Outcome::Off };
    v.words = if holds {
        if is_change {
            format!(
                "measured {change:+.0}%, within {:.0}% of the size claimed",
                tolerance * 100.0
            )
        } else {
            format!(
                "measured {} the claim, within {:.0}%",
                times(ratio),
                tolerance * 100.0
            )
        }
    } else if is_change {
        format!(
            "measured {change:+.0}%: {}",
            against_claim(claim, ratio, true)
        )
    } else {
        format!("measured {}", against_claim(claim, ratio, false))
    };
    v
}

/// How a measured figure stands against the claimed one, `ratio` being measured over claimed:
/// `300× faster than claimed`, `2.5× less than claimed`, `5.3× larger than the size claimed`.
fn against_claim(claim: &Claim, ratio: f64, is_change: bool) -> String {
    let factor = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
    if is_change {
        let which = if ratio > 1.0 { "larger" } else { "smaller" };
        return format!("{} {which} than the size claimed", times(factor));
    }
    // What "more" means: a shorter time is faster; any other figure is more or less.
    let time =
        crate::plan::claim::is_time(claim.of()) && matches!(claim.unit.as_str(), "s" | "ms" | "us");
    let what = match (time, ratio < 1.0) {
        (true, true) => "faster",
        (true, false) => "slower",
        (false, true) => "less",
        (false, false) => "more",
    };
    format!("{} {what} than claimed", times(factor))
}

/// `0.43 ms`, `12.5×`, `-72%`.
fn figure_words(value: f64, unit: &str) -> String {
    match unit {
        "x" => times(value),
        "%" => format!("{value:+.0}%"),
        u => format!("{} {u}", crate::format::significant(value)),
    }
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
    use crate::results::Status;

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
            cells: Some(select(device)),
            over: None,
            tolerance: None,
            of: None,
            hardware: None,
            not_measured: None,
        }
    }

    fn select(device: &str) -> BTreeMap<String, Selection> {
        [(
            "device".to_owned(),
            Selection::One(toml::Value::String(device.into())),
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_claim_about_other_hardware_shows_the_closest_figure_without_a_verdict() {
        // The seed's "MPS 45 ms" on an M4; here the GPU is an H200.
        let mut gpu = row("g", "gpu", &[2.0, 2.0, 2.0]);
        gpu.device_name = "NVIDIA H200".into();
        let mut c = claim(45.0, "ms", "gpu");
        c.hardware = Some("Apple M4".into());
        let v = verdict(&c, std::slice::from_ref(&gpu));
        assert_eq!(v.outcome, Outcome::NotMeasurable);
        assert!(v.closest);
        assert_eq!(v.measured, Some(2.0));
        assert_eq!(
            v.words,
            "measured on Apple M4, which this machine is not; the closest measured here: 2.00 ms on NVIDIA H200 (22.5× faster than claimed)"
        );
        // On the hardware it names, the claim gets its verdict.
        gpu.device_name = "Apple M4 Pro".into();
        let v = verdict(&c, &[gpu]);
        assert_eq!(v.outcome, Outcome::Off);
        assert!(!v.closest);
        // A figure the plan cannot measure is never a verdict, even from cells that ran.
        let mut c = claim(2.0, "ms", "cpu");
        c.not_measured = Some("the write-up's model is not declared".into());
        let v = verdict(&c, &[row("a", "cpu", &[2.0])]);
        assert_eq!(v.outcome, Outcome::NotMeasurable);
        assert!(
            v.words
                .starts_with("the write-up's model is not declared; the closest"),
            "{}",
            v.words
        );
    }

    #[test]
    fn a_claim_no_cell_tests_is_shown_with_its_reason() {
        let mut c = claim(2.48, "$/h", "gpu");
        c.cells = None;
        c.not_measured = Some("a price list, not a measurement".into());
        let v = verdict(&c, &[row("g", "gpu", &[1.0])]);
        assert_eq!(v.outcome, Outcome::NotMeasurable);
        assert_eq!(v.words, "a price list, not a measurement");
        assert_eq!(v.measured, None);
    }

    #[test]
    fn a_memory_change_compares_the_sizes_it_leaves() {
        // "Dynamic quantization: -75% model size"; measured 34 MB → 9 MB (-73.5%).
        let mut base = row("f", "cpu", &[1.0]);
        base.weight_bytes = Some(34_000_000);
        let mut quant = row("q", "gpu", &[1.0]);
        quant.weight_bytes = Some(9_010_000);
        let mut c = claim(-75.0, "%", "gpu");
        c.of = Some("weights".into());
        c.over = Some(select("cpu"));
        let v = verdict(&c, &[base.clone(), quant.clone()]);
        assert_eq!(v.outcome, Outcome::Holds, "{}", v.words);
        assert!((v.measured.unwrap() + 73.5).abs() < 0.1);
        // 0.265 / 0.25 = 1.06: the size left is 6% more than claimed.
        assert!((v.ratio.unwrap() - 1.06).abs() < 1e-3, "{:?}", v.ratio);
        assert_eq!(v.words, "measured -74%, within 25% of the size claimed");
        c.value = -95.0;
        assert_eq!(
            verdict(&c, &[base.clone(), quant.clone()]).words,
            "measured -74%: 5.30× larger than the size claimed"
        );
        // An absolute size, in binary megabytes as the seed's psutil code counts them.
        let mut c = claim(45.0, "MB", "cpu");
        c.of = Some("weights".into());
        let v = verdict(&c, &[base]);
        assert!(
            (v.measured.unwrap() - 32.42).abs() < 0.01,
            "{:?}",
            v.measured
        );
    }

    #[test]
    fn stage_energy_and_cpu_claims_read_their_own_figures() {
        let mut r = row("p", "cpu", &[10.0]);
        r.stages = vec![("forward".into(), vec![8.0, 8.0, 9.0])];
        r.energy_j = Some(64.0);
        r.energy_timed_s = Some(1.0);
        r.cpu_utilization = Some(3.9);
        let mut c = claim(8.0, "ms", "cpu");
        c.of = Some("forward".into());
        let near = |v: Verdict, x: f64| (v.measured.unwrap() - x).abs() < 1e-6 * x;
        assert!(near(verdict(&c, std::slice::from_ref(&r)), 8.0));
        c.unit = "samples/s".into();
        assert!(near(verdict(&c, std::slice::from_ref(&r)), 4000.0));
        let mut c = claim(50.0, "W", "cpu");
        c.of = Some("energy".into());
        assert!(near(verdict(&c, std::slice::from_ref(&r)), 64.0));
        let mut c = claim(400.0, "%", "cpu");
        c.of = Some("cpu".into());
        let v = verdict(&c, std::slice::from_ref(&r));
        assert!((v.measured.unwrap() - 390.0).abs() < 1e-9);
        assert_eq!(v.outcome, Outcome::Holds);
        // A stage a training cell does not time is a reason, not a figure.
        let mut c = claim(8.0, "ms", "cpu");
        c.of = Some("backward".into());
        assert!(verdict(&c, &[r]).words.contains("has no `backward` stage"));
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
        assert_eq!(
            claims[0].cells.as_ref().unwrap()["device"].values(),
            ["cpu"]
        );
    }
}
