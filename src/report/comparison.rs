//! Experiments side by side: an experiment that names another in `compare_with` (candle's
//! `train` beside PyTorch's `torch-train`, say) gets a table of matched cells with both
//! medians and their ratio, this experiment over the other (below 1: this one is faster).
//!
//! Cells are matched by the parameters both set; a parameter only this experiment has must be
//! at its baseline (f32, no quantization, composed kernels), so an optimized variant is never
//! set against a plain one. The seed is ignored: it picks inputs, not the configuration.

use std::collections::BTreeMap;

use serde::Serialize;

use super::view::Figure;
use crate::results::{CellRecord, Status};
use crate::stats::compare::ratio_ci;

/// Parameters that must sit at these values in a cell the other experiment does not mirror.
const BASELINES: [(&str, &str); 3] = [("dtype", "f32"), ("quant", "none"), ("kernels", "composed")];

#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    /// The matched parameters, as `model=mlp-small batch=32`.
    pub key: String,
    pub device: String,
    pub device_name: String,
    pub ours: Option<Figure>,
    pub theirs: Option<Figure>,
    /// Our median over theirs.
    pub ratio: Option<f64>,
    pub ratio_low: Option<f64>,
    pub ratio_high: Option<f64>,
    /// `faster`, `slower` (the ratio's interval excludes 1), `same` (it includes 1), or `–`.
    pub verdict: String,
    /// Why a side has no figure: its status and reason.
    pub note: String,
}

/// Geometric mean of the ratios on one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRatio {
    pub device: String,
    pub geomean: f64,
    pub count: usize,
    pub worst: f64,
    pub best: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub experiment: String,
    pub baseline: String,
    pub rows: Vec<ComparisonRow>,
    pub by_device: Vec<DeviceRatio>,
}

fn matches(ours: &CellRecord, theirs: &CellRecord) -> bool {
    let shared_equal = ours
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != "seed")
        .filter_map(|(k, v)| theirs.params.get(k).map(|w| v == w))
        .all(|eq| eq);
    let rest_at_baseline = BASELINES.iter().all(|(k, base)| {
        theirs.params.contains_key(*k) || ours.params.get(*k).is_none_or(|v| v.to_string() == *base)
    });
    shared_equal && rest_at_baseline
}

fn shared_key(ours: &CellRecord, theirs: &CellRecord) -> String {
    ours.cell_key
        .split(' ')
        .filter(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, _)| k != "device" && theirs.params.contains_key(k))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn figure(r: &CellRecord) -> Option<Figure> {
    (r.status == Status::Ok).then(|| Figure::of(r)).flatten()
}

fn note(side: &str, r: &CellRecord) -> Option<String> {
    (r.status != Status::Ok).then(|| {
        format!(
            "{side} {}: {}",
            r.status.name(),
            r.reason.as_deref().unwrap_or("no reason recorded")
        )
    })
}

fn sorted_samples(r: &CellRecord) -> Vec<f64> {
    let mut s = r.samples_ms.clone();
    s.sort_by(f64::total_cmp);
    s
}

/// One table for each `(experiment, compare_with)` pair that has cells in `records`.
pub fn comparisons(records: &[CellRecord], pairs: &BTreeMap<String, String>) -> Vec<Comparison> {
    let mut out = Vec::new();
    for (experiment, baseline) in pairs {
        let others: Vec<&CellRecord> = records
            .iter()
            .filter(|r| &r.experiment == baseline)
            .collect();
        let mut rows = Vec::new();
        for ours in records.iter().filter(|r| &r.experiment == experiment) {
            let Some(theirs) = others.iter().find(|t| matches(ours, t)) else {
                continue;
            };
            let (a, b) = (figure(ours), figure(theirs));
            let ratio = a.as_ref().zip(b.as_ref()).map(|(a, b)| a.median / b.median);
            let ci =
                ratio.and_then(|q| ratio_ci(&sorted_samples(theirs), &sorted_samples(ours), q));
            let verdict = match (ratio, ci) {
                (Some(_), Some((lo, _))) if lo > 1.0 => "slower",
                (Some(_), Some((_, hi))) if hi < 1.0 => "faster",
                (Some(_), Some(_)) => "same",
                _ => "–",
            };
            let notes: Vec<String> = [note("this", ours), note("other", theirs)]
                .into_iter()
                .flatten()
                .collect();
            rows.push(ComparisonRow {
                key: shared_key(ours, theirs),
                device: ours
                    .params
                    .get("device")
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                device_name: if ours.status == Status::Ok {
                    ours.device_name.clone()
                } else {
                    theirs.device_name.clone()
                },
                ours: a,
                theirs: b,
                ratio,
                ratio_low: ci.map(|c| c.0),
                ratio_high: ci.map(|c| c.1),
                verdict: verdict.to_owned(),
                note: notes.join("; "),
            });
        }
        if rows.is_empty() {
            continue;
        }
        let mut logs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &rows {
            if let Some(q) = r.ratio.filter(|q| *q > 0.0) {
                logs.entry(r.device.clone()).or_default().push(q);
            }
        }
        let by_device = logs
            .into_iter()
            .map(|(device, qs)| DeviceRatio {
                geomean: crate::stats::geomean(&qs).unwrap_or(f64::NAN),
                count: qs.len(),
                worst: qs.iter().copied().fold(f64::MIN, f64::max),
                best: qs.iter().copied().fold(f64::MAX, f64::min),
                device,
            })
            .collect();
        out.push(Comparison {
            experiment: experiment.clone(),
            baseline: baseline.clone(),
            rows,
            by_device,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ParamValue;

    fn record(experiment: &str, params: &[(&str, ParamValue)], samples: Vec<f64>) -> CellRecord {
        let mut r = crate::results::store::tests::record(experiment, params, samples);
        r.experiment = experiment.to_owned();
        r.cell_key = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        r
    }

    #[test]
    fn cells_pair_on_shared_parameters_and_ratios_carry_their_interval() {
        let s = |x: &str| ParamValue::Str(x.into());
        let ours = |dtype: &str, ms: f64| {
            record(
                "train",
                &[
                    ("model", s("m")),
                    ("batch", ParamValue::Int(32)),
                    ("dtype", s(dtype)),
                    ("device", s("cpu")),
                    ("seed", ParamValue::Int(0)),
                ],
                (0..30).map(|i| ms + i as f64 * 0.01).collect(),
            )
        };
        let theirs = record(
            "torch-train",
            &[
                ("model", s("m")),
                ("batch", ParamValue::Int(32)),
                ("device", s("cpu")),
            ],
            (0..30).map(|i| 4.0 + i as f64 * 0.01).collect(),
        );
        let records = vec![ours("f32", 2.0), ours("bf16", 1.0), theirs];
        let pairs = BTreeMap::from([("train".to_owned(), "torch-train".to_owned())]);
        let c = comparisons(&records, &pairs);
        assert_eq!(c.len(), 1);
        // The bf16 cell has no counterpart: PyTorch's side sets no dtype, so it is f32.
        assert_eq!(c[0].rows.len(), 1);
        let row = &c[0].rows[0];
        assert_eq!(row.key, "model=m batch=32");
        let q = row.ratio.unwrap();
        assert!((q - 2.145 / 4.145).abs() < 1e-9, "{q}");
        assert!(row.ratio_low.unwrap() < q && q < row.ratio_high.unwrap());
        assert_eq!(row.verdict, "faster");
        assert_eq!(c[0].by_device[0].count, 1);
    }
}
