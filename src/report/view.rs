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
pub use super::sections::matmul::MatmulRow;
pub use super::sections::memory::MemoryRow;
pub use super::sections::models::{DeviceFigure, ModelRow};
pub use super::sections::optimizations::OptimizationRow;
pub use super::sections::pipeline::{PipelineRow, Stage};
pub use super::sections::recommendations::Recommendation;
use super::sections::{
    dataload::load_rows, matmul::matmul_rows, memory::memory_rows, models::model_rows,
    optimizations::optimization_rows, pipeline::pipeline_rows, recommendations::recommendations,
};

/// A timing with its uncertainty: the median, its 95% confidence interval where the sample
/// count allows one, and the count.
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
    pub not_ok: Vec<NotOkRow>,
    pub recommendations: Vec<Recommendation>,
    /// Experiments beside the ones they name in `compare_with`; see [`Report::compare`].
    pub comparisons: Vec<super::comparison::Comparison>,
    /// candle's CPU code path in the run (matrix library, SIMD, threads).
    pub cpu_backend: String,
}

pub(super) fn param_str(r: &CellRecord, name: &str) -> String {
    r.params
        .get(name)
        .map(ToString::to_string)
        .unwrap_or_default()
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

impl Report {
    /// Builds the view of one result set. `description` comes from the plan kept with it.
    /// `prices` are the plan's prices per hour by device name.
    pub fn build(
        records: &[CellRecord],
        description: &str,
        results_path: &str,
        prices: &BTreeMap<String, f64>,
    ) -> Option<Report> {
        let first = records.first()?;
        let ok: Vec<&CellRecord> = records
            .iter()
            .filter(|r| r.status == Status::Ok && r.summary().is_some())
            .collect();
        let mut devices: Vec<DeviceView> = Vec::new();
        for r in records {
            let d = param_str(r, "device");
            let is_ok = usize::from(r.status == Status::Ok);
            // The hardware is named by a cell that ran on it; a device nothing ran on is unknown.
            let name = if is_ok == 1 {
                r.device_name.clone()
            } else {
                "not available".to_owned()
            };
            match devices.iter_mut().find(|v| v.device == d) {
                Some(v) => {
                    v.cells += 1;
                    v.ok += is_ok;
                    if is_ok == 1 {
                        v.name = name;
                    }
                }
                None => devices.push(DeviceView {
                    price_per_hour: prices.get(&d).copied(),
                    name,
                    device: d,
                    cells: 1,
                    ok: is_ok,
                }),
            }
        }
        let run_started_at = records
            .iter()
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
            candle_version: first.meta.candle_version.clone(),
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
            cpu_backend: first.meta.cpu_backend.clone(),
        };
        report.recommendations = recommendations(&ok, &report);
        Some(report)
    }

    /// Adds the side-by-side tables of the plan's `compare_with` pairs (experiment → the
    /// experiment it is compared with).
    pub fn compare(mut self, records: &[CellRecord], pairs: &BTreeMap<String, String>) -> Report {
        self.comparisons = super::comparison::comparisons(records, pairs);
        self
    }
}
