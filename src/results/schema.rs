//! The one description of a result row: every column of `cells.parquet`, in file order, with
//! its type, unit, meaning and how it is taken from (and put back into) a [`CellRecord`].
//! [`store`](super::store) writes and reads through this table and nothing else, the book's
//! results-format page is generated from it, and a test round-trips a fully populated row
//! through it. Adding a figure is one entry here (and its field), plus that test's value.
//!
//! Two families of columns are not fixed: one `param_<name>` column per plan parameter, typed
//! by its values, and one `stage_<name>_ms` column per stage of staged workloads. They are
//! described by [`FAMILIES`] and handled in `store`.
//!
//! The format version is stored in the Parquet file's key-value metadata under
//! [`FORMAT_KEY`]. Version 1 is every set written before the version was stored; readers
//! accept every version up to [`FORMAT_VERSION`] and refuse newer files by name.

use super::record::{CellRecord, Status};
use crate::stats::Summary;

/// The version of the row format this build writes.
/// - 1: sets written before the version was stored (`cpu_backend` may be missing).
/// - 2: the version is stored; the columns are those of version 1.
/// - 3: rounds (`round_sample_counts`, `round_started_s`, `round_positions`); sets of versions
///   1 and 2 lack them and read as one round.
/// - 4: `definition_sha256`, the fingerprint resume matches; older rows lack it.
/// - 6: energy: `energy_j`, `energy_timed_s`, `energy_source`, `energy_note`, and the derived
///   `joules_per_sample`, `samples_per_joule`, `average_watts`.
/// - 7: device state: `gpu_sm_mhz_start`/`_end`, `gpu_memory_mhz_start`/`_end`,
///   `gpu_temperature_c_start`/`_end`, `gpu_power_limit_w`, `gpu_clock_events_start`/`_end`,
///   `gpu_held_back_s`, `gpu_power_integrated_j`, `device_state_note`, the derived `throttled`.
/// - 8: `kernels`, which of benchplan's own kernels a cell ran (issue 21).
/// - 5: `framework`, `framework_version`, `program_info`; `samples_per_s` and `gflops` at the
///   headline time (the typical round median), `sustained_samples_per_s` at the mean;
///   `candle_version` null on `command` rows (candle did not run them).
pub const FORMAT_VERSION: u32 = 8;

/// The Parquet key-value metadata key that holds the format version.
pub const FORMAT_KEY: &str = "benchplan.format_version";

/// How a column's values relate to a [`CellRecord`].
#[derive(Clone, Copy)]
pub enum Field {
    /// A required string.
    Str(fn(&CellRecord) -> &str, fn(&mut CellRecord, String)),
    /// A string that may be null.
    OptStr(
        fn(&CellRecord) -> Option<&str>,
        fn(&mut CellRecord, Option<String>),
    ),
    /// The cell's status (`ok`, `failed`, `skipped`).
    Status,
    Bool(fn(&CellRecord) -> bool, fn(&mut CellRecord, bool)),
    /// A float that is always there.
    F64(fn(&CellRecord) -> f64, fn(&mut CellRecord, f64)),
    OptF64(
        fn(&CellRecord) -> Option<f64>,
        fn(&mut CellRecord, Option<f64>),
    ),
    /// A count or a size: stored as a signed 64-bit integer, as Parquet readers expect.
    OptU64(
        fn(&CellRecord) -> Option<u64>,
        fn(&mut CellRecord, Option<u64>),
    ),
    U32(fn(&CellRecord) -> u32, fn(&mut CellRecord, u32)),
    /// A list of samples in milliseconds (`list<double>`).
    Samples(fn(&CellRecord) -> &[f64], fn(&mut CellRecord, Vec<f64>)),
    /// A list of counts (`list<int64>`).
    Counts(fn(&CellRecord) -> &[u64], fn(&mut CellRecord, Vec<u64>)),
    /// Computed from the row when written, for readers of the file (pandas, duckdb); never
    /// read back, since the row it comes from is (`median_ms` from `samples_ms`).
    Derived(fn(&CellRecord, Option<&Summary>) -> Option<f64>),
    /// A derived yes/no, null where unknown (`throttled`).
    DerivedBool(fn(&CellRecord) -> Option<bool>),
    /// A derived integer (the sample count).
    DerivedCount(fn(&CellRecord) -> i64),
}

/// One column of a result row.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Unit of the values (`ms`, `bytes`, `s`…), empty where there is none.
    pub unit: &'static str,
    /// What the values mean, for the results-format reference.
    pub doc: &'static str,
    pub field: Field,
    /// Whether a set may lack the column (older sets, written before it existed); reading one
    /// leaves the field as [`CellRecord::blank`] has it.
    pub optional: bool,
}

/// An optional count added in a later format (older sets lack it).
const fn opt_u64(
    name: &'static str,
    unit: &'static str,
    doc: &'static str,
    get: fn(&CellRecord) -> Option<u64>,
    set: fn(&mut CellRecord, Option<u64>),
) -> Column {
    Column {
        optional: true,
        ..col(name, unit, doc, Field::OptU64(get, set))
    }
}

/// An optional float added in a later format.
const fn opt_f64(
    name: &'static str,
    unit: &'static str,
    doc: &'static str,
    get: fn(&CellRecord) -> Option<f64>,
    set: fn(&mut CellRecord, Option<f64>),
) -> Column {
    Column {
        optional: true,
        ..col(name, unit, doc, Field::OptF64(get, set))
    }
}

/// An optional string added in a later format.
const fn opt_str(
    name: &'static str,
    unit: &'static str,
    doc: &'static str,
    get: fn(&CellRecord) -> Option<&str>,
    set: fn(&mut CellRecord, Option<String>),
) -> Column {
    Column {
        optional: true,
        ..col(name, unit, doc, Field::OptStr(get, set))
    }
}

const fn col(name: &'static str, unit: &'static str, doc: &'static str, field: Field) -> Column {
    Column {
        name,
        unit,
        doc,
        field,
        optional: false,
    }
}

/// Where the parameter columns go among the fixed ones: after this column.
pub const PARAMS_AFTER: &str = "cell_key";

/// Every fixed column, in file order (the parameter columns follow [`PARAMS_AFTER`], the stage
/// columns come last).
pub const COLUMNS: &[Column] = &[
    col("study", "", "The plan's study name.", Field::Str(|r| &r.study, |r, v| r.study = v)),
    col("experiment", "", "The experiment the cell belongs to.", Field::Str(|r| &r.experiment, |r, v| r.experiment = v)),
    col("workload", "", "Workload kind: `matmul`, `train`, `infer`, `dataload`, `pipeline`, `command`, `noop`.", Field::Str(|r| &r.workload, |r, v| r.workload = v)),
    col("cell_id", "", "Stable id (16 hex digits) derived from experiment, workload and parameters.", Field::Str(|r| &r.cell_id, |r, v| r.cell_id = v)),
    col("cell_key", "", "The parameters as one readable string: `model=mlp-small batch=32 dtype=f32 device=cpu`.", Field::Str(|r| &r.cell_key, |r, v| r.cell_key = v)),
    col("device_kind", "", "Backend family: `cpu`, `cuda`, `metal`.", Field::Str(|r| &r.device_kind, |r, v| r.device_kind = v)),
    col("device_name", "", "The hardware: CPU model, or GPU name.", Field::Str(|r| &r.device_name, |r, v| r.device_name = v)),
    col("status", "", "`ok` (measured), `failed` (started, did not finish) or `skipped` (not run).", Field::Status),
    col("reason", "", "Why a cell failed or was skipped; null when ok.", Field::OptStr(|r| r.reason.as_deref(), |r, v| r.reason = v)),
    col("sample_count", "", "Number of timed iterations (the length of `samples_ms`).", Field::DerivedCount(|r| r.samples_ms.len() as i64)),
    col("median_ms", "ms", "Median of the timed samples.", Field::Derived(|_, s| Some(s?.median))),
    col("mean_ms", "ms", "Mean of the timed samples.", Field::Derived(|_, s| Some(s?.mean))),
    col("std_ms", "ms", "Sample standard deviation (n − 1) of the timed samples.", Field::Derived(|_, s| Some(s?.std))),
    col("min_ms", "ms", "Fastest timed sample.", Field::Derived(|_, s| Some(s?.min))),
    col("max_ms", "ms", "Slowest timed sample.", Field::Derived(|_, s| Some(s?.max))),
    col("p95_ms", "ms", "95th percentile of the timed samples (linear interpolation, NumPy's default).", Field::Derived(|_, s| Some(s?.p95))),
    col("p99_ms", "ms", "99th percentile of the timed samples.", Field::Derived(|_, s| Some(s?.p99))),
    col("median_ci_low_ms", "ms", "Lower end of the 95% order-statistic interval of the median, within this run (null below 6 samples).", Field::Derived(|_, s| Some(s?.median_ci?.0))),
    col("median_ci_high_ms", "ms", "Upper end of that interval.", Field::Derived(|_, s| Some(s?.median_ci?.1))),
    col("typical_round_median_ms", "ms", "The cell's typical round median: the geometric mean of its rounds' medians, the centre of the interval between rounds. Null below two rounds.", Field::Derived(|r, _| r.typical_round_median())),
    col("between_rounds_low_ms", "ms", "Lower end of the 95% interval of the cell's typical round median, between rounds (Student's t on the rounds' log medians): how far another run may land. Null below two rounds.", Field::Derived(|r, _| Some(r.between_rounds_interval()?.0))),
    col("between_rounds_high_ms", "ms", "Upper end of that interval.", Field::Derived(|r, _| Some(r.between_rounds_interval()?.1))),
    col("gflops", "GFLOP/s", "Floating-point rate at the headline time (`typical_round_median_ms`, else `median_ms`), where the operation count is known.", Field::Derived(|r, _| r.gflops())),
    col("samples_per_s", "samples/s", "Throughput at the headline time: `samples_per_iteration` over `typical_round_median_ms` (else `median_ms`). The figure the run line, the report and its recommendations show for compute.", Field::Derived(|r, _| r.samples_per_s())),
    col("sustained_samples_per_s", "samples/s", "Samples processed over the total time of the timed iterations (at the mean time): the figure for data loaders, whose median wait says nothing about their rate.", Field::Derived(|r, _| r.sustained_samples_per_s())),
    col("flops_per_iteration", "FLOP", "Exact floating-point operations per iteration, where known.", Field::OptF64(|r| r.flops_per_iteration, |r, v| r.flops_per_iteration = v)),
    col("samples_per_iteration", "samples", "Samples per iteration (the batch), where meaningful.", Field::OptU64(|r| r.samples_per_iteration, |r, v| r.samples_per_iteration = v)),
    col("model_parameters", "", "Scalars in the model's weights, as built.", Field::OptU64(|r| r.param_count, |r, v| r.param_count = v)),
    col("weight_bytes", "bytes", "Bytes the model's weights occupy as built (dtype and quantization included).", Field::OptU64(|r| r.weight_bytes, |r, v| r.weight_bytes = v)),
    col("optimizer_state_bytes", "bytes", "Bytes of the optimizer's state.", Field::OptU64(|r| r.optimizer_state_bytes, |r, v| r.optimizer_state_bytes = v)),
    col("activation_bytes", "bytes", "Peak host bytes allocated during one forward pass (CPU cells).", Field::OptU64(|r| r.activation_bytes, |r, v| r.activation_bytes = v)),
    col("peak_rss_bytes", "bytes", "Peak resident set size of the process that ran the cell.", Field::OptU64(|r| r.peak_rss_bytes, |r, v| r.peak_rss_bytes = v)),
    col("device_allocated_bytes", "bytes", "Bytes allocated on the accelerator, where the backend reports them.", Field::OptU64(|r| r.device_allocated_bytes, |r, v| r.device_allocated_bytes = v)),
    col("cpu_ms_per_iteration", "ms", "Process CPU time (all threads) per timed iteration. With candle 0.11 it includes the time its CPU thread pool spins waiting for work between operations (up to `CANDLE_BARRIER_POOL_SPIN_LIMIT` spins, recorded in `cpu_backend`): on the 2-core machine that spin was up to 36% of a training step's CPU time (mlp-small, batch 32).", Field::OptF64(|r| r.cpu_ms_per_iteration, |r, v| r.cpu_ms_per_iteration = v)),
    col("cpu_utilization", "cores", "Process CPU time over wall time during the timed iterations (2.0 = two cores busy).", Field::OptF64(|r| r.cpu_utilization, |r, v| r.cpu_utilization = v)),
    col("prediction_error", "", "Relative L2 distance of the predictions from the f32 baseline's (optimized cells).", Field::OptF64(|r| r.prediction_error, |r, v| r.prediction_error = v)),
    opt_str("kernels", "", "Which of benchplan's own kernels the cell's timed iterations ran, with their device (`lstm-sequence (cuda)`, `attention (cuda)`, `layer-norm (cuda)`, `adamw (cuda)`, `lstm-cell (cpu)`, `linear (cpu)`, `gelu (cpu)`, …), or `candle ops` where none did. Null for `command` cells and in sets older than format 8. `BENCHPLAN_CUDA_KERNELS=candle` turns the CUDA ones off.", |r| r.kernels.as_deref(), |r, v| r.kernels = v),
    col("samples_ms", "ms", "Every timed iteration, in the order measured.", Field::Samples(|r| &r.samples_ms, |r, v| r.samples_ms = v)),
    col("warmup_samples_ms", "ms", "Every warm-up iteration (in no figure; kept to show warm-up).", Field::Samples(|r| &r.warmup_samples_ms, |r, v| r.warmup_samples_ms = v)),
    Column {
        optional: true,
        ..col("round_sample_counts", "samples", "How many of `samples_ms` each round measured, in the order the rounds ran; `samples_ms` holds the rounds' samples one after the other. Absent (one round) in sets older than format 3.", Field::Counts(|r| &r.round_sample_counts, |r, v| r.round_sample_counts = v))
    },
    Column {
        optional: true,
        ..col("round_started_s", "s", "When each round of the cell started, after `run_started_at`.", Field::Samples(|r| &r.round_started_s, |r, v| r.round_started_s = v))
    },
    Column {
        optional: true,
        ..col("round_positions", "", "The cell's place in each round's shuffled order of cells (0 = first); the order is a function of `run_started_at` and the round.", Field::Counts(|r| &r.round_positions, |r, v| r.round_positions = v))
    },
    Column {
        optional: true,
        ..col("definition_sha256", "", "SHA-256 of everything in the plan (and the files it names) that decides what the cell measures: model and dataset declarations, data values, command arguments and program, measurement settings. A run at the same commit keeps a finished row only while it matches. Null in sets older than format 4.", Field::OptStr(|r| r.definition_sha256.as_deref(), |r, v| r.definition_sha256 = v))
    },
    Column {
        optional: true,
        ..col("framework", "", "The framework that ran the model: `candle` for benchplan's own workloads, what a `command` program states in its `info` event (`PyTorch`), null where it states nothing and in sets older than format 5.", Field::OptStr(|r| r.framework.as_deref(), |r, v| r.framework = v))
    },
    Column {
        optional: true,
        ..col("framework_version", "", "That framework's version (candle's, or the program's `framework_version`).", Field::OptStr(|r| r.framework_version.as_deref(), |r, v| r.framework_version = v))
    },
    Column {
        optional: true,
        ..col("program_info", "", "A `command` program's `info` fields that benchplan does not read itself, as one JSON object (for example `{\"threads\": 16}`); null for benchplan's own workloads.", Field::OptStr(|r| r.program_info.as_deref(), |r, v| r.program_info = v))
    },
    Column {
        optional: true,
        ..col("energy_j", "J", "Energy the cell's device used over its timed iterations (every round), from a counter read at their start and end (RAPL's package counters for CPU cells, NVML's for NVIDIA GPUs, IOReport's on Apple silicon; for a `command` program, from its last warm-up to its last sample). Null where no counter resolved it: `energy_note` says why.", Field::OptF64(|r| r.energy_j, |r, v| r.energy_j = v))
    },
    Column {
        optional: true,
        ..col("energy_timed_s", "s", "Seconds of timed work `energy_j` covers.", Field::OptF64(|r| r.energy_timed_s, |r, v| r.energy_timed_s = v))
    },
    Column {
        optional: true,
        ..col("energy_source", "", "The energy counter read: `rapl` (Linux package counters), `nvml` (an NVIDIA GPU's total-energy counter), `ioreport` (Apple's energy counters), `program` (the `command` program's own figure); null where none was readable.", Field::OptStr(|r| r.energy_source.as_deref(), |r, v| r.energy_source = v))
    },
    Column {
        optional: true,
        ..col("energy_note", "", "Why `energy_j` is null: no counter on this machine (a VM without powercap), a root-only counter, a timed phase too short for the counter's update interval, a GPU older than Volta.", Field::OptStr(|r| r.energy_note.as_deref(), |r, v| r.energy_note = v))
    },
    opt_u64("gpu_sm_mhz_start", "MHz", "The GPU's SM clock when the timed iterations began (NVML; the first round's). Null on devices without a state source.", |r| r.device_state.sm_mhz_start, |r, v| r.device_state.sm_mhz_start = v),
    opt_u64("gpu_sm_mhz_end", "MHz", "The SM clock when they ended (the last round's).", |r| r.device_state.sm_mhz_end, |r, v| r.device_state.sm_mhz_end = v),
    opt_u64("gpu_memory_mhz_start", "MHz", "The memory clock when the timed iterations began.", |r| r.device_state.memory_mhz_start, |r, v| r.device_state.memory_mhz_start = v),
    opt_u64("gpu_memory_mhz_end", "MHz", "The memory clock when they ended.", |r| r.device_state.memory_mhz_end, |r, v| r.device_state.memory_mhz_end = v),
    opt_u64("gpu_temperature_c_start", "°C", "The GPU's temperature when the timed iterations began.", |r| r.device_state.temperature_c_start, |r, v| r.device_state.temperature_c_start = v),
    opt_u64("gpu_temperature_c_end", "°C", "Its temperature when they ended.", |r| r.device_state.temperature_c_end, |r, v| r.device_state.temperature_c_end = v),
    opt_f64("gpu_power_limit_w", "W", "The power limit the GPU enforced.", |r| r.device_state.power_limit_w, |r, v| r.device_state.power_limit_w = v),
    opt_str("gpu_clock_events_start", "", "NVML's clock-event reasons when the timed iterations began, comma-separated (`sw_power_cap`, `hw_slowdown`, `sw_thermal_slowdown`, `hw_thermal_slowdown`, `hw_power_brake_slowdown` are throttling; `gpu_idle`, `applications_clocks_setting`, `sync_boost` are not); empty for none; over rounds, every reason seen at a round's start.", |r| r.device_state.clock_events_start.as_deref(), |r, v| r.device_state.clock_events_start = v),
    opt_str("gpu_clock_events_end", "", "The reasons when they ended, likewise.", |r| r.device_state.clock_events_end.as_deref(), |r, v| r.device_state.clock_events_end = v),
    opt_f64("gpu_held_back_s", "s", "Seconds of the timed iterations the GPU was held back by its power or thermal limit (NVML's violation counters, every round).", |r| r.device_state.held_back_s, |r, v| r.device_state.held_back_s = v),
    opt_f64("gpu_power_integrated_j", "J", "The GPU's instantaneous power, read every 20 ms over the timed iterations and integrated: a check on `energy_j` (NVML's power reading is itself averaged over up to a second).", |r| r.device_state.power_integrated_j, |r, v| r.device_state.power_integrated_j = v),
    opt_str("device_state_note", "", "Why the device state is missing or partial (no NVML, a reading that failed).", |r| r.device_state.note.as_deref(), |r, v| r.device_state.note = v),
    Column {
        optional: true,
        ..col("throttled", "", "Whether the device was throttled during the timed iterations: held back by its power or thermal limit for more than 5% of them (NVML's violation counters), or, where those counters are missing, a throttling clock-event reason at their start or end. Null where no state was read.", Field::DerivedBool(|r| r.throttled()))
    },
    col("joules_per_sample", "J", "`energy_j` over the samples processed in the timed iterations.", Field::Derived(|r, _| r.joules_per_sample())),
    col("samples_per_joule", "samples/J", "Samples processed per joule: performance per watt.", Field::Derived(|r, _| r.samples_per_joule())),
    col("average_watts", "W", "`energy_j` over `energy_timed_s`.", Field::Derived(|r, _| r.average_watts())),
    col("measure_settings", "", "The measurement settings the cell ran with.", Field::Str(|r| &r.measure_settings, |r, v| r.measure_settings = v)),
    col("cell_started_at", "", "When the cell started, RFC 3339 UTC.", Field::Str(|r| &r.cell_started_at, |r, v| r.cell_started_at = v)),
    col("cell_wall_s", "s", "Wall time of the whole cell: set-up, warm-up and measurement.", Field::F64(|r| r.cell_wall_s, |r, v| r.cell_wall_s = v)),
    col("git_commit", "", "Full commit hash of the repository holding the plan, or `unknown` outside git.", Field::Str(|r| &r.meta.git_commit, |r, v| r.meta.git_commit = v)),
    col("git_dirty", "", "Whether tracked files differed from that commit.", Field::Bool(|r| r.meta.git_dirty, |r, v| r.meta.git_dirty = v)),
    col("plan_path", "", "The plan file as given on the command line.", Field::Str(|r| &r.meta.plan_path, |r, v| r.meta.plan_path = v)),
    col("plan_sha256", "", "SHA-256 of the plan file's bytes.", Field::Str(|r| &r.meta.plan_sha256, |r, v| r.meta.plan_sha256 = v)),
    col("hostname", "", "The host's name.", Field::Str(|r| &r.meta.hostname, |r, v| r.meta.hostname = v)),
    col("machine", "", "The machine id that names the result folder.", Field::Str(|r| &r.meta.machine, |r, v| r.meta.machine = v)),
    col("os", "", "Operating system and version.", Field::Str(|r| &r.meta.os, |r, v| r.meta.os = v)),
    col("arch", "", "CPU architecture (`x86_64`, `aarch64`).", Field::Str(|r| &r.meta.arch, |r, v| r.meta.arch = v)),
    col("cpu_model", "", "The CPU's model name.", Field::Str(|r| &r.meta.cpu_model, |r, v| r.meta.cpu_model = v)),
    col("cpu_cores", "", "Logical CPUs available to the process.", Field::U32(|r| r.meta.cpu_cores, |r, v| r.meta.cpu_cores = v)),
    col("candle_version", "", "The candle version benchplan was built with; null on `command` rows, which candle did not run (their `framework_version` says what did).", Field::OptStr(|r| (r.workload != "command").then_some(r.meta.candle_version.as_str()), |r, v| r.meta.candle_version = v.unwrap_or_default())),
    Column {
        optional: true,
        ..col("cpu_backend", "", "candle's CPU code path: matrix library, SIMD extensions, threads (`not recorded` in sets older than the column).", Field::Str(|r| &r.meta.cpu_backend, |r, v| r.meta.cpu_backend = v))
    },
    col("benchplan_version", "", "The benchplan version that measured the row.", Field::Str(|r| &r.meta.benchplan_version, |r, v| r.meta.benchplan_version = v)),
    col("run_started_at", "", "When the run started, RFC 3339 UTC.", Field::Str(|r| &r.meta.run_started_at, |r, v| r.meta.run_started_at = v)),
];

/// Prefix of the parameter columns; no fixed column may start with it.
pub const PARAM_PREFIX: &str = "param_";
/// Prefix and suffix of the per-stage sample columns: `stage_forward_ms`.
pub const STAGE_PREFIX: &str = "stage_";
pub const STAGE_SUFFIX: &str = "_ms";

/// The column families: (pattern, type, unit, meaning).
pub const FAMILIES: &[(&str, &str, &str, &str)] = &[
    (
        "param_<name>",
        "`int64`, `double`, `bool` or `string`",
        "",
        "One column per plan parameter (`param_batch`, `param_device`), typed by its values; a mix of types is stored as strings. Null where a row's cell has no such parameter.",
    ),
    (
        "stage_<name>_ms",
        "`list<double>`",
        "ms",
        "Per-stage samples of staged workloads (`pipeline`), one column per stage, in stage order. Null for rows without that stage.",
    ),
];

impl Field {
    /// The Parquet type as a reader sees it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Field::Str(..) | Field::OptStr(..) | Field::Status => "string",
            Field::Bool(..) | Field::DerivedBool(..) => "bool",
            Field::F64(..) | Field::OptF64(..) | Field::Derived(..) => "double",
            Field::OptU64(..) | Field::U32(..) | Field::DerivedCount(..) => "int64",
            Field::Samples(..) => "list<double>",
            Field::Counts(..) => "list<int64>",
        }
    }
}

impl CellRecord {
    /// A row with every field empty: what reading starts from, column by column.
    pub fn blank() -> CellRecord {
        CellRecord {
            study: String::new(),
            experiment: String::new(),
            workload: String::new(),
            cell_id: String::new(),
            cell_key: String::new(),
            params: Default::default(),
            device_kind: String::new(),
            device_name: String::new(),
            status: Status::Skipped,
            reason: None,
            samples_ms: Vec::new(),
            warmup_samples_ms: Vec::new(),
            round_sample_counts: Vec::new(),
            round_started_s: Vec::new(),
            round_positions: Vec::new(),
            definition_sha256: None,
            framework: None,
            framework_version: None,
            program_info: None,
            energy_j: None,
            energy_timed_s: None,
            energy_source: None,
            energy_note: None,
            device_state: Default::default(),
            flops_per_iteration: None,
            samples_per_iteration: None,
            param_count: None,
            weight_bytes: None,
            optimizer_state_bytes: None,
            activation_bytes: None,
            peak_rss_bytes: None,
            device_allocated_bytes: None,
            cpu_ms_per_iteration: None,
            cpu_utilization: None,
            prediction_error: None,
            kernels: None,
            stages: Vec::new(),
            measure_settings: String::new(),
            cell_started_at: String::new(),
            cell_wall_s: f64::NAN,
            meta: super::RunMetadata {
                git_commit: String::new(),
                git_dirty: false,
                plan_path: String::new(),
                plan_sha256: String::new(),
                hostname: String::new(),
                machine: String::new(),
                os: String::new(),
                arch: String::new(),
                cpu_model: String::new(),
                cpu_cores: 0,
                candle_version: String::new(),
                cpu_backend: "not recorded".to_owned(),
                benchplan_version: String::new(),
                run_started_at: String::new(),
            },
        }
    }
}

/// The results-format reference as Markdown: every column, its type, unit and meaning (the
/// book's `results-format.md` is this text; a test keeps them equal).
pub fn reference_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "<!-- generated by `benchplan schema --results`; edit src/results/schema.rs -->\n\
         | column | type | unit | meaning |\n|---|---|---|---|\n",
    );
    for c in COLUMNS {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {}{} |",
            c.name,
            c.field.type_name(),
            c.unit,
            c.doc,
            match c.field {
                Field::Derived(..) | Field::DerivedCount(..) | Field::DerivedBool(..) =>
                    " *Derived when written.*",
                _ => "",
            }
        );
        if c.name == PARAMS_AFTER {
            let (p, t, u, d) = FAMILIES[0];
            let _ = writeln!(out, "| `{p}` | {t} | {u} | {d} |");
        }
    }
    let (p, t, u, d) = FAMILIES[1];
    let _ = writeln!(out, "| `{p}` | {t} | {u} | {d} |");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_clear_of_the_families() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a column is listed twice");
        for n in names {
            assert!(!n.starts_with(PARAM_PREFIX), "{n}");
            assert!(
                !(n.starts_with(STAGE_PREFIX) && n.ends_with(STAGE_SUFFIX)),
                "{n}"
            );
        }
        assert!(COLUMNS.iter().any(|c| c.name == PARAMS_AFTER));
    }
}
