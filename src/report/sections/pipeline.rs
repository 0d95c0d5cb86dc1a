//! The end-to-end pipeline: each stage's share of a training iteration.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub time: Figure,
    /// This stage's median over the sum of the stage medians.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRow {
    /// The cell the row shows (for an optimization: the optimized cell).
    pub cell_id: String,
    pub key: String,
    pub model: String,
    pub device: String,
    pub workers: i64,
    pub keys: Vec<(String, String)>,
    pub stages: Vec<Stage>,
    pub whole: Figure,
    pub samples_per_s: Option<f64>,
}

pub(in crate::report) fn pipeline_rows(ok: &[&CellRecord]) -> Vec<PipelineRow> {
    ok.iter()
        .filter(|r| r.workload == "pipeline")
        .filter_map(|r| {
            let stage_figs: Vec<(String, Figure)> = r
                .stages
                .iter()
                .filter_map(|(name, samples)| {
                    let s = crate::stats::Summary::of(samples)?;
                    Some((
                        name.clone(),
                        Figure {
                            median: s.median,
                            low: s.median_ci.map(|c| c.0),
                            high: s.median_ci.map(|c| c.1),
                            p95: s.p95,
                            mean: s.mean,
                            n: s.count,
                        },
                    ))
                })
                .collect();
            let total: f64 = stage_figs.iter().map(|(_, f)| f.median).sum();
            Some(PipelineRow {
                cell_id: r.cell_id.clone(),
                key: r.cell_key.clone(),
                model: param_str(r, "model"),
                device: param_str(r, "device"),
                workers: param_int(r, "workers")?,
                keys: keys_of(r, &["model", "batch", "data", "device", "workers"], &[]),
                stages: stage_figs
                    .into_iter()
                    .map(|(name, time)| Stage {
                        share: if total > 0.0 {
                            time.median / total
                        } else {
                            0.0
                        },
                        name,
                        time,
                    })
                    .collect(),
                whole: Figure::of(r)?,
                samples_per_s: r.samples_per_s(),
            })
        })
        .collect()
}

/// Each stage's median and its share of the iteration, then the whole iteration; the stages
/// are the first row's (every pipeline cell has the same stages).
pub(in crate::report) fn pipeline_table(rows: &[PipelineRow]) -> Option<Table> {
    let stages: Vec<String> = rows
        .first()?
        .stages
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let lines = rows
        .iter()
        .map(|r| {
            let mut values: Vec<String> = stages
                .iter()
                .map(|name| {
                    r.stages.iter().find(|s| s.name == *name).map_or_else(
                        || "–".to_owned(),
                        |s| {
                            format!(
                                "{} ({:.0}%)",
                                crate::format::duration_ms(s.time.median),
                                s.share * 100.0
                            )
                        },
                    )
                })
                .collect();
            values.push(fig_text(&r.whole));
            values.push(opt(r.samples_per_s, |x| crate::format::rate(x, "samples")));
            KeyedRow {
                keys: r.keys.clone(),
                values,
            }
        })
        .collect();
    let mut columns: Vec<ValueColumn> = stages.iter().map(|s| ValueColumn::text(s)).collect();
    columns.push(ValueColumn::text("whole"));
    columns.push(ValueColumn::number("samples/s"));
    Table::build(lines, columns)
}
