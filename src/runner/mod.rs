//! Running cells: open the device, prepare the workload, warm up, measure, and turn the
//! outcome into a [`CellRecord`]. Observers (progress, results writer) hear every step.
//!
//! A cell that fails — an error from candle, a panic inside a kernel, a timeout — becomes a
//! `failed` row with its message, and the run goes on.

pub mod events;
pub mod measure;
pub mod progress;
pub mod sink;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime};

use anyhow::Result;
use candle_core::Device;

use crate::device::{hardware_name, DeviceSpec};
use crate::plan::measure::format_duration;
use crate::plan::{Cell, Plan};
use crate::results::metadata::rfc3339;
use crate::results::{CellRecord, RunMetadata, Status};
use crate::workload::{self, BenchInfo};
use events::{Event, Observer, RunSummary};
use measure::{measure, Samples, Stopped};

/// Runs `cells` of `plan` in order and reports to `observers`.
pub fn run(
    plan: &Plan,
    cells: &[Cell],
    meta: &RunMetadata,
    observers: &mut [&mut dyn Observer],
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut emit = |event: Event| -> Result<()> {
        for o in observers.iter_mut() {
            o.on_event(&event)?;
        }
        Ok(())
    };
    emit(Event::Started { total: cells.len() })?;
    let mut summary = RunSummary {
        total: cells.len(),
        ..RunSummary::default()
    };
    let mut devices: HashMap<DeviceSpec, Device> = HashMap::new();
    for (index, cell) in cells.iter().enumerate() {
        emit(Event::CellStarted { index, cell })?;
        let mut sample_error = None;
        let record = run_cell(plan, cell, meta, &mut devices, &mut |samples_ms| {
            if sample_error.is_none() {
                sample_error = emit(Event::Sample { cell, samples_ms }).err();
            }
        });
        if let Some(e) = sample_error {
            return Err(e);
        }
        match record.status {
            Status::Ok => summary.ok += 1,
            Status::Failed => summary.failed += 1,
            Status::Skipped => summary.skipped += 1,
        }
        emit(Event::CellFinished {
            index,
            record: &record,
        })?;
    }
    summary.wall_s = started.elapsed().as_secs_f64();
    emit(Event::Finished { summary: &summary })?;
    Ok(summary)
}

/// What became of one cell before it is written down.
struct Outcome {
    status: Status,
    reason: Option<String>,
    samples: Samples,
    info: BenchInfo,
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

fn run_cell(
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
    devices: &mut HashMap<DeviceSpec, Device>,
    on_sample: &mut dyn FnMut(&[f64]),
) -> CellRecord {
    let cell_start = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let spec =
        DeviceSpec::parse(cell.str_param("device")).expect("devices are checked with the plan");
    let outcome = match open_device(devices, spec) {
        Err(e) => Outcome {
            status: Status::Failed,
            reason: Some(format!("cannot open device `{spec}`: {e}")),
            samples: Samples::default(),
            info: BenchInfo::default(),
        },
        Ok(device) => {
            let attempt = catch_unwind(AssertUnwindSafe(|| {
                measure_cell(plan, cell, &device, cell_start, on_sample)
            }));
            attempt.unwrap_or_else(|payload| Outcome {
                status: Status::Failed,
                reason: Some(format!("panicked: {}", panic_message(payload))),
                samples: Samples::default(),
                info: BenchInfo::default(),
            })
        }
    };
    CellRecord {
        study: plan.name.clone(),
        experiment: cell.experiment.clone(),
        workload: cell.workload.name().to_owned(),
        cell_id: cell.id.clone(),
        cell_key: cell.key(),
        params: cell.params.clone(),
        device_kind: spec.kind.name().to_owned(),
        device_name: hardware_name(&spec, &meta.cpu_model),
        status: outcome.status,
        reason: outcome.reason,
        samples_ms: outcome.samples.timed_ms,
        warmup_samples_ms: outcome.samples.warmup_ms,
        flops_per_iteration: outcome.info.flops_per_iteration,
        samples_per_iteration: outcome.info.samples_per_iteration,
        param_count: outcome.info.param_count,
        weight_bytes: outcome.info.weight_bytes,
        measure_settings: cell.measure.describe(),
        cell_started_at: started_at,
        cell_wall_s: cell_start.elapsed().as_secs_f64(),
        meta: meta.clone(),
    }
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
    let prepared = match workload::prepare(cell, plan, device) {
        Ok(p) => p,
        Err(e) => {
            return Outcome {
                status: Status::Failed,
                reason: Some(format!("set-up failed: {e:#}")),
                samples: Samples::default(),
                info: BenchInfo::default(),
            }
        }
    };
    let mut bench = prepared.bench;
    match measure(bench.as_mut(), device, &cell.measure, cell_start, on_sample) {
        Ok(samples) => Outcome {
            status: Status::Ok,
            reason: None,
            samples,
            info: prepared.info,
        },
        Err(Stopped::Error(message, samples)) => Outcome {
            status: Status::Failed,
            reason: Some(message),
            samples,
            info: prepared.info,
        },
        Err(Stopped::Timeout(limit, samples)) => Outcome {
            status: Status::Failed,
            reason: Some(format!(
                "timed out: still running after {} ({} samples kept); raise `timeout` or lower `iterations`",
                format_duration(limit),
                samples.timed_ms.len()
            )),
            samples,
            info: prepared.info,
        },
    }
}
