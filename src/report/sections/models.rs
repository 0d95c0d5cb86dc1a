//! Training and inference: each model configuration on each device, with cost per hour where the plan prices devices.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::CellRecord;

use super::super::view::*;

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

/// Rows of model cells of one workload (f32, float weights, composed kernels only: the
/// optimizations have their own table), one per configuration, with a column per device.
pub(in crate::report) fn model_rows(
    ok: &[&CellRecord],
    workload: &str,
    prices: &BTreeMap<String, f64>,
) -> Vec<ModelRow> {
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
