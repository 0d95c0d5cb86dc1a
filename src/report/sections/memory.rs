//! Memory of training cells: exact weight and optimizer bytes, measured activations, the
//! process's peak RSS and the accelerator's memory in use.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    pub experiment: String,
    pub framework: String,
    pub model: String,
    pub batch: Option<i64>,
    pub dtype: String,
    pub device: String,
    pub keys: Vec<(String, String)>,
    pub weight_bytes: Option<u64>,
    pub optimizer_state_bytes: Option<u64>,
    pub activation_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub device_allocated_bytes: Option<u64>,
}

pub(in crate::report) fn memory_rows(ok: &[&CellRecord]) -> Vec<MemoryRow> {
    ok.iter()
        .filter(|r| r.workload == "train")
        .map(|r| MemoryRow {
            experiment: r.experiment.clone(),
            framework: r.framework_label(),
            model: param_str(r, "model"),
            batch: param_int(r, "batch"),
            dtype: param_str(r, "dtype"),
            device: param_str(r, "device"),
            keys: keys_of(r, &super::models::MODEL_KEYS, &[]),
            weight_bytes: r.weight_bytes,
            optimizer_state_bytes: r.optimizer_state_bytes,
            activation_bytes: r.activation_bytes,
            peak_rss_bytes: r.peak_rss_bytes,
            device_allocated_bytes: r.device_allocated_bytes,
        })
        .collect()
}

pub(in crate::report) fn memory_table(rows: &[MemoryRow]) -> Option<Table> {
    let gpu = rows.iter().any(|r| r.device_allocated_bytes.is_some());
    let mut columns = vec![
        ValueColumn::number("weights"),
        ValueColumn::number("optimizer state"),
        ValueColumn::number("activations"),
        ValueColumn::number("peak RSS"),
    ];
    if gpu {
        columns.push(ValueColumn::number("GPU memory"));
    }
    let lines = rows
        .iter()
        .map(|r| {
            let mut values = vec![
                opt(r.weight_bytes, crate::format::bytes),
                opt(r.optimizer_state_bytes, crate::format::bytes),
                opt(r.activation_bytes, crate::format::bytes),
                opt(r.peak_rss_bytes, crate::format::bytes),
            ];
            if gpu {
                values.push(opt(r.device_allocated_bytes, crate::format::bytes));
            }
            KeyedRow {
                keys: r.keys.clone(),
                values,
            }
        })
        .collect();
    Table::build(lines, columns)
}
