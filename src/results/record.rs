//! One result row: a cell's identity, its parameters, what happened, the raw samples and the
//! figures derived from them, and the run's metadata.

use std::collections::BTreeMap;
use std::fmt;

use super::metadata::RunMetadata;
use crate::plan::ParamValue;
use crate::stats::Summary;

/// What became of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Measured.
    Ok,
    /// Started but did not finish (error, panic, timeout); `reason` says why.
    Failed,
    /// Not run, for a reason stated in `reason` (e.g. the device lacks a feature).
    Skipped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "ok" => Some(Status::Ok),
            "failed" => Some(Status::Failed),
            "skipped" => Some(Status::Skipped),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of a result set.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord {
    /// The plan's study name.
    pub study: String,
    /// The experiment the cell belongs to.
    pub experiment: String,
    /// Workload kind: `matmul`, `train`, `infer`.
    pub workload: String,
    /// Stable id (16 hex digits) derived from experiment, workload and parameters.
    pub cell_id: String,
    /// The parameters as one readable string: `model=mlp-small batch=32 dtype=f32 device=cpu seed=0`.
    pub cell_key: String,
    /// Each parameter; stored as a `param_<name>` column.
    pub params: BTreeMap<String, ParamValue>,
    /// Backend family: `cpu`, `cuda`, `metal`.
    pub device_kind: String,
    /// The hardware: CPU model, or GPU name.
    pub device_name: String,
    pub status: Status,
    /// Why a cell failed or was skipped; `None` when ok.
    pub reason: Option<String>,
    /// Every timed iteration, in milliseconds, in the order measured.
    pub samples_ms: Vec<f64>,
    /// Every warm-up iteration, in milliseconds (not used in any figure; kept to show warm-up).
    pub warmup_samples_ms: Vec<f64>,
    /// How many of `samples_ms` each round measured, in the order the rounds ran (the samples
    /// are the rounds' samples one after the other). Empty in sets written before rounds
    /// existed: all samples are then one round.
    pub round_sample_counts: Vec<u64>,
    /// When each round of the cell started, seconds after the run started.
    pub round_started_s: Vec<f64>,
    /// The cell's place in each round's shuffled order of cells (0 = first).
    pub round_positions: Vec<u64>,
    /// The framework that ran the model: `candle` for benchplan's own workloads, what a
    /// `command` program states in its `info` (`PyTorch`, `onnxruntime`…), `None` where it
    /// states nothing (and in sets older than format 5).
    pub framework: Option<String>,
    /// That framework's version, where known.
    pub framework_version: Option<String>,
    /// The `info` fields of a `command` program that benchplan does not read itself, as one
    /// JSON object (kept, not dropped: a program's own facts, such as its thread count).
    pub program_info: Option<String>,
    /// Joules the cell's device used over its timed iterations (every round), from an energy
    /// counter read around them (see [`crate::energy`]); `None` where no counter resolved it.
    pub energy_j: Option<f64>,
    /// Seconds of timed work those joules cover.
    pub energy_timed_s: Option<f64>,
    /// The counter read: `rapl`, `nvml`; `None` where none was readable.
    pub energy_source: Option<String>,
    /// Why there is no energy figure (no counter, no permission, a phase too short).
    pub energy_note: Option<String>,
    /// The device's state around the timed iterations (clocks, temperature, clock-event
    /// reasons, time held back by its limits): read on NVIDIA GPUs, empty elsewhere.
    pub device_state: crate::energy::state::DeviceState,
    /// SHA-256 of the cell's definition when it was measured (see
    /// [`plan::definition`](crate::plan::definition)): resume keeps a row only while it matches.
    /// `None` in sets older than format 4 (their rows are measured again on resume).
    pub definition_sha256: Option<String>,
    /// Exact floating-point operations per iteration, where known.
    pub flops_per_iteration: Option<f64>,
    /// Samples per iteration (the batch), where meaningful.
    pub samples_per_iteration: Option<u64>,
    /// Scalars in the model's weights, as built.
    pub param_count: Option<u64>,
    /// Bytes the model's weights occupy as built (dtype and quantization included); exact.
    pub weight_bytes: Option<u64>,
    /// Bytes of the optimizer's state, as held by the optimizer.
    pub optimizer_state_bytes: Option<u64>,
    /// Peak host bytes allocated during one forward pass (measured; CPU cells).
    pub activation_bytes: Option<u64>,
    /// Peak resident set size of the process during the cell (Linux: reset per cell).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes allocated on the accelerator, where the backend reports them.
    pub device_allocated_bytes: Option<u64>,
    /// Process CPU time (all threads) per timed iteration, milliseconds.
    pub cpu_ms_per_iteration: Option<f64>,
    /// Process CPU time over wall time during the timed iterations (2.0 = two cores busy).
    pub cpu_utilization: Option<f64>,
    /// Relative L2 distance of the predictions from the f32 baseline's, for optimized cells.
    pub prediction_error: Option<f64>,
    /// Which of benchplan's own kernels the cell's timed iterations ran, e.g.
    /// `attention (cuda), layer-norm (cuda)`, or `candle ops`; `None` for `command` cells and
    /// in sets older than format 8.
    pub kernels: Option<String>,
    /// Per-stage samples (milliseconds) of staged workloads, in stage order.
    pub stages: Vec<(String, Vec<f64>)>,
    /// The measurement settings the cell ran with.
    pub measure_settings: String,
    /// When the cell started, RFC 3339 UTC.
    pub cell_started_at: String,
    /// Wall time of the whole cell (set-up, warm-up and measurement), seconds.
    pub cell_wall_s: f64,
    /// Facts shared by every row of the run.
    pub meta: RunMetadata,
}

impl CellRecord {
    /// The timed samples of each round, in the order the rounds ran: one round holding every
    /// sample for sets written before rounds existed (or whose counts do not add up).
    pub fn rounds(&self) -> Vec<&[f64]> {
        let total: u64 = self.round_sample_counts.iter().sum();
        if self.round_sample_counts.is_empty() || total != self.samples_ms.len() as u64 {
            return vec![self.samples_ms.as_slice()];
        }
        let mut out = Vec::with_capacity(self.round_sample_counts.len());
        let mut start = 0;
        for &n in &self.round_sample_counts {
            out.push(&self.samples_ms[start..start + n as usize]);
            start += n as usize;
        }
        out
    }

    /// Whether the cell is judged by its mean rather than its median: a loader, judged by its
    /// rate (most waits on a loader with a queue are near zero, and the median says nothing of
    /// how fast batches come).
    pub fn judged_by_mean(&self) -> bool {
        self.workload == "dataload"
    }

    /// The natural log of each round's figure (its median; a loader's mean), rounds without
    /// samples left out: the values `diff` compares and rounds are judged on.
    pub fn round_log_figures(&self) -> Vec<f64> {
        self.rounds()
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                if self.judged_by_mean() {
                    s.iter().sum::<f64>() / s.len() as f64
                } else {
                    crate::stats::median(s).unwrap_or(f64::NAN)
                }
                .ln()
            })
            .collect()
    }

    /// The natural log of each round's median, rounds without samples left out.
    fn round_log_medians(&self) -> Vec<f64> {
        self.rounds()
            .into_iter()
            .filter_map(crate::stats::median)
            .map(f64::ln)
            .collect()
    }

    /// The cell's typical round median (the geometric mean of its rounds' medians), where it
    /// has two rounds or more: the centre of [`Self::between_rounds_interval`]. The median of
    /// all samples pooled leans towards the rounds that took more samples (the fast ones).
    pub fn typical_round_median(&self) -> Option<f64> {
        let logs = self.round_log_medians();
        (logs.len() >= 2).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
    }

    /// The 95% interval of the cell's typical round median, between rounds (Student's t on the
    /// rounds' log medians, as `diff` compares runs), milliseconds; `None` below two rounds.
    /// This, not the within-run interval of [`Summary`], is how far another run may land.
    pub fn between_rounds_interval(&self) -> Option<(f64, f64)> {
        use crate::stats::between::{interval, Side};
        let side = Side::of(&self.round_log_medians()).filter(|s| s.rounds >= 2)?;
        let se = (side.var / side.rounds as f64).sqrt();
        let (lo, hi) = interval(side.mean, se, (side.rounds - 1) as f64, 0.95);
        Some((lo.exp(), hi.exp()))
    }

    /// The rounds the cell's settings asked for, as `measure_settings` records them (`rounds=5`;
    /// 1 where it says nothing, as in sets written before rounds existed). A count of timed
    /// iterations below it caps it, as [`crate::plan::measure`] does.
    pub fn rounds_planned(&self) -> usize {
        let field = |name: &str| {
            self.measure_settings.split_whitespace().find_map(|kv| {
                kv.strip_prefix(name)?
                    .strip_prefix('=')?
                    .parse::<usize>()
                    .ok()
            })
        };
        let rounds = field("rounds").unwrap_or(1);
        field("iterations").map_or(rounds, |n| rounds.min(n)).max(1)
    }

    /// How many rounds measured the cell (1 for sets written before rounds existed).
    pub fn rounds_done(&self) -> usize {
        self.round_sample_counts.len().max(1)
    }

    /// Summary of the timed samples; `None` when there are none.
    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.samples_ms)
    }

    /// The cell's headline time, milliseconds: its typical round median where it has two
    /// rounds or more, else the median of its samples. Every figure derived from "the median
    /// time" (GFLOP/s, samples per second) is derived from this one, so the run line, the
    /// report's tables, its recommendations and the Parquet columns agree.
    pub fn headline_ms(&self) -> Option<f64> {
        self.typical_round_median()
            .or_else(|| self.summary().map(|s| s.median))
    }

    /// GFLOP/s at the headline (median) time.
    pub fn gflops(&self) -> Option<f64> {
        let median_s = self.headline_ms()? / 1e3;
        Some(self.flops_per_iteration? / median_s / 1e9)
    }

    /// Throughput at the headline (median) time: samples per iteration over
    /// [`Self::headline_ms`]. The figure for compute, where one iteration is one step.
    pub fn samples_per_s(&self) -> Option<f64> {
        let median_s = self.headline_ms()? / 1e3;
        Some(self.samples_per_iteration? as f64 / median_s)
    }

    /// Sustained throughput: samples processed over the total time of the timed iterations
    /// (at the mean time). The figure for a loader: it delivers in bursts, most waits on a
    /// queue are near zero, and the median wait says nothing about its rate.
    pub fn sustained_samples_per_s(&self) -> Option<f64> {
        let mean_s = self.summary()?.mean / 1e3;
        Some(self.samples_per_iteration? as f64 / mean_s)
    }

    /// The throughput a row is judged by: sustained for a loader, at the median otherwise.
    pub fn throughput(&self) -> Option<f64> {
        if self.judged_by_mean() {
            self.sustained_samples_per_s()
        } else {
            self.samples_per_s()
        }
    }

    /// Joules per sample over the timed iterations.
    pub fn joules_per_sample(&self) -> Option<f64> {
        let samples = self.samples_per_iteration? as f64 * self.samples_ms.len() as f64;
        let joules = self.energy_j?;
        (samples > 0.0).then(|| joules / samples)
    }

    /// Samples per joule: the inverse, what "performance per watt" means for a workload.
    pub fn samples_per_joule(&self) -> Option<f64> {
        self.joules_per_sample()
            .filter(|j| *j > 0.0)
            .map(|j| 1.0 / j)
    }

    /// Whether the device was throttled during the timed iterations (see
    /// [`DeviceState::throttled`](crate::energy::state::DeviceState::throttled)).
    pub fn throttled(&self) -> Option<bool> {
        self.device_state
            .throttled(self.samples_ms.iter().sum::<f64>() / 1e3)
    }

    /// The device's state in words, with the throttling first where there was some.
    pub fn device_state_words(&self) -> String {
        self.device_state
            .describe(self.samples_ms.iter().sum::<f64>() / 1e3)
    }

    /// Average power over the timed iterations, watts.
    pub fn average_watts(&self) -> Option<f64> {
        let s = self.energy_timed_s.filter(|s| *s > 0.0)?;
        Some(self.energy_j? / s)
    }

    /// Who ran the model, for labels: `candle 0.11.1`, `PyTorch 2.11.0`; a program that did
    /// not say is named by its experiment.
    pub fn framework_label(&self) -> String {
        match (&self.framework, &self.framework_version) {
            (Some(f), Some(v)) if !v.is_empty() => format!("{f} {v}"),
            (Some(f), _) => f.clone(),
            // Rows older than the column: benchplan's own workloads ran on candle.
            (None, _) if self.workload != "command" => {
                format!("candle {}", self.meta.candle_version)
                    .trim()
                    .to_owned()
            }
            (None, _) => format!("program `{}`", self.experiment),
        }
    }
}
