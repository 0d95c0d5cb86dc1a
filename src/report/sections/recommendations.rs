//! Recommendations: the best configuration for each question a plan answers, with its margin over the next best.

use serde::Serialize;

use crate::results::CellRecord;

use super::super::view::*;

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub question: String,
    /// Who ran the answer (`candle 0.11.1`, `PyTorch 2.11.0`), where the report holds more
    /// than one framework.
    pub framework: Option<String>,
    pub answer: String,
    pub figure: String,
    pub runner_up: Option<String>,
    /// Who ran the runner-up, where the report holds more than one framework.
    pub runner_up_framework: Option<String>,
    /// How much better the answer is than the runner-up, as a fraction (0.12 = 12%).
    pub margin: Option<f64>,
    /// Whether the two figures' intervals do not overlap; none when either has no interval.
    pub beyond_noise: Option<bool>,
}

/// Picks the best of `candidates` by `better` and says by how much it beats the runner-up.
pub(in crate::report) fn recommend(
    question: &str,
    candidates: Vec<(&CellRecord, Figure)>,
    frameworks: usize,
    lower_is_better: bool,
    describe: impl Fn(&CellRecord) -> String,
    figure: impl Fn(&CellRecord, &Figure) -> String,
) -> Option<Recommendation> {
    let mut sorted = candidates;
    sorted.sort_by(|a, b| {
        let (x, y) = (a.1.median, b.1.median);
        if lower_is_better {
            x.total_cmp(&y)
        } else {
            y.total_cmp(&x)
        }
    });
    // The same configuration measured by two experiments of one framework is one candidate,
    // at its best.
    let mut seen = Vec::new();
    sorted.retain(|(r, _)| {
        let sig = format!("{}|{}", r.framework_label(), signature(r, false, false));
        let new = !seen.contains(&sig);
        seen.push(sig);
        new
    });
    let (best, best_fig) = sorted.first()?;
    let runner = sorted.get(1);
    // With several frameworks, each candidate says whose it is.
    let who = |r: &CellRecord| (frameworks > 1).then(|| r.framework_label());
    Some(Recommendation {
        question: question.to_owned(),
        framework: who(best),
        answer: describe(best),
        figure: figure(best, best_fig),
        runner_up: runner.map(|(r, _)| describe(r)),
        runner_up_framework: runner.and_then(|(r, _)| who(r)),
        margin: runner.map(|(_, f)| {
            if lower_is_better {
                f.median / best_fig.median - 1.0
            } else {
                best_fig.median / f.median - 1.0
            }
        }),
        beyond_noise: runner.and_then(|(_, f)| {
            let intervals = best_fig.low.is_some() && f.low.is_some();
            intervals.then(|| {
                if lower_is_better {
                    best_fig.clearly_below(f)
                } else {
                    f.clearly_below(best_fig)
                }
            })
        }),
    })
}

pub(in crate::report) fn recommendations(
    ok: &[&CellRecord],
    report: &Report,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let frameworks = report.frameworks.len();
    let mut models: Vec<String> = Vec::new();
    // Every model a training or inference cell ran, in the order first met.
    for r in ok
        .iter()
        .filter(|r| r.workload == "train" || r.workload == "infer")
    {
        let m = param_str(r, "model");
        if !models.contains(&m) {
            models.push(m);
        }
    }
    let describe = |r: &CellRecord| r.cell_key.clone();
    let time = |_: &CellRecord, f: &Figure| crate::format::duration_ms(f.median);
    for model in &models {
        let cands: Vec<(&CellRecord, Figure)> = ok
            .iter()
            .filter(|r| r.workload == "train" && param_str(r, "model") == *model)
            .filter_map(|r| Figure::of(r).map(|f| (*r, f)))
            .collect();
        // Per sample, so that different batch sizes compare fairly.
        let per_sample: Vec<(&CellRecord, Figure)> = cands
            .into_iter()
            .filter_map(|(r, f)| {
                let b = r.samples_per_iteration? as f64;
                Some((
                    r,
                    Figure {
                        median: f.median / b,
                        low: f.low.map(|x| x / b),
                        high: f.high.map(|x| x / b),
                        ..f
                    },
                ))
            })
            .collect();
        out.extend(recommend(
            &format!("Fastest training setup for `{model}` (time per sample)"),
            per_sample,
            frameworks,
            true,
            describe,
            |_, f| format!("{} per sample", crate::format::duration_ms(f.median)),
        ));
        let latency: Vec<(&CellRecord, Figure)> = ok
            .iter()
            .filter(|r| {
                r.workload == "infer"
                    && param_str(r, "model") == *model
                    && param_int(r, "batch") == Some(1)
            })
            .filter_map(|r| Figure::of(r).map(|f| (*r, f)))
            .collect();
        out.extend(recommend(
            &format!("Lowest-latency inference for `{model}` (batch 1)"),
            latency,
            frameworks,
            true,
            describe,
            time,
        ));
    }
    // Loaders compare like with like: the same batch size and per-sample work.
    let load_cells: Vec<(&LoadRow, &CellRecord)> = report
        .dataload
        .iter()
        .zip(
            ok.iter()
                .copied()
                .filter(|r| r.workload == "dataload" && param_int(r, "workers").is_some()),
        )
        .collect();
    let mut groups: Vec<(i64, String)> = Vec::new();
    for (row, _) in &load_cells {
        let g = (row.batch, row.jitter.to_string());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for (batch, jitter) in groups {
        let candidates: Vec<(&CellRecord, Figure)> = load_cells
            .iter()
            .filter(|(row, _)| row.batch == batch && row.jitter.to_string() == jitter)
            .filter_map(|(row, r)| {
                let per_worker = row.samples_per_s_per_worker?;
                Some((
                    *r,
                    Figure {
                        median: per_worker,
                        low: None,
                        high: None,
                        p95: per_worker,
                        mean: per_worker,
                        n: row.wait.n,
                    },
                ))
            })
            .collect();
        out.extend(recommend(
            &format!("Best data-loading throughput per worker (batch {batch}, jitter {jitter})"),
            candidates,
            frameworks,
            false,
            describe,
            |_, f| format!("{} per worker", crate::format::rate(f.median, "samples")),
        ));
    }
    out
}
