//! Data loading: each loader configuration by the wait for its next batch and the rate it
//! sustains.

use serde::Serialize;

use crate::plan::ParamValue;
use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    /// The cell the row shows (for an optimization: the optimized cell).
    pub cell_id: String,
    pub experiment: String,
    pub workers: i64,
    pub prefetch: i64,
    pub batch: i64,
    pub jitter: f64,
    pub data: String,
    pub device: String,
    pub keys: Vec<(String, String)>,
    pub wait: Figure,
    /// Sustained: samples over the total time of the timed iterations (a loader's rate; its
    /// median wait says nothing of it).
    pub samples_per_s: Option<f64>,
    pub cpu_utilization: Option<f64>,
    /// Throughput divided by worker count (workers = 0 counts as one thread).
    pub samples_per_s_per_worker: Option<f64>,
}

/// The order of a loader row's parameters in its table.
pub(in crate::report) const LOAD_KEYS: [&str; 6] =
    ["workers", "prefetch", "batch", "jitter", "data", "device"];

pub(in crate::report) fn load_rows(ok: &[&CellRecord]) -> Vec<LoadRow> {
    ok.iter()
        .filter(|r| r.workload == "dataload")
        .filter_map(|r| {
            let workers = param_int(r, "workers")?;
            let samples_per_s = r.sustained_samples_per_s();
            Some(LoadRow {
                cell_id: r.cell_id.clone(),
                experiment: r.experiment.clone(),
                workers,
                prefetch: param_int(r, "prefetch")?,
                batch: param_int(r, "batch")?,
                jitter: match r.params.get("jitter") {
                    Some(ParamValue::Float(x)) => *x,
                    _ => 0.0,
                },
                data: param_str(r, "data"),
                device: param_str(r, "device"),
                keys: keys_of(r, &LOAD_KEYS, &[]),
                wait: Figure::of(r)?,
                samples_per_s,
                cpu_utilization: r.cpu_utilization,
                samples_per_s_per_worker: samples_per_s.map(|s| s / workers.max(1) as f64),
            })
        })
        .collect()
}

pub(in crate::report) fn load_table(rows: &[LoadRow]) -> Option<Table> {
    let lines = rows
        .iter()
        .map(|r| KeyedRow {
            keys: r.keys.clone(),
            values: vec![
                fig_text(&r.wait),
                opt(r.samples_per_s, |x| crate::format::rate(x, "samples")),
                opt(r.samples_per_s_per_worker, |x| {
                    crate::format::rate(x, "samples")
                }),
                opt(r.cpu_utilization, |x| format!("{x:.2}")),
            ],
        })
        .collect();
    Table::build(
        lines,
        vec![
            ValueColumn::text("wait per batch"),
            ValueColumn::number("samples/s (sustained)"),
            ValueColumn::number("per worker"),
            ValueColumn::number("CPU use"),
        ],
    )
}
