//! Training and inference: each model configuration on each device, one row per cell, with
//! the CPU's time over an accelerator's and the cost per million samples where the plan prices
//! devices. Cells of any framework (candle, or a `command` program that measures the same
//! workload) stand side by side, labelled by framework.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

/// One cell of a model configuration (training or inference).
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// The cell the row shows (for an optimization: the optimized cell).
    pub cell_id: String,
    pub experiment: String,
    /// Who ran it: `candle 0.11.1`, `PyTorch 2.11.0`.
    pub framework: String,
    pub model: String,
    pub batch: Option<i64>,
    pub dtype: String,
    pub data: String,
    pub device: String,
    /// Every key of the row (experiment, framework, parameters), for tables and charts.
    pub keys: Vec<(String, String)>,
    pub time: Figure,
    /// Samples per second at the median time.
    pub samples_per_s: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub activation_bytes: Option<u64>,
    pub device_allocated_bytes: Option<u64>,
    /// The CPU's median time over this device's, for accelerators measured beside a CPU in the
    /// same configuration (same experiment and parameters but the device).
    pub speedup_over_cpu: Option<f64>,
    /// Its 95% interval, conservatively combined (the CPU's interval over this device's), where
    /// both times have one.
    pub speedup_over_cpu_interval: Option<(f64, f64)>,
    /// What a million samples cost at this throughput, where the plan prices the device.
    pub cost_per_million_samples: Option<f64>,
    /// Energy per sample over the timed iterations, joules, where a counter resolved it.
    pub joules_per_sample: Option<f64>,
    /// Samples per joule (performance per watt).
    pub samples_per_joule: Option<f64>,
}

/// The order of a model row's parameters in its table.
pub(in crate::report) const MODEL_KEYS: [&str; 5] = ["model", "batch", "dtype", "data", "device"];

/// Rows of model cells of one workload (f32, float weights, composed kernels only: the
/// optimizations have their own table), one per cell.
pub(in crate::report) fn model_rows(
    ok: &[&CellRecord],
    workload: &str,
    prices: &BTreeMap<String, f64>,
) -> Vec<ModelRow> {
    let mut rows: Vec<ModelRow> = ok
        .iter()
        .filter(|r| r.workload == workload && is_baseline(r))
        .filter_map(|r| {
            let time = Figure::of(r)?;
            let device = param_str(r, "device");
            let samples_per_s = r.samples_per_s();
            Some(ModelRow {
                cell_id: r.cell_id.clone(),
                experiment: r.experiment.clone(),
                framework: r.framework_label(),
                model: param_str(r, "model"),
                batch: param_int(r, "batch"),
                dtype: param_str(r, "dtype"),
                data: param_str(r, "data"),
                keys: keys_of(r, &MODEL_KEYS, &[]),
                cost_per_million_samples: prices
                    .get(&device)
                    .zip(samples_per_s)
                    .map(|(price, rate)| price / 3600.0 / rate * 1e6),
                device,
                time,
                samples_per_s,
                peak_rss_bytes: r.peak_rss_bytes,
                activation_bytes: r.activation_bytes,
                device_allocated_bytes: r.device_allocated_bytes,
                speedup_over_cpu: None,
                speedup_over_cpu_interval: None,
                joules_per_sample: r.joules_per_sample(),
                samples_per_joule: r.samples_per_joule(),
            })
        })
        .collect();
    let without_device = |row: &ModelRow| -> Vec<(String, String)> {
        row.keys
            .iter()
            .filter(|(k, _)| k != "device")
            .cloned()
            .collect()
    };
    let cpu: Vec<(Vec<(String, String)>, Figure)> = rows
        .iter()
        .filter(|r| r.device == "cpu")
        .map(|r| (without_device(r), r.time.clone()))
        .collect();
    for row in rows.iter_mut().filter(|r| r.device != "cpu") {
        let same = without_device(row);
        if let Some((_, c)) = cpu.iter().find(|(k, _)| *k == same) {
            let t = &row.time;
            row.speedup_over_cpu = Some(c.median / t.median);
            row.speedup_over_cpu_interval = (|| Some((c.low? / t.high?, c.high? / t.low?)))();
        }
    }
    rows
}

/// The training or inference table: time (latency and p95 for inference), throughput, the
/// speed-up over the CPU where any row has one, memory, and cost where priced.
pub(in crate::report) fn model_table(
    rows: &[ModelRow],
    inference: bool,
    priced: bool,
) -> Option<Table> {
    let any_speedup = rows.iter().any(|r| r.speedup_over_cpu.is_some());
    let mut columns = vec![ValueColumn::text(if inference {
        "latency"
    } else {
        "time per step"
    })];
    if inference {
        columns.push(ValueColumn::number("p95"));
    }
    columns.push(ValueColumn::number("samples/s"));
    if any_speedup {
        columns.push(ValueColumn::number("speed-up over CPU"));
    }
    if !inference {
        columns.push(ValueColumn::number("peak RSS"));
    }
    let energy = rows.iter().any(|r| r.joules_per_sample.is_some());
    if energy {
        columns.push(ValueColumn::number("energy per sample"));
        columns.push(ValueColumn::number("samples/J"));
    }
    if priced {
        columns.push(ValueColumn::number("cost per 1M samples"));
    }
    let lines = rows
        .iter()
        .map(|r| {
            let mut values = vec![fig_text(&r.time)];
            if inference {
                values.push(crate::format::duration_ms(r.time.p95));
            }
            values.push(opt(r.samples_per_s, |x| crate::format::rate(x, "samples")));
            if any_speedup {
                values.push(opt(r.speedup_over_cpu, ratio_text));
            }
            if !inference {
                values.push(opt(r.peak_rss_bytes, crate::format::bytes));
            }
            if energy {
                values.push(opt(r.joules_per_sample, |j| {
                    format!("{} mJ", crate::format::sig3(j * 1e3))
                }));
                values.push(opt(r.samples_per_joule, crate::format::sig3));
            }
            if priced {
                values.push(opt(r.cost_per_million_samples, |c| format!("{c:.3}")));
            }
            KeyedRow {
                keys: r.keys.clone(),
                values,
            }
        })
        .collect();
    Table::build(lines, columns)
}
