//! Tensor operations: each matrix product by its time and floating-point rate, and its share
//! of the best rate on its device.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct MatmulRow {
    /// The cell the row shows (for an optimization: the optimized cell).
    pub cell_id: String,
    pub experiment: String,
    pub framework: String,
    pub n: i64,
    pub dtype: String,
    pub device: String,
    pub device_name: String,
    pub keys: Vec<(String, String)>,
    pub time: Figure,
    /// At the median time.
    pub gflops: f64,
    pub fraction_of_best: f64,
    /// Average power over the timed iterations, where a counter resolved it.
    pub watts: Option<f64>,
    /// GFLOP per joule: the product's performance per watt.
    pub gflops_per_joule: Option<f64>,
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
                cell_id: r.cell_id.clone(),
                experiment: r.experiment.clone(),
                framework: r.framework_label(),
                n: param_int(r, "n")?,
                dtype: param_str(r, "dtype"),
                device_name: r.device_name.clone(),
                keys: keys_of(r, &["n", "dtype", "device"], &[]),
                time: Figure::of(r)?,
                gflops,
                fraction_of_best: gflops / best[&device],
                watts: r.average_watts(),
                gflops_per_joule: r.average_watts().filter(|w| *w > 0.0).map(|w| gflops / w),
                device,
            })
        })
        .collect()
}

/// The floating-point rate's unit for a table or chart whose largest rate is `max_gflops`:
/// TFLOP/s from a thousand GFLOP/s, so that no figure reads `650436.8`. Returns the unit and
/// the factor from GFLOP/s to it.
pub fn flops_unit(max_gflops: f64) -> (&'static str, f64) {
    if max_gflops >= 1000.0 {
        ("TFLOP/s", 1e-3)
    } else {
        ("GFLOP/s", 1.0)
    }
}

pub(in crate::report) fn matmul_table(rows: &[MatmulRow]) -> Option<Table> {
    let max = rows.iter().map(|r| r.gflops).fold(0.0, f64::max);
    let (unit, factor) = flops_unit(max);
    let energy = rows.iter().any(|r| r.watts.is_some());
    let lines = rows
        .iter()
        .map(|r| {
            let mut values = vec![
                fig_text(&r.time),
                crate::format::significant(r.gflops * factor),
                format!("{:.0}%", r.fraction_of_best * 100.0),
            ];
            if energy {
                values.push(opt(r.watts, |w| format!("{w:.0} W")));
                values.push(opt(r.gflops_per_joule, crate::format::sig3));
            }
            KeyedRow {
                keys: r.keys.clone(),
                values,
            }
        })
        .collect();
    let mut columns = vec![
        ValueColumn::text("time"),
        ValueColumn::number(unit),
        ValueColumn::number("of best on device"),
    ];
    if energy {
        columns.push(ValueColumn::number("power"));
        columns.push(ValueColumn::number("GFLOP/J"));
    }
    Table::build(lines, columns)
}
