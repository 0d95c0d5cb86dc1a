//! Running cells: open the device, prepare the workload, warm up, measure, and turn the
//! outcome into a [`CellRecord`]. Observers (progress, results writer) hear every step.
//!
//! A cell that fails — an error from candle, a panic inside a kernel, a timeout — becomes a
//! `failed` row with its message, and the run goes on.

mod child;
pub mod command;
pub mod events;
pub mod measure;
pub mod plan_run;
pub mod progress;
pub mod resume;
pub mod rounds;
pub mod sink;
pub mod worker;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use candle_core::Device;

use crate::device::{hardware_name, DeviceKind, DeviceSpec};
use crate::memory;
use crate::plan::measure::format_duration;
use crate::plan::{Cell, Plan};
use crate::results::metadata::rfc3339;
use crate::results::{CellRecord, RunMetadata, Status};
use crate::workload::{self, BenchInfo};
use events::{Event, Observer, RunSummary};
use measure::{measure, Samples, Stopped};

/// How a run treats devices it cannot use.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Record cells on devices this build lacks, or this machine lacks, as `skipped` (the
    /// portable `gpu` device is always treated so).
    pub skip_unavailable: bool,
    /// Run cells (but `command` cells, which are child processes already) in a worker process
    /// per round: see [`worker`].
    pub isolate: bool,
}

/// Runs `cells` of `plan` and reports to `observers`: round after round (see [`rounds`]), each
/// round visiting the cells in its own shuffled order, each cell's row growing by one round at
/// a time. A cell that fails or is skipped in a round is not run again.
pub fn run(
    plan: &Plan,
    cells: &[Cell],
    meta: &RunMetadata,
    options: RunOptions,
    observers: &mut [&mut dyn Observer],
) -> Result<RunSummary> {
    let track = Track {
        plan,
        cells,
        meta,
        exe: None,
    };
    run_tracks(&[track], options, observers, &mut [])
}

/// Refuses devices this build or machine lacks for `cells`, naming them. A `command` cell's
/// program opens its own device; benchplan does not.
pub fn check_devices(cells: &[Cell]) -> Result<()> {
    crate::device::check_available(
        cells
            .iter()
            .filter(|c| c.workload != crate::plan::WorkloadKind::Command)
            .map(|c| c.str_param("device")),
    )
}

/// One side of an interleaved run: a plan (from one revision's tree), its cells, the metadata
/// its rows record, and the benchplan executable whose workers run its built-in cells.
pub struct Track<'a> {
    pub plan: &'a Plan,
    pub cells: &'a [Cell],
    pub meta: &'a RunMetadata,
    /// `None`: this executable.
    pub exe: Option<&'a Path>,
}

/// Runs several tracks whose cells match by position (the same cell of two revisions) inside
/// the same rounds: in every round, each cell of the shuffled order runs once per track, back
/// to back, the track that goes first alternating from round to round, so that whatever the
/// machine does over the minutes of the run falls on every track alike. `shared` observers
/// hear every event; `own[k]` (when given) hears only track `k`'s, and the end.
pub fn run_tracks(
    tracks: &[Track],
    options: RunOptions,
    shared: &mut [&mut dyn Observer],
    own: &mut [&mut dyn Observer],
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut emit = |track: Option<usize>, event: Event| -> Result<()> {
        for o in shared.iter_mut() {
            o.on_event(&event)?;
        }
        for (k, o) in own.iter_mut().enumerate() {
            if track.is_none_or(|t| t == k) {
                o.on_event(&event)?;
            }
        }
        Ok(())
    };
    let planned = |c: &Cell| c.measure.effective_rounds() as usize;
    let limit = |c: &Cell| c.measure.round_limit() as usize;
    let n = tracks.iter().map(|t| t.cells.len()).min().unwrap_or(0);
    let total: usize = tracks.iter().flat_map(|t| &t.cells[..n]).map(planned).sum();
    for (k, t) in tracks.iter().enumerate() {
        emit(
            Some(k),
            Event::Started {
                total,
                cells: &t.cells[..n],
            },
        )?;
    }
    let mut summary = RunSummary {
        total: n * tracks.len(),
        ..RunSummary::default()
    };
    let mut devices: HashMap<DeviceSpec, Device> = HashMap::new();
    // Each cell's definition fingerprint, taken once as the run starts: the row records what
    // it was measured from (resume compares it with the plan's next version).
    let definitions: Vec<Vec<String>> = tracks
        .iter()
        .map(|t| {
            t.cells[..n]
                .iter()
                .map(|c| crate::plan::definition::definition_sha256(t.plan, c))
                .collect()
        })
        .collect();
    let mut rows: Vec<Vec<Option<CellRecord>>> = vec![vec![None; n]; tracks.len()];
    // The rounds each cell is to get: its planned rounds, raised one at a time (up to its
    // limit) while a `target_ci` is not met (see `rounds::precise_enough`).
    let mut target: Vec<usize> = tracks[0].cells[..n].iter().map(planned).collect();
    let most_rounds = tracks
        .iter()
        .flat_map(|t| &t.cells[..n])
        .map(limit)
        .max()
        .unwrap_or(0);
    let mut index = 0;
    for round in 0..most_rounds {
        if target.iter().all(|&t| round >= t) {
            break;
        }
        // Isolated cells of a round run in one worker process per track, replaced after a
        // failure.
        let mut round_workers: Vec<Option<worker::Worker>> = tracks.iter().map(|_| None).collect();
        let order = rounds::order(n, &tracks[0].meta.run_started_at, round);
        for (position, &i) in order.iter().enumerate() {
            if round >= target[i] {
                continue;
            }
            // (track, index of its cell-round) of each track that ran the cell this round.
            let mut ran = Vec::new();
            for visit in 0..tracks.len() {
                let k = (visit + round + i) % tracks.len();
                let Track {
                    plan, cells, meta, ..
                } = tracks[k];
                let cell = &cells[i];
                let ended = rows[k][i].as_ref().is_some_and(|r| r.status != Status::Ok);
                if ended {
                    continue;
                }
                let place = rounds::RoundPlace {
                    round,
                    rounds: target[i],
                    position: position * tracks.len() + visit,
                    started_s: started.elapsed().as_secs_f64(),
                };
                let one_round = Cell {
                    measure: cell.measure.for_round(),
                    ..cell.clone()
                };
                emit(
                    Some(k),
                    Event::CellStarted {
                        index,
                        cell,
                        round,
                        rounds: place.rounds,
                    },
                )?;
                let mut sample_error = None;
                let record = if options.isolate
                    && cell.workload != crate::plan::WorkloadKind::Command
                {
                    worker::run_cell(&mut round_workers[k], tracks[k].exe, plan, &one_round, meta)
                } else {
                    run_cell(
                        plan,
                        &one_round,
                        meta,
                        options,
                        &mut devices,
                        &mut |samples_ms| {
                            if sample_error.is_none() {
                                sample_error =
                                    emit(Some(k), Event::Sample { cell, samples_ms }).err();
                            }
                        },
                    )
                };
                if let Some(e) = sample_error {
                    return Err(e);
                }
                summary.measured_s += (record.samples_ms.iter().sum::<f64>()
                    + record.warmup_samples_ms.iter().sum::<f64>())
                    / 1e3;
                let mut row = rounds::fold(rows[k][i].take(), record, place);
                // The row describes the cell's settings, not one round's share of them.
                row.measure_settings = cell.measure.describe();
                row.definition_sha256 = Some(definitions[k][i].clone());
                rows[k][i] = Some(row);
                ran.push((k, index));
                index += 1;
            }
            // One more round for every track of the cell while its target is not met.
            let cell = &tracks[0].cells[i];
            if let Some(ci) = cell.measure.target_ci {
                let these: Vec<Option<&CellRecord>> = rows.iter().map(|r| r[i].as_ref()).collect();
                let all_ok = these
                    .iter()
                    .all(|r| r.is_some_and(|r| r.status == Status::Ok));
                if round + 1 == target[i]
                    && round + 1 < limit(cell)
                    && all_ok
                    && !rounds::precise_enough(&these, ci)
                {
                    target[i] += 1;
                }
            }
            for (k, index) in ran {
                emit(
                    Some(k),
                    Event::CellFinished {
                        index,
                        record: &rounds::judged(rows[k][i].as_ref().expect("just measured")),
                        round,
                        rounds: target[i],
                    },
                )?;
            }
        }
    }
    for row in rows.iter().flatten().flatten() {
        match row.status {
            Status::Ok => summary.ok += 1,
            Status::Failed => summary.failed += 1,
            Status::Skipped => summary.skipped += 1,
        }
    }
    summary.wall_s = started.elapsed().as_secs_f64();
    emit(None, Event::Finished { summary: &summary })?;
    Ok(summary)
}

/// Runs one cell in this process, as a run would, for a worker process of an isolated run;
/// `devices` keeps the devices the worker opened (one context per worker, not per cell).
/// Devices this machine lacks make the cell `skipped`: the parent run already refused them
/// where it had to.
pub fn run_one(
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
    devices: &mut HashMap<DeviceSpec, Device>,
) -> CellRecord {
    let options = RunOptions {
        skip_unavailable: true,
        isolate: false,
    };
    run_cell(plan, cell, meta, options, devices, &mut |_| {})
}

/// What became of one cell before it is written down.
struct Outcome {
    status: Status,
    reason: Option<String>,
    samples: Samples,
    info: BenchInfo,
    stages: Vec<(String, Vec<f64>)>,
    device_allocated_bytes: Option<u64>,
    /// Peak RSS of the process that ran the cell, where it was not this one (a `command`).
    peak_rss_bytes: Option<u64>,
    /// What a `command` program said of itself; `None` for benchplan's own workloads.
    program: Option<command::ProgramFacts>,
}

impl Outcome {
    fn failed(reason: String) -> Outcome {
        Outcome {
            status: Status::Failed,
            reason: Some(reason),
            samples: Samples::default(),
            info: BenchInfo::default(),
            stages: Vec::new(),
            device_allocated_bytes: None,
            peak_rss_bytes: None,
            program: None,
        }
    }

    fn skipped(reason: String) -> Outcome {
        Outcome {
            status: Status::Skipped,
            ..Outcome::failed(reason)
        }
    }
}

/// An error message without the backtrace candle appends when `RUST_BACKTRACE` is set: a
/// result row keeps what happened, not where in candle it happened.
fn clean_message(message: &str) -> String {
    let is_frame = |l: &str| {
        let t = l.trim_start();
        t.eq_ignore_ascii_case("stack backtrace:")
            || t.split_once(':')
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    let kept: Vec<&str> = message.lines().take_while(|l| !is_frame(l)).collect();
    kept.join("\n").trim().to_owned()
}

/// Whether an error says the backend lacks an operation or dtype, rather than that something
/// went wrong: such a cell is `skipped` with the reason, and the run stays green.
fn is_unsupported(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "unsupported dtype",
        "not implemented",
        "no cuda implementation",
        "no metal implementation",
        "not supported",
        "does not support",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn run_cell(
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
    options: RunOptions,
    devices: &mut HashMap<DeviceSpec, Device>,
    on_sample: &mut dyn FnMut(&[f64]),
) -> CellRecord {
    let cell_start = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let spec =
        DeviceSpec::parse(cell.str_param("device")).expect("devices are checked with the plan");
    let rss_is_per_cell = memory::reset_peak_rss();
    let portable = matches!(spec.kind, DeviceKind::Gpu | DeviceKind::Auto);
    // Until a device is opened, only the CPU's hardware is known.
    let mut device_name = if spec.kind == DeviceKind::Cpu {
        meta.cpu_model.clone()
    } else {
        "not available".to_owned()
    };
    let mut device_kind = spec.kind;
    let command = plan
        .experiments
        .iter()
        .find(|e| e.name == cell.experiment)
        .and_then(|e| e.command.as_deref());
    let outcome = if let Some(template) = command {
        // The program opens its own device; benchplan neither checks nor opens it.
        let (outcome, name) = command::run(
            plan,
            cell,
            template,
            cell_start,
            program_target(&spec),
            on_sample,
        );
        device_name = name.unwrap_or_else(|| match spec.kind {
            DeviceKind::Cpu => meta.cpu_model.clone(),
            _ => "unknown (the program did not report `device_name`)".to_owned(),
        });
        outcome
    } else {
        match (spec.check_supported_by_build(), spec.resolve()) {
            (Err(why), _) => Outcome::skipped(why.replace('\n', "; ")),
            (Ok(()), Err(why)) => Outcome::skipped(format!("device `{spec}`: {why}")),
            (Ok(()), Ok(concrete)) => match open_device(devices, concrete) {
                Err(e) if options.skip_unavailable || portable => Outcome::skipped(format!(
                    "device `{concrete}` is not available: {}",
                    clean_message(&e.to_string())
                )),
                Err(e) => Outcome::failed(format!(
                    "cannot open device `{concrete}`: {}",
                    clean_message(&e.to_string())
                )),
                Ok(device) => {
                    device_kind = concrete.kind;
                    device_name = hardware_name(&device, &meta.cpu_model);
                    let attempt = catch_unwind(AssertUnwindSafe(|| {
                        measure_cell(plan, cell, &device, cell_start, on_sample)
                    }));
                    attempt.unwrap_or_else(|payload| {
                        Outcome::failed(format!(
                            "panicked: {}",
                            crate::contain::panic_message(payload.as_ref())
                                .unwrap_or_else(|| "unknown panic".to_owned())
                        ))
                    })
                }
            },
        }
    };
    // Without a per-cell reset (outside Linux) the figure is the process's peak so far: an
    // upper bound, recorded because nothing better exists there.
    let peak_rss_bytes = if command.is_some() {
        outcome.peak_rss_bytes
    } else {
        memory::peak_rss_bytes().filter(|_| rss_is_per_cell || cfg!(not(target_os = "linux")))
    };
    let record = record_of(plan, cell, meta, outcome, device_kind, device_name);
    CellRecord {
        peak_rss_bytes,
        cell_started_at: started_at,
        cell_wall_s: cell_start.elapsed().as_secs_f64(),
        ..record
    }
}

/// The row of `cell` from what became of it. Peak RSS, start time and wall time are the
/// caller's to set: only it knows which process and which span they cover.
fn record_of(
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
    outcome: Outcome,
    device_kind: DeviceKind,
    device_name: String,
) -> CellRecord {
    let n = outcome.samples.timed_ms.len();
    let cpu_ms_per_iteration = outcome
        .samples
        .timed_cpu_ms
        .filter(|_| n > 0)
        .map(|c| c / n as f64);
    let cpu_utilization = outcome
        .samples
        .timed_cpu_ms
        .filter(|_| outcome.samples.timed_wall_ms > 0.0)
        .map(|c| c / outcome.samples.timed_wall_ms);
    // benchplan's own workloads run on candle; a program says what it runs on, or nothing.
    let is_command = cell.workload.name() == "command";
    let program = outcome.program.unwrap_or_default();
    let (framework, framework_version) = if is_command {
        (program.framework, program.framework_version)
    } else {
        (Some("candle".to_owned()), Some(meta.candle_version.clone()))
    };
    // Energy and device state of the timed iterations: read around benchplan's own loop, and
    // around a program's timed phase (its last warm-up to its last sample).
    let reading = if outcome.samples.timed_ms.is_empty() {
        crate::energy::PhaseReading {
            energy: crate::energy::Energy::none(None, "no timed iterations"),
            state: Default::default(),
        }
    } else {
        (*outcome.samples.phase).clone()
    };
    let energy = reading.energy;
    CellRecord {
        study: plan.name.clone(),
        experiment: cell.experiment.clone(),
        workload: cell.workload.name().to_owned(),
        cell_id: cell.id.clone(),
        cell_key: cell.key(),
        params: cell.params.clone(),
        device_kind: device_kind.name().to_owned(),
        device_name,
        status: outcome.status,
        reason: outcome.reason,
        samples_ms: outcome.samples.timed_ms,
        warmup_samples_ms: outcome.samples.warmup_ms,
        round_sample_counts: Vec::new(),
        round_started_s: Vec::new(),
        round_positions: Vec::new(),
        definition_sha256: None,
        framework,
        framework_version,
        program_info: program.other_info,
        energy_j: energy.joules,
        energy_timed_s: energy.seconds,
        energy_source: energy.source,
        energy_note: energy.note,
        device_state: reading.state,
        flops_per_iteration: outcome.info.flops_per_iteration,
        samples_per_iteration: outcome.info.samples_per_iteration,
        param_count: outcome.info.param_count,
        weight_bytes: outcome.info.weight_bytes,
        optimizer_state_bytes: outcome.info.optimizer_state_bytes,
        activation_bytes: outcome.info.activation_bytes,
        peak_rss_bytes: outcome.peak_rss_bytes,
        device_allocated_bytes: outcome.device_allocated_bytes,
        cpu_ms_per_iteration,
        cpu_utilization,
        prediction_error: outcome.info.prediction_error,
        kernels: outcome.info.kernels,
        stages: outcome.stages,
        measure_settings: cell.measure.describe(),
        cell_started_at: String::new(),
        cell_wall_s: 0.0,
        meta: row_meta(meta, is_command),
    }
}

/// The device a program's energy and state are read on: the plan's device, where it names one.
fn program_target(spec: &DeviceSpec) -> Result<crate::energy::Target, String> {
    match spec.kind {
        DeviceKind::Cpu => Ok(crate::energy::Target::Cpu),
        DeviceKind::Cuda => Ok(crate::energy::Target::cuda_ordinal(spec.ordinal)),
        DeviceKind::Metal => Ok(crate::energy::Target::Apple),
        // `gpu` and `auto` name whatever accelerator the machine has, as the program finds it:
        // an NVIDIA GPU where NVML sees one, Apple's on a Mac.
        DeviceKind::Gpu | DeviceKind::Auto => {
            if cfg!(target_os = "macos") {
                Ok(crate::energy::Target::Apple)
            } else if crate::energy::nvml::gpu_count() > 0 {
                Ok(crate::energy::Target::cuda_ordinal(spec.ordinal))
            } else if spec.kind == DeviceKind::Auto {
                Ok(crate::energy::Target::Cpu)
            } else {
                Err(format!(
                    "the plan's device `{spec}` names an accelerator, and NVML sees no NVIDIA GPU here, so benchplan reads no energy around the program"
                ))
            }
        }
    }
}

/// The run's facts as a row states them: a program's row has no candle version (candle did
/// not run it; its `framework_version` says what did), as it is stored.
pub(crate) fn row_meta(meta: &RunMetadata, is_command: bool) -> RunMetadata {
    let mut m = meta.clone();
    if is_command {
        m.candle_version.clear();
    }
    m
}

/// A `failed` row for `cell` that measured nothing (its process died), on the device its
/// parameters name.
pub(crate) fn failed_record(
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
    reason: String,
    device_name: &str,
) -> CellRecord {
    let kind = cell
        .get("device")
        .and_then(|d| d.as_str())
        .and_then(|d| DeviceSpec::parse(d).ok())
        .map_or(DeviceKind::Cpu, |s| s.kind);
    record_of(
        plan,
        cell,
        meta,
        Outcome::failed(reason),
        kind,
        device_name.to_owned(),
    )
}

fn open_device(
    devices: &mut HashMap<DeviceSpec, Device>,
    spec: DeviceSpec,
) -> candle_core::Result<Device> {
    if let Some(d) = devices.get(&spec) {
        return Ok(d.clone());
    }
    let device = spec.open()?;
    devices.insert(spec, device.clone());
    Ok(device)
}

fn measure_cell(
    plan: &Plan,
    cell: &Cell,
    device: &Device,
    cell_start: Instant,
    on_sample: &mut dyn FnMut(&[f64]),
) -> Outcome {
    let device_name = cell.str_param("device");
    let dtype = cell.params.get("dtype").and_then(|v| v.as_str());
    if let Some(why) = workload::capability::lacks(device, dtype) {
        return Outcome::skipped(format!("not supported on `{device_name}`: {why}"));
    }
    let prepared = match workload::prepare(cell, plan, device) {
        Ok(p) => p,
        Err(e) => {
            let message = clean_message(&format!("{e:#}"));
            return if is_unsupported(&message) {
                Outcome::skipped(format!("not supported on `{device_name}`: {message}"))
            } else {
                Outcome::failed(format!("set-up failed: {message}"))
            };
        }
    };
    let mut bench = prepared.bench;
    // After set-up, which may run other models (the f32 baseline of prediction_error).
    workload::kernels::reset_taken();
    let result = measure(bench.as_mut(), device, &cell.measure, cell_start, on_sample);
    let mut info = prepared.info;
    info.kernels = Some(workload::kernels::taken());
    let stages = bench.stages();
    // While the cell's model and inputs still live on the device.
    let device_allocated_bytes = crate::device::device_allocated_bytes(device);
    let result = result.map_err(|stopped| match stopped {
        Stopped::Error(message, samples) => Stopped::Error(clean_message(&message), samples),
        other => other,
    });
    let (status, reason, samples) = match result {
        Ok(samples) => (Status::Ok, None, samples),
        Err(Stopped::Error(message, samples)) if is_unsupported(&message) => (
            Status::Skipped,
            Some(format!("not supported on `{device_name}`: {message}")),
            samples,
        ),
        Err(Stopped::Error(message, samples)) => (Status::Failed, Some(message), samples),
        Err(Stopped::Timeout(limit, samples)) => (
            Status::Failed,
            Some(format!(
                "timed out: still running after {} ({} samples kept); raise `timeout` or lower `iterations`",
                format_duration(limit),
                samples.timed_ms.len()
            )),
            samples,
        ),
    };
    Outcome {
        status,
        reason,
        samples,
        info,
        stages,
        device_allocated_bytes,
        peak_rss_bytes: None,
        program: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_are_cut_from_reasons() {
        let m = "unsupported dtype BF16 for op matmul\n   0: candle_core::error::Error::bt\n   1: foo\n";
        assert_eq!(clean_message(m), "unsupported dtype BF16 for op matmul");
        assert_eq!(clean_message("a: b\nc"), "a: b\nc");
        assert!(is_unsupported("unsupported dtype BF16 for op matmul"));
        // One wording per backend, as candle 0.11 raises them.
        assert!(is_unsupported(
            "the accelerate backend does not support f16 matmul"
        ));
        assert!(is_unsupported(
            "Metal contiguous affine BF16 not implemented"
        ));
        assert!(is_unsupported(
            "no cuda implementation for conv-transpose1d"
        ));
        assert!(is_unsupported("no metal implementation for rotary-emb"));
        assert!(!is_unsupported("shape mismatch in matmul"));
    }
}
