//! Matrix products: the fastest device and dtype for each size, with the runner-up and whether the margin is beyond noise.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::CellRecord;

use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct MatmulRow {
    pub n: i64,
    pub dtype: String,
    pub device: String,
    pub device_name: String,
    pub time: Figure,
    pub gflops: f64,
    /// This cell's GFLOP/s over the best measured on the same device.
    pub fraction_of_best: f64,
}

pub(in crate::report) fn matmul_rows(ok: &[&CellRecord]) -> Vec<MatmulRow> {
    let cells: Vec<&&CellRecord> = ok.iter().filter(|r| r.workload == "matmul").collect();
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    for r in &cells {
        let g = r.gflops().unwrap_or(0.0);
        let e = best.entry(param_str(r, "device")).or_insert(0.0);
        *e = e.max(g);
    }
    cells
        .iter()
        .filter_map(|r| {
            let gflops = r.gflops()?;
            let device = param_str(r, "device");
            Some(MatmulRow {
                n: param_int(r, "n")?,
                dtype: param_str(r, "dtype"),
                device_name: r.device_name.clone(),
                time: Figure::of(r)?,
                gflops,
                fraction_of_best: gflops / best[&device],
                device,
            })
        })
        .collect()
}
