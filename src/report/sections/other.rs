//! Other measurements: every measured cell no other section shows (an empty iteration that
//! measures the timing floor, a user's program that does not say what it measures, an
//! optimized cell without its baseline), so that nothing measured is missing from a report.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct OtherRow {
    pub cell_id: String,
    pub experiment: String,
    pub framework: String,
    pub workload: String,
    pub keys: Vec<(String, String)>,
    pub time: Figure,
    /// Samples per second at the median time, where the cell says how many samples an
    /// iteration processes.
    pub samples_per_s: Option<f64>,
    pub gflops: Option<f64>,
}

/// Rows of the `ok` cells whose ids are not in `shown`.
pub(in crate::report) fn other_rows(ok: &[&CellRecord], shown: &[&str]) -> Vec<OtherRow> {
    ok.iter()
        .filter(|r| !shown.contains(&r.cell_id.as_str()))
        .filter_map(|r| {
            let mut keys = vec![("workload".to_owned(), r.workload.clone())];
            keys.extend(keys_of(r, &["model", "batch", "n", "dtype", "device"], &[]));
            Some(OtherRow {
                cell_id: r.cell_id.clone(),
                experiment: r.experiment.clone(),
                framework: r.framework_label(),
                workload: r.workload.clone(),
                keys,
                time: Figure::of(r)?,
                samples_per_s: r.throughput(),
                gflops: r.gflops(),
            })
        })
        .collect()
}

pub(in crate::report) fn other_table(rows: &[OtherRow]) -> Option<Table> {
    let rates = rows.iter().any(|r| r.samples_per_s.is_some());
    let flops = rows.iter().any(|r| r.gflops.is_some());
    let mut columns = vec![ValueColumn::text("time per iteration")];
    if rates {
        columns.push(ValueColumn::number("samples/s"));
    }
    if flops {
        columns.push(ValueColumn::number("GFLOP/s"));
    }
    let lines = rows
        .iter()
        .map(|r| {
            let mut values = vec![fig_text(&r.time)];
            if rates {
                values.push(opt(r.samples_per_s, |x| crate::format::rate(x, "samples")));
            }
            if flops {
                values.push(opt(r.gflops, crate::format::significant));
            }
            KeyedRow {
                keys: r.keys.clone(),
                values,
            }
        })
        .collect();
    Table::build(lines, columns)
}
