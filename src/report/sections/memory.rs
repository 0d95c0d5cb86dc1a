//! Memory per cell: weights, optimizer state, activations, peak RSS, device allocations.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::view::*;

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
    /// What the process holds on the accelerator (GPU cells, where the backend reports it).
    pub device_allocated_bytes: Option<u64>,
}

pub(in crate::report) fn memory_rows(ok: &[&CellRecord]) -> Vec<MemoryRow> {
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
            device_allocated_bytes: r.device_allocated_bytes,
        })
        .collect()
}
