//! Precision, quantization and fused kernels, each against the f32 baseline of the same configuration: speed-up, error, weight bytes.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct OptimizationRow {
    /// The cell the row shows (for an optimization: the optimized cell).
    pub cell_id: String,
    pub experiment: String,
    pub framework: String,
    pub model: String,
    pub batch: Option<i64>,
    pub device: String,
    /// What changed from the baseline, e.g. `quant=q8_0` or `dtype=f16`.
    pub change: String,
    /// Every key of the row: experiment, framework, the parameters but the optimization keys,
    /// and `change`.
    pub keys: Vec<(String, String)>,
    pub baseline: Figure,
    pub optimized: Figure,
    /// Baseline median over optimized median: above 1 is faster.
    pub speedup: f64,
    pub speedup_beyond_noise: bool,
    pub baseline_bytes: Option<u64>,
    pub optimized_bytes: Option<u64>,
    /// Optimized weight bytes over baseline's, minus one: −0.75 is a 75% reduction.
    pub weight_change: Option<f64>,
    pub prediction_error: Option<f64>,
}

pub(in crate::report) fn optimization_rows(ok: &[&CellRecord]) -> Vec<OptimizationRow> {
    let mut rows = Vec::new();
    // Model cells only: matrix products of each dtype stand side by side under tensor operations.
    for r in ok
        .iter()
        .filter(|r| !is_baseline(r) && r.params.contains_key("model"))
    {
        let sig = signature(r, true, false);
        // The baseline: same configuration with the optimization keys at their baselines,
        // preferably from the same experiment.
        let baseline = ok
            .iter()
            .filter(|b| is_baseline(b) && signature(b, true, false) == sig)
            .min_by_key(|b| b.experiment != r.experiment);
        let (Some(baseline), Some(optimized)) = (baseline, Figure::of(r)) else {
            continue;
        };
        let Some(base_fig) = Figure::of(baseline) else {
            continue;
        };
        let change = OPTIMIZATION_KEYS
            .iter()
            .filter_map(|(k, base)| {
                let v = param_str(r, k);
                (!v.is_empty() && v != *base).then(|| format!("{k}={v}"))
            })
            .collect::<Vec<_>>()
            .join(" ");
        let omit: Vec<&str> = OPTIMIZATION_KEYS.iter().map(|(k, _)| *k).collect();
        let mut keys = keys_of(r, &super::models::MODEL_KEYS, &omit);
        keys.push(("change".to_owned(), change.clone()));
        rows.push(OptimizationRow {
            cell_id: r.cell_id.clone(),
            experiment: r.experiment.clone(),
            framework: r.framework_label(),
            keys,
            model: param_str(r, "model"),
            batch: param_int(r, "batch"),
            device: param_str(r, "device"),
            change,
            speedup: base_fig.median / optimized.median,
            speedup_beyond_noise: optimized.clearly_below(&base_fig)
                || base_fig.clearly_below(&optimized),
            baseline_bytes: baseline.weight_bytes,
            optimized_bytes: r.weight_bytes,
            weight_change: baseline
                .weight_bytes
                .zip(r.weight_bytes)
                .map(|(b, o)| o as f64 / b as f64 - 1.0),
            prediction_error: r.prediction_error,
            baseline: base_fig,
            optimized,
        });
    }
    rows
}

pub(in crate::report) fn optimization_table(rows: &[OptimizationRow]) -> Option<Table> {
    let lines = rows
        .iter()
        .map(|r| KeyedRow {
            keys: r.keys.clone(),
            values: vec![
                fig_text(&r.baseline),
                fig_text(&r.optimized),
                format!(
                    "{}{}",
                    ratio_text(r.speedup),
                    if r.speedup_beyond_noise {
                        ""
                    } else {
                        " (within noise)"
                    }
                ),
                opt(r.optimized_bytes, crate::format::bytes),
                opt(r.weight_change, |x| format!("{:.0}%", x * 100.0)),
                opt(r.prediction_error, sci_text),
            ],
        })
        .collect();
    Table::build(
        lines,
        vec![
            ValueColumn::text("baseline"),
            ValueColumn::text("optimized"),
            ValueColumn::number("speed-up"),
            ValueColumn::number("weights"),
            ValueColumn::number("weight change"),
            ValueColumn::number("prediction error"),
        ],
    )
}
