//! The report's view of a result set: the tables of the seed study, built from whatever cells
//! exist, each figure with its uncertainty. Templates see this, never a raw dataframe.
//!
//! Deterministic by construction: rows follow the order of the result set, and nothing here
//! reads a clock, so the same results always give the same view (and the same report bytes).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::ParamValue;
use crate::results::{CellRecord, Status};

pub use super::sections::dataload::LoadRow;
use super::sections::energy::{energy_table, energy_view};
pub use super::sections::matmul::MatmulRow;
pub use super::sections::memory::MemoryRow;
pub use super::sections::models::ModelRow;
pub use super::sections::optimizations::OptimizationRow;
pub use super::sections::other::OtherRow;
pub use super::sections::pipeline::{PipelineRow, Stage};
pub use super::sections::recommendations::Recommendation;
use super::sections::{
    dataload::{load_rows, load_table},
    matmul::{matmul_rows, matmul_table},
    memory::{memory_rows, memory_table},
    models::{model_rows, model_table},
    optimizations::{optimization_rows, optimization_table},
    other::{other_rows, other_table},
    pipeline::{pipeline_rows, pipeline_table},
    recommendations::recommendations,
};
use super::table::Table;

/// A timing with its uncertainty: the median, its 95% confidence interval where the sample
/// count allows one, and the count.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figure {
    pub median: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub p95: f64,
    pub mean: f64,
    pub n: usize,
}

impl Figure {
    /// The cell's typical round median with its interval between rounds where it has two or
    /// more rounds (how far another run may land), else its median with the within-run
    /// interval.
    pub fn of(r: &CellRecord) -> Option<Figure> {
        let s = r.summary()?;
        let ci = r.between_rounds_interval().or(s.median_ci);
        Some(Figure {
            median: r.typical_round_median().unwrap_or(s.median),
            low: ci.map(|c| c.0),
            high: ci.map(|c| c.1),
            p95: s.p95,
            mean: s.mean,
            n: s.count,
        })
    }

    /// Whether this figure is lower than `other` beyond the noise: their intervals do not
    /// overlap. Without intervals (too few samples) nothing is beyond the noise.
    pub fn clearly_below(&self, other: &Figure) -> bool {
        matches!((self.high, other.low), (Some(h), Some(l)) if h < l)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub id: String,
    pub cpu_model: String,
    pub cpu_cores: u32,
    pub os: String,
    pub arch: String,
    pub hostname: String,
}

/// A device of the result set, side by side with the others.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub device: String,
    /// The hardware behind it (CPU model or GPU name).
    pub name: String,
    pub cells: usize,
    pub ok: usize,
    pub price_per_hour: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotOkRow {
    pub experiment: String,
    pub key: String,
    pub status: String,
    pub reason: String,
}

/// Everything a report template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub study: String,
    pub description: String,
    pub machine: Machine,
    pub commit: String,
    pub dirty: bool,
    pub run_started_at: String,
    pub candle_version: String,
    pub benchplan_version: String,
    pub results_path: String,
    pub cells: usize,
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub devices: Vec<DeviceView>,
    /// Whether any device has a price, so templates can show cost columns.
    pub priced: bool,
    pub matmul: Vec<MatmulRow>,
    pub training: Vec<ModelRow>,
    pub inference: Vec<ModelRow>,
    pub optimizations: Vec<OptimizationRow>,
    pub memory: Vec<MemoryRow>,
    pub dataload: Vec<LoadRow>,
    pub pipeline: Vec<PipelineRow>,
    /// Measured cells no other section shows (an empty iteration, a program that does not say
    /// what it measures).
    pub other: Vec<OtherRow>,
    pub not_ok: Vec<NotOkRow>,
    /// Each section's table as the default template prints it, by section (`matmul`,
    /// `training`, `inference`, `optimizations`, `memory`, `dataload`, `pipeline`, `other`):
    /// keys that vary as columns, the others said once above it in `constants`.
    pub tables: BTreeMap<String, Table>,
    /// The frameworks that ran the measured cells: `candle 0.11.1`, `PyTorch 2.11.0`.
    pub frameworks: Vec<String>,
    pub recommendations: Vec<Recommendation>,
    /// Experiments beside the ones they name in `compare_with`; see [`Report::compare`].
    pub comparisons: Vec<super::comparison::Comparison>,
    /// candle's CPU code path in the run (matrix library, SIMD, threads).
    pub cpu_backend: String,
    /// Where the energy figures come from (`rapl`), or why no cell has one: the most common
    /// reason among the measured cells.
    pub energy: String,
    /// The plan's claims and their verdicts on this machine.
    pub claims: Vec<crate::claims::Verdict>,
    /// Energy per device, performance per watt between devices, throttled cells.
    pub energy_view: super::sections::energy::EnergyView,
    /// Rows from runs other than the newest (cells it did not measure): how many, from which
    /// commits; empty when every row is from one run.
    pub earlier: String,
    /// Where measured cells got fewer rounds than their settings asked for (a run stopped
    /// early): how many, and the range of rounds they got; empty otherwise.
    pub short_rounds: String,
}

pub(super) fn param_str(r: &CellRecord, name: &str) -> String {
    r.params
        .get(name)
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The keys that identify a row of `r`: its experiment, its framework, then the `leading`
/// parameters in that order (`–` where the cell lacks one), then every other parameter but
/// `omit`, by name. Tables show the ones that vary; nothing identifying is left out.
pub(super) fn keys_of(r: &CellRecord, leading: &[&str], omit: &[&str]) -> Vec<(String, String)> {
    let mut keys = vec![
        ("experiment".to_owned(), r.experiment.clone()),
        ("framework".to_owned(), r.framework_label()),
    ];
    for name in leading {
        let v = r
            .params
            .get(*name)
            .map_or_else(|| super::table::ABSENT.to_owned(), ToString::to_string);
        keys.push(((*name).to_owned(), v));
    }
    for (k, v) in &r.params {
        if !leading.contains(&k.as_str()) && !omit.contains(&k.as_str()) {
            keys.push((k.clone(), v.to_string()));
        }
    }
    // Last, and shown only where rows of several commits meet (a report completed from an
    // earlier run): see `table::HIDDEN_WHEN_CONSTANT`.
    keys.push(("commit".to_owned(), short_commit(&r.meta.git_commit)));
    keys
}

/// A commit as reports name it: its first 12 characters.
pub(super) fn short_commit(commit: &str) -> String {
    commit.chars().take(12).collect()
}

/// A figure as the `fig` filter writes it: `4.56 ms [4.50 ms – 4.61 ms] n=120`.
pub(super) fn fig_text(f: &Figure) -> String {
    super::filters::fig(minijinja::Value::from_serialize(f))
}

/// A value through `show`, or `–`.
pub(super) fn opt<T>(v: Option<T>, show: impl Fn(T) -> String) -> String {
    v.map_or_else(|| super::table::ABSENT.to_owned(), show)
}

/// A ratio as a multiplier: `1.53×`.
pub(super) fn ratio_text(x: f64) -> String {
    format!("{}×", crate::format::significant(x))
}

/// A small quantity in scientific notation: `1.2e-3`.
pub(super) fn sci_text(x: f64) -> String {
    super::filters::sci(minijinja::Value::from(x))
}

pub(super) fn param_int(r: &CellRecord, name: &str) -> Option<i64> {
    r.params.get(name).and_then(ParamValue::as_int)
}

/// Parameters that make a cell an optimization of another; their baseline values.
pub(super) const OPTIMIZATION_KEYS: [(&str, &str); 3] =
    [("dtype", "f32"), ("quant", "none"), ("kernels", "composed")];

/// The parameters of a cell with the optimization keys set to their baselines (and, for
/// `device`, removed when `drop_device`): cells with the same signature are the same
/// configuration.
pub(super) fn signature(
    r: &CellRecord,
    normalize_optimizations: bool,
    drop_device: bool,
) -> String {
    let mut p: BTreeMap<&str, String> = r
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_string()))
        .collect();
    if normalize_optimizations {
        for (k, base) in OPTIMIZATION_KEYS {
            if p.contains_key(k) {
                p.insert(k, base.to_owned());
            }
        }
    }
    if drop_device {
        p.remove("device");
    }
    // The seed picks the inputs, not the configuration.
    p.remove("seed");
    let params: Vec<String> = p.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}|{}", r.workload, params.join(","))
}

pub(super) fn is_baseline(r: &CellRecord) -> bool {
    OPTIMIZATION_KEYS
        .iter()
        .all(|(k, base)| r.params.get(*k).is_none_or(|v| v.to_string() == *base))
}

/// The rows as the report places them: a `command` row whose experiment says what it measures
/// (`measures`, or its `compare_with` partner's workload) takes that workload, so that it
/// stands in that section beside candle's rows; every other row is as stored.
fn as_measured(records: &[CellRecord], measures: &BTreeMap<String, String>) -> Vec<CellRecord> {
    records
        .iter()
        .map(|r| match measures.get(&r.experiment) {
            Some(w) if r.workload == "command" => CellRecord {
                workload: w.clone(),
                // Named now, while the row still says it is a program's.
                framework: Some(r.framework_label()),
                framework_version: None,
                ..r.clone()
            },
            _ => r.clone(),
        })
        .collect()
}

/// `27 of 114 measured cells got 1 of their 5 planned rounds, 87 got 2`, or empty when every
/// cell got its rounds: a reader must know when an interval rests on fewer runs than planned.
fn short_rounds(ok: &[&CellRecord]) -> String {
    let short: Vec<(usize, usize)> = ok
        .iter()
        .map(|r| (r.rounds_done(), r.rounds_planned()))
        .filter(|(done, planned)| done < planned)
        .collect();
    if short.is_empty() {
        return String::new();
    }
    let mut by_done: BTreeMap<usize, usize> = BTreeMap::new();
    for (done, _) in &short {
        *by_done.entry(*done).or_default() += 1;
    }
    let planned = short.iter().map(|s| s.1).max().unwrap_or(0);
    let parts: Vec<String> = by_done
        .iter()
        .map(|(done, n)| format!("{n} got {done}"))
        .collect();
    format!(
        "{} of {} measured cells got fewer rounds than the {planned} planned ({}): the run stopped before it finished, and their intervals rest on fewer runs",
        short.len(),
        ok.len(),
        parts.join(", ")
    )
}

/// `84 cells from d550fce37e96 (…)`: rows of commits other than the first row's.
fn earlier_runs(records: &[CellRecord]) -> String {
    let Some(first) = records.first() else {
        return String::new();
    };
    let mut others: Vec<(String, usize)> = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.meta.git_commit != first.meta.git_commit)
    {
        let c = short_commit(&r.meta.git_commit);
        match others.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => others.push((c, 1)),
        }
    }
    if others.is_empty() {
        return String::new();
    }
    let list: Vec<String> = others
        .iter()
        .map(|(c, n)| format!("{n} from `{c}`"))
        .collect();
    format!(
        "{} cells by the run of `{}`; {} (earlier runs on this machine, for cells the newest did not measure: their rows name their commit)",
        records.len() - others.iter().map(|(_, n)| n).sum::<usize>(),
        short_commit(&first.meta.git_commit),
        list.join(", ")
    )
}

/// `from rapl (12 of 40 cells)`, or `no figure: <the most common reason>`.
fn energy_line(ok: &[&CellRecord]) -> String {
    let with: Vec<&&CellRecord> = ok.iter().filter(|r| r.energy_j.is_some()).collect();
    if !with.is_empty() {
        let mut sources: Vec<&str> = with
            .iter()
            .filter_map(|r| r.energy_source.as_deref())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        return format!(
            "from {} counters ({} of {} cells)",
            sources.join(", "),
            with.len(),
            ok.len()
        );
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in ok {
        if let Some(n) = r.energy_note.as_deref() {
            *reasons.entry(n).or_default() += 1;
        }
    }
    reasons
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(why, _)| format!("no figure: {why}"))
        .unwrap_or_default()
}

/// A device no cell ran on.
const NOT_AVAILABLE: &str = "not available";

impl Report {
    /// Builds the view of one result set. `description` comes from the plan kept with it.
    /// `prices` are the plan's prices per hour by device name; `measures` what each `command`
    /// experiment measures ([`crate::results::ResultSet::measures`]).
    pub fn build(
        records: &[CellRecord],
        description: &str,
        results_path: &str,
        prices: &BTreeMap<String, f64>,
        measures: &BTreeMap<String, String>,
    ) -> Option<Report> {
        // Which rows a user's program measured, before they take the workload they measure.
        let programs: Vec<&str> = records
            .iter()
            .filter(|r| r.workload == "command")
            .map(|r| r.cell_id.as_str())
            .collect();
        let is_own = |r: &CellRecord| !programs.contains(&r.cell_id.as_str());
        let placed = as_measured(records, measures);
        let records = placed.as_slice();
        let first = records.first()?;
        // candle's version and code path come from benchplan's own rows where there are some.
        let own = records.iter().find(|r| is_own(r));
        let ok: Vec<&CellRecord> = records
            .iter()
            .filter(|r| r.status == Status::Ok && r.summary().is_some())
            .collect();
        let mut devices: Vec<DeviceView> = Vec::new();
        // benchplan's own rows first: the hardware they name is the machine's, and a program's
        // own name for it (such as `cpu`) is used only where nothing else ran on the device.
        let ordered = records
            .iter()
            .filter(|r| is_own(r))
            .chain(records.iter().filter(|r| !is_own(r)));
        for r in ordered {
            let d = param_str(r, "device");
            let is_ok = usize::from(r.status == Status::Ok);
            match devices.iter_mut().find(|v| v.device == d) {
                Some(v) => {
                    v.cells += 1;
                    v.ok += is_ok;
                    if is_ok == 1 && v.name == NOT_AVAILABLE {
                        v.name = r.device_name.clone();
                    }
                }
                None => devices.push(DeviceView {
                    price_per_hour: prices.get(&d).copied(),
                    // The hardware is named by a cell that ran on it.
                    name: if is_ok == 1 {
                        r.device_name.clone()
                    } else {
                        NOT_AVAILABLE.to_owned()
                    },
                    device: d,
                    cells: 1,
                    ok: is_ok,
                }),
            }
        }
        // The newest run's start: rows of earlier runs completing the report have their own.
        let run_started_at = records
            .iter()
            .filter(|r| r.meta.git_commit == first.meta.git_commit)
            .map(|r| r.meta.run_started_at.clone())
            .min()
            .unwrap_or_default();
        let mut report = Report {
            study: first.study.clone(),
            description: description.to_owned(),
            machine: Machine {
                id: first.meta.machine.clone(),
                cpu_model: first.meta.cpu_model.clone(),
                cpu_cores: first.meta.cpu_cores,
                os: first.meta.os.clone(),
                arch: first.meta.arch.clone(),
                hostname: first.meta.hostname.clone(),
            },
            commit: first.meta.git_commit.clone(),
            dirty: records.iter().any(|r| r.meta.git_dirty),
            run_started_at,
            // Empty where candle ran nothing (a study of programs alone).
            candle_version: own
                .map(|r| r.meta.candle_version.clone())
                .unwrap_or_default(),
            benchplan_version: first.meta.benchplan_version.clone(),
            results_path: results_path.to_owned(),
            cells: records.len(),
            ok: records.iter().filter(|r| r.status == Status::Ok).count(),
            failed: records
                .iter()
                .filter(|r| r.status == Status::Failed)
                .count(),
            skipped: records
                .iter()
                .filter(|r| r.status == Status::Skipped)
                .count(),
            priced: devices.iter().any(|d| d.price_per_hour.is_some()),
            devices,
            matmul: matmul_rows(&ok),
            training: model_rows(&ok, "train", prices),
            inference: model_rows(&ok, "infer", prices),
            optimizations: optimization_rows(&ok),
            memory: memory_rows(&ok),
            dataload: load_rows(&ok),
            pipeline: pipeline_rows(&ok),
            not_ok: records
                .iter()
                .filter(|r| r.status != Status::Ok)
                .map(|r| NotOkRow {
                    experiment: r.experiment.clone(),
                    key: r.cell_key.clone(),
                    status: r.status.name().to_owned(),
                    reason: r.reason.clone().unwrap_or_default(),
                })
                .collect(),
            recommendations: Vec::new(),
            comparisons: Vec::new(),
            cpu_backend: own.map(|r| r.meta.cpu_backend.clone()).unwrap_or_default(),
            other: Vec::new(),
            short_rounds: short_rounds(&ok),
            earlier: earlier_runs(records),
            energy: energy_line(&ok),
            energy_view: energy_view(&ok, &BTreeMap::new()),
            claims: Vec::new(),
            tables: BTreeMap::new(),
            frameworks: Vec::new(),
        };
        let mut shown: Vec<&str> = Vec::new();
        shown.extend(report.matmul.iter().map(|r| r.cell_id.as_str()));
        shown.extend(report.training.iter().map(|r| r.cell_id.as_str()));
        shown.extend(report.inference.iter().map(|r| r.cell_id.as_str()));
        shown.extend(report.optimizations.iter().map(|r| r.cell_id.as_str()));
        shown.extend(report.dataload.iter().map(|r| r.cell_id.as_str()));
        shown.extend(report.pipeline.iter().map(|r| r.cell_id.as_str()));
        let other = other_rows(&ok, &shown);
        report.other = other;
        for r in &ok {
            let f = r.framework_label();
            if !report.frameworks.contains(&f) {
                report.frameworks.push(f);
            }
        }
        let tables = [
            ("matmul", matmul_table(&report.matmul)),
            (
                "training",
                model_table(&report.training, false, report.priced),
            ),
            (
                "inference",
                model_table(&report.inference, true, report.priced),
            ),
            ("optimizations", optimization_table(&report.optimizations)),
            ("memory", memory_table(&report.memory)),
            ("dataload", load_table(&report.dataload)),
            ("pipeline", pipeline_table(&report.pipeline)),
            ("other", other_table(&report.other)),
            ("energy", energy_table(&report.energy_view)),
        ];
        report.tables = tables
            .into_iter()
            .filter_map(|(k, t)| Some((k.to_owned(), t?)))
            .collect();
        report.recommendations = recommendations(&ok, &report);
        Some(report)
    }

    /// Adds the energy cost of a million samples where the plan gives a price per kWh for a
    /// device (`[devices.NAME] price_per_kwh`).
    pub fn energy_priced(mut self, kwh_prices: &BTreeMap<String, f64>) -> Report {
        for d in &mut self.energy_view.devices {
            d.cost_per_million = d
                .best
                .as_ref()
                .zip(kwh_prices.get(&d.device))
                .map(|((_, spj), price)| price / spj / 3.6);
        }
        match energy_table(&self.energy_view) {
            Some(t) => self.tables.insert("energy".to_owned(), t),
            None => self.tables.remove("energy"),
        };
        self
    }

    /// Adds the verdict of each of the plan's claims on these rows.
    pub fn claims(mut self, records: &[CellRecord], claims: &[crate::claims::Claim]) -> Report {
        self.claims = claims
            .iter()
            .map(|c| crate::claims::verdict(c, records))
            .collect();
        self
    }

    /// Adds the side-by-side tables of the plan's `compare_with` pairs (experiment → the
    /// experiment it is compared with).
    pub fn compare(mut self, records: &[CellRecord], pairs: &BTreeMap<String, String>) -> Report {
        self.comparisons = super::comparison::comparisons(records, pairs);
        self
    }
}
