//! Data loading: each loader configuration by its rate.

use serde::Serialize;

use crate::plan::ParamValue;
use crate::results::CellRecord;

use super::super::view::*;

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

pub(in crate::report) fn load_rows(ok: &[&CellRecord]) -> Vec<LoadRow> {
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
