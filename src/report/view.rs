//! The report's view of a result set: the tables of the seed study, built from whatever cells
//! exist, each figure with its uncertainty. Templates see this, never a raw dataframe.
//!
//! Deterministic by construction: rows follow the order of the result set, and nothing here
//! reads a clock, so the same results always give the same view (and the same report bytes).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::ParamValue;
use crate::results::{CellRecord, Status};

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
    pub fn of(r: &CellRecord) -> Option<Figure> {
        let s = r.summary()?;
        Some(Figure {
            median: s.median,
            low: s.median_ci.map(|c| c.0),
            high: s.median_ci.map(|c| c.1),
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

#[derive(Debug, Clone, Serialize)]
pub struct MatmulRow {
    pub n: i64,
    pub dtype: String,
    pub device: String,
    pub device_name: String,
    pub time: Figure,
    pub gflops: f64,
    /// This cell's GFLOP/s over the best measured on the same device.
    pub fraction_of_best: f64,
}

/// One device's figures for a model configuration.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceFigure {
    pub device: String,
    pub time: Figure,
    pub samples_per_s: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub activation_bytes: Option<u64>,
    /// The CPU's median time over this device's, for accelerators measured beside a CPU.
    pub speedup_over_cpu: Option<f64>,
    /// What a million samples cost at this throughput, where the plan prices the device.
    pub cost_per_million_samples: Option<f64>,
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

/// A model configuration measured on one or more devices (training or inference).
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub experiment: String,
    pub model: String,
    pub batch: Option<i64>,
    pub dtype: String,
    pub data: String,
    pub devices: Vec<DeviceFigure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptimizationRow {
    pub experiment: String,
    pub model: String,
    pub batch: Option<i64>,
    pub device: String,
    /// What changed from the baseline, e.g. `quant=q8_0` or `dtype=f16`.
    pub change: String,
    pub baseline: Figure,
    pub optimized: Figure,
    /// Baseline median over optimized median: above 1 is faster.
    pub speedup: f64,
    pub speedup_beyond_noise: bool,
    pub baseline_bytes: Option<u64>,
    pub optimized_bytes: Option<u64>,
    /// Optimized weight bytes over baseline's, minus one: −0.75 is a 75% reduction.
    pub weight_change: Option<f64>,
    pub prediction_error: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    pub model: String,
    pub batch: Option<i64>,
    pub dtype: String,
    pub device: String,
    pub weight_bytes: Option<u64>,
    pub optimizer_state_bytes: Option<u64>,
    pub activation_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    pub workers: i64,
    pub prefetch: i64,
    pub batch: i64,
    pub jitter: f64,
    pub data: String,
    pub wait: Figure,
    pub samples_per_s: Option<f64>,
    pub cpu_utilization: Option<f64>,
    /// Throughput divided by worker count (workers = 0 counts as one thread).
    pub samples_per_s_per_worker: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub time: Figure,
    /// This stage's median over the sum of the stage medians.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRow {
    pub key: String,
    pub model: String,
    pub device: String,
    pub workers: i64,
    pub stages: Vec<Stage>,
    pub whole: Figure,
    pub samples_per_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotOkRow {
    pub experiment: String,
    pub key: String,
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub question: String,
    pub answer: String,
    pub figure: String,
    pub runner_up: Option<String>,
    /// How much better the answer is than the runner-up, as a fraction (0.12 = 12%).
    pub margin: Option<f64>,
    /// Whether the two figures' intervals do not overlap; none when either has no interval.
    pub beyond_noise: Option<bool>,
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

fn param_str(r: &CellRecord, name: &str) -> String {
    r.params
        .get(name)
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn param_int(r: &CellRecord, name: &str) -> Option<i64> {
    r.params.get(name).and_then(ParamValue::as_int)
}

/// Parameters that make a cell an optimization of another; their baseline values.
const OPTIMIZATION_KEYS: [(&str, &str); 3] =
    [("dtype", "f32"), ("quant", "none"), ("kernels", "composed")];

/// The parameters of a cell with the optimization keys set to their baselines (and, for
/// `device`, removed when `drop_device`): cells with the same signature are the same
/// configuration.
fn signature(r: &CellRecord, normalize_optimizations: bool, drop_device: bool) -> String {
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

fn is_baseline(r: &CellRecord) -> bool {
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

fn matmul_rows(ok: &[&CellRecord]) -> Vec<MatmulRow> {
    let cells: Vec<&&CellRecord> = ok.iter().filter(|r| r.workload == "matmul").collect();
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    for r in &cells {
        let g = r.gflops().unwrap_or(0.0);
        let e = best.entry(param_str(r, "device")).or_insert(0.0);
        *e = e.max(g);
    }
    cells
        .iter()
        .filter_map(|r| {
            let gflops = r.gflops()?;
            let device = param_str(r, "device");
            Some(MatmulRow {
                n: param_int(r, "n")?,
                dtype: param_str(r, "dtype"),
                device_name: r.device_name.clone(),
                time: Figure::of(r)?,
                gflops,
                fraction_of_best: gflops / best[&device],
                device,
            })
        })
        .collect()
}

/// Rows of model cells of one workload (f32, float weights, composed kernels only: the
/// optimizations have their own table), one per configuration, with a column per device.
fn model_rows(ok: &[&CellRecord], workload: &str, prices: &BTreeMap<String, f64>) -> Vec<ModelRow> {
    let mut rows: Vec<(String, ModelRow)> = Vec::new();
    for r in ok
        .iter()
        .filter(|r| r.workload == workload && is_baseline(r))
    {
        let sig = format!("{}|{}", r.experiment, signature(r, false, true));
        let Some(time) = Figure::of(r) else { continue };
        let device = param_str(r, "device");
        let samples_per_s = r.samples_per_s();
        let figure = DeviceFigure {
            cost_per_million_samples: prices
                .get(&device)
                .zip(samples_per_s)
                .map(|(price, rate)| price / 3600.0 / rate * 1e6),
            device,
            time,
            samples_per_s,
            peak_rss_bytes: r.peak_rss_bytes,
            activation_bytes: r.activation_bytes,
            speedup_over_cpu: None,
        };
        match rows.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, row)) => row.devices.push(figure),
            None => rows.push((
                sig,
                ModelRow {
                    experiment: r.experiment.clone(),
                    model: param_str(r, "model"),
                    batch: param_int(r, "batch"),
                    dtype: param_str(r, "dtype"),
                    data: param_str(r, "data"),
                    devices: vec![figure],
                },
            )),
        }
    }
    for (_, row) in &mut rows {
        let cpu = row
            .devices
            .iter()
            .find(|d| d.device == "cpu")
            .map(|d| d.time.median);
        if let Some(cpu) = cpu {
            for d in row.devices.iter_mut().filter(|d| d.device != "cpu") {
                d.speedup_over_cpu = Some(cpu / d.time.median);
            }
        }
    }
    rows.into_iter().map(|(_, r)| r).collect()
}

fn optimization_rows(ok: &[&CellRecord]) -> Vec<OptimizationRow> {
    let mut rows = Vec::new();
    // Model cells only: matrix products of each dtype stand side by side under tensor operations.
    for r in ok
        .iter()
        .filter(|r| !is_baseline(r) && r.params.contains_key("model"))
    {
        let sig = signature(r, true, false);
        // The baseline: same configuration with the optimization keys at their baselines,
        // preferably from the same experiment.
        let baseline = ok
            .iter()
            .filter(|b| is_baseline(b) && signature(b, true, false) == sig)
            .min_by_key(|b| b.experiment != r.experiment);
        let (Some(baseline), Some(optimized)) = (baseline, Figure::of(r)) else {
            continue;
        };
        let Some(base_fig) = Figure::of(baseline) else {
            continue;
        };
        let change = OPTIMIZATION_KEYS
            .iter()
            .filter_map(|(k, base)| {
                let v = param_str(r, k);
                (!v.is_empty() && v != *base).then(|| format!("{k}={v}"))
            })
            .collect::<Vec<_>>()
            .join(" ");
        rows.push(OptimizationRow {
            experiment: r.experiment.clone(),
            model: param_str(r, "model"),
            batch: param_int(r, "batch"),
            device: param_str(r, "device"),
            change,
            speedup: base_fig.median / optimized.median,
            speedup_beyond_noise: optimized.clearly_below(&base_fig)
                || base_fig.clearly_below(&optimized),
            baseline_bytes: baseline.weight_bytes,
            optimized_bytes: r.weight_bytes,
            weight_change: baseline
                .weight_bytes
                .zip(r.weight_bytes)
                .map(|(b, o)| o as f64 / b as f64 - 1.0),
            prediction_error: r.prediction_error,
            baseline: base_fig,
            optimized,
        });
    }
    rows
}

fn memory_rows(ok: &[&CellRecord]) -> Vec<MemoryRow> {
    let mut seen = Vec::new();
    ok.iter()
        .filter(|r| r.workload == "train")
        .filter(|r| {
            let key = (
                param_str(r, "model"),
                param_str(r, "batch"),
                param_str(r, "dtype"),
                param_str(r, "device"),
            );
            let new = !seen.contains(&key);
            seen.push(key);
            new
        })
        .map(|r| MemoryRow {
            model: param_str(r, "model"),
            batch: param_int(r, "batch"),
            dtype: param_str(r, "dtype"),
            device: param_str(r, "device"),
            weight_bytes: r.weight_bytes,
            optimizer_state_bytes: r.optimizer_state_bytes,
            activation_bytes: r.activation_bytes,
            peak_rss_bytes: r.peak_rss_bytes,
        })
        .collect()
}

fn load_rows(ok: &[&CellRecord]) -> Vec<LoadRow> {
    ok.iter()
        .filter(|r| r.workload == "dataload")
        .filter_map(|r| {
            let workers = param_int(r, "workers")?;
            let samples_per_s = r.samples_per_s();
            Some(LoadRow {
                workers,
                prefetch: param_int(r, "prefetch")?,
                batch: param_int(r, "batch")?,
                jitter: match r.params.get("jitter") {
                    Some(ParamValue::Float(x)) => *x,
                    _ => 0.0,
                },
                data: param_str(r, "data"),
                wait: Figure::of(r)?,
                samples_per_s,
                cpu_utilization: r.cpu_utilization,
                samples_per_s_per_worker: samples_per_s.map(|s| s / workers.max(1) as f64),
            })
        })
        .collect()
}

fn pipeline_rows(ok: &[&CellRecord]) -> Vec<PipelineRow> {
    ok.iter()
        .filter(|r| r.workload == "pipeline")
        .filter_map(|r| {
            let stage_figs: Vec<(String, Figure)> = r
                .stages
                .iter()
                .filter_map(|(name, samples)| {
                    let s = crate::stats::Summary::of(samples)?;
                    Some((
                        name.clone(),
                        Figure {
                            median: s.median,
                            low: s.median_ci.map(|c| c.0),
                            high: s.median_ci.map(|c| c.1),
                            p95: s.p95,
                            mean: s.mean,
                            n: s.count,
                        },
                    ))
                })
                .collect();
            let total: f64 = stage_figs.iter().map(|(_, f)| f.median).sum();
            Some(PipelineRow {
                key: r.cell_key.clone(),
                model: param_str(r, "model"),
                device: param_str(r, "device"),
                workers: param_int(r, "workers")?,
                stages: stage_figs
                    .into_iter()
                    .map(|(name, time)| Stage {
                        share: if total > 0.0 {
                            time.median / total
                        } else {
                            0.0
                        },
                        name,
                        time,
                    })
                    .collect(),
                whole: Figure::of(r)?,
                samples_per_s: r.samples_per_s(),
            })
        })
        .collect()
}

/// Picks the best of `candidates` by `better` and says by how much it beats the runner-up.
fn recommend(
    question: &str,
    candidates: Vec<(&CellRecord, Figure)>,
    lower_is_better: bool,
    describe: impl Fn(&CellRecord) -> String,
    figure: impl Fn(&CellRecord, &Figure) -> String,
) -> Option<Recommendation> {
    let mut sorted = candidates;
    sorted.sort_by(|a, b| {
        let (x, y) = (a.1.median, b.1.median);
        if lower_is_better {
            x.total_cmp(&y)
        } else {
            y.total_cmp(&x)
        }
    });
    // The same configuration measured by two experiments is one candidate, at its best.
    let mut seen = Vec::new();
    sorted.retain(|(r, _)| {
        let sig = signature(r, false, false);
        let new = !seen.contains(&sig);
        seen.push(sig);
        new
    });
    let (best, best_fig) = sorted.first()?;
    let runner = sorted.get(1);
    Some(Recommendation {
        question: question.to_owned(),
        answer: describe(best),
        figure: figure(best, best_fig),
        runner_up: runner.map(|(r, _)| describe(r)),
        margin: runner.map(|(_, f)| {
            if lower_is_better {
                f.median / best_fig.median - 1.0
            } else {
                best_fig.median / f.median - 1.0
            }
        }),
        beyond_noise: runner.and_then(|(_, f)| {
            let intervals = best_fig.low.is_some() && f.low.is_some();
            intervals.then(|| {
                if lower_is_better {
                    best_fig.clearly_below(f)
                } else {
                    f.clearly_below(best_fig)
                }
            })
        }),
    })
}

fn recommendations(ok: &[&CellRecord], report: &Report) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for r in ok.iter().filter(|r| r.workload == "train") {
        let m = param_str(r, "model");
        if !models.contains(&m) {
            models.push(m);
        }
    }
    let describe = |r: &CellRecord| r.cell_key.clone();
    let time = |_: &CellRecord, f: &Figure| crate::format::duration_ms(f.median);
    for model in &models {
        let cands: Vec<(&CellRecord, Figure)> = ok
            .iter()
            .filter(|r| r.workload == "train" && param_str(r, "model") == *model)
            .filter_map(|r| Figure::of(r).map(|f| (*r, f)))
            .collect();
        // Per sample, so that different batch sizes compare fairly.
        let per_sample: Vec<(&CellRecord, Figure)> = cands
            .into_iter()
            .filter_map(|(r, f)| {
                let b = r.samples_per_iteration? as f64;
                Some((
                    r,
                    Figure {
                        median: f.median / b,
                        low: f.low.map(|x| x / b),
                        high: f.high.map(|x| x / b),
                        ..f
                    },
                ))
            })
            .collect();
        out.extend(recommend(
            &format!("Fastest training setup for `{model}` (time per sample)"),
            per_sample,
            true,
            describe,
            |_, f| format!("{} per sample", crate::format::duration_ms(f.median)),
        ));
        let latency: Vec<(&CellRecord, Figure)> = ok
            .iter()
            .filter(|r| {
                r.workload == "infer"
                    && param_str(r, "model") == *model
                    && param_int(r, "batch") == Some(1)
            })
            .filter_map(|r| Figure::of(r).map(|f| (*r, f)))
            .collect();
        out.extend(recommend(
            &format!("Lowest-latency inference for `{model}` (batch 1)"),
            latency,
            true,
            describe,
            time,
        ));
    }
    // Loaders compare like with like: the same batch size and per-sample work.
    let load_cells: Vec<(&LoadRow, &CellRecord)> = report
        .dataload
        .iter()
        .zip(
            ok.iter()
                .copied()
                .filter(|r| r.workload == "dataload" && param_int(r, "workers").is_some()),
        )
        .collect();
    let mut groups: Vec<(i64, String)> = Vec::new();
    for (row, _) in &load_cells {
        let g = (row.batch, row.jitter.to_string());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for (batch, jitter) in groups {
        let candidates: Vec<(&CellRecord, Figure)> = load_cells
            .iter()
            .filter(|(row, _)| row.batch == batch && row.jitter.to_string() == jitter)
            .filter_map(|(row, r)| {
                let per_worker = row.samples_per_s_per_worker?;
                Some((
                    *r,
                    Figure {
                        median: per_worker,
                        low: None,
                        high: None,
                        p95: per_worker,
                        mean: per_worker,
                        n: row.wait.n,
                    },
                ))
            })
            .collect();
        out.extend(recommend(
            &format!("Best data-loading throughput per worker (batch {batch}, jitter {jitter})"),
            candidates,
            false,
            describe,
            |_, f| format!("{} per worker", crate::format::rate(f.median, "samples")),
        ));
    }
    out
}
