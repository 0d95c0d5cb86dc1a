//! `benchplan explain`: how a plan's matrix expands — the axes and zip groups, what each
//! exclude removed and each include added or extended, cells dropped as duplicates, the count
//! per experiment and per device, and which cells this machine will skip and why.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::matrix::{Axis, Entry, IncludeEffect};
use super::Plan;

#[derive(Debug, Serialize)]
pub struct AxisView {
    /// The parameter, or the parameters of a zip group.
    pub names: Vec<String>,
    pub zipped: bool,
    pub values: usize,
}

#[derive(Debug, Serialize)]
pub struct EntryView {
    /// 1-based, in file order.
    pub number: usize,
    pub entry: String,
    /// exclude: combinations removed. include: combinations extended (0 when it added one).
    pub matched: usize,
    /// include only: whether it matched nothing and became a combination of its own.
    pub added: bool,
}

#[derive(Debug, Serialize)]
pub struct ExperimentView {
    pub name: String,
    pub workload: String,
    pub axes: Vec<AxisView>,
    /// The product of the axes, before exclude and include.
    pub product: u64,
    pub excludes: Vec<EntryView>,
    pub includes: Vec<EntryView>,
    /// Combinations dropped because an earlier cell has the same parameters.
    pub duplicates: usize,
    pub cells: usize,
    pub per_device: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct SkipView {
    pub device: String,
    pub cells: usize,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub plan: String,
    pub study: String,
    pub cells: usize,
    pub experiments: Vec<ExperimentView>,
    pub per_device: BTreeMap<String, usize>,
    /// Cells this machine cannot run, by device.
    pub skipped_here: Vec<SkipView>,
}

fn entry_text(entry: &Entry) -> String {
    let parts: Vec<String> = entry
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.to_toml()))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// Explains `plan`.
pub fn explain(plan: &Plan) -> Explanation {
    let mut per_device: BTreeMap<String, usize> = BTreeMap::new();
    let experiments: Vec<ExperimentView> = plan
        .experiments
        .iter()
        .map(|e| {
            let axes = e
                .matrix
                .axes
                .iter()
                .map(|a| AxisView {
                    names: a.names().iter().map(|n| (*n).to_owned()).collect(),
                    zipped: matches!(a, Axis::Zip { .. }),
                    values: a.len(),
                })
                .collect();
            let excludes = e
                .matrix
                .exclude
                .iter()
                .zip(&e.expansion.excluded)
                .enumerate()
                .map(|(i, (entry, n))| EntryView {
                    number: i + 1,
                    entry: entry_text(entry),
                    matched: *n,
                    added: false,
                })
                .collect();
            let includes = e
                .matrix
                .include
                .iter()
                .zip(&e.expansion.included)
                .enumerate()
                .map(|(i, (entry, effect))| EntryView {
                    number: i + 1,
                    entry: entry_text(entry),
                    matched: match effect {
                        IncludeEffect::Extended(n) => *n,
                        IncludeEffect::Added => 0,
                    },
                    added: *effect == IncludeEffect::Added,
                })
                .collect();
            let mut devices: BTreeMap<String, usize> = BTreeMap::new();
            for c in &e.cells {
                let d = c.get("device").map_or("–".to_owned(), ToString::to_string);
                *devices.entry(d.clone()).or_default() += 1;
                *per_device.entry(d).or_default() += 1;
            }
            ExperimentView {
                name: e.name.clone(),
                workload: e.workload.name().to_owned(),
                axes,
                product: e.matrix.product_size(),
                excludes,
                includes,
                duplicates: e.expansion.combos.len().saturating_sub(e.cells.len()),
                cells: e.cells.len(),
                per_device: devices,
            }
        })
        .collect();
    let skipped_here = per_device
        .iter()
        .filter_map(|(d, n)| {
            crate::device::why_unavailable(d).map(|why| SkipView {
                device: d.clone(),
                cells: *n,
                why,
            })
        })
        .collect();
    Explanation {
        plan: plan.path.display().to_string(),
        study: plan.name.clone(),
        cells: plan.cells().count(),
        experiments,
        per_device,
        skipped_here,
    }
}

fn counts(map: &BTreeMap<String, usize>) -> String {
    map.iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The explanation as text for people.
pub fn render(x: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan `{}`: study `{}`, {} experiment(s), {} cell(s)",
        x.plan,
        x.study,
        x.experiments.len(),
        x.cells
    );
    for e in &x.experiments {
        let _ = writeln!(out, "\nexperiment `{}` ({})", e.name, e.workload);
        let axes: Vec<String> = e
            .axes
            .iter()
            .map(|a| {
                if a.zipped {
                    format!("zip({}) [{}]", a.names.join(", "), a.values)
                } else {
                    format!("{} [{}]", a.names[0], a.values)
                }
            })
            .collect();
        let axes = if axes.is_empty() {
            "no axes".to_owned()
        } else {
            axes.join(" × ")
        };
        let _ = writeln!(out, "  axes: {axes} = {} combination(s)", e.product);
        for x in &e.excludes {
            let _ = writeln!(
                out,
                "  exclude #{} {}: removed {}{}",
                x.number,
                x.entry,
                x.matched,
                if x.matched == 0 {
                    " (matches nothing)"
                } else {
                    ""
                }
            );
        }
        for i in &e.includes {
            if i.added {
                let _ = writeln!(
                    out,
                    "  include #{} {}: matched no combination, added as one of its own",
                    i.number, i.entry
                );
            } else {
                let _ = writeln!(
                    out,
                    "  include #{} {}: extended {} combination(s)",
                    i.number, i.entry, i.matched
                );
            }
        }
        if e.duplicates > 0 {
            let _ = writeln!(
                out,
                "  {} combination(s) have the same parameters as an earlier cell: run once",
                e.duplicates
            );
        }
        let _ = writeln!(out, "  cells: {} ({})", e.cells, counts(&e.per_device));
    }
    let _ = writeln!(out, "\nper device: {}", counts(&x.per_device));
    if x.skipped_here.is_empty() {
        let _ = writeln!(out, "on this machine: every device is available");
    } else {
        for s in &x.skipped_here {
            let _ = writeln!(
                out,
                "on this machine: {} cell(s) on `{}` cannot run: {} (`run --skip-unavailable` records them as skipped, `--devices available` leaves them out)",
                s.cells, s.device, s.why
            );
        }
    }
    let _ = writeln!(
        out,
        "(what a backend cannot do, such as bf16 matrix products on candle's CPU, is found when the cell runs, and recorded as skipped)"
    );
    out
}

/// Likely mistakes `check` reports that depend on this machine and on earlier results, not on
/// the plan's text: devices named here that this machine lacks, and cells whose earlier run
/// took far longer than the others (a time sink, or a mistake in a size). `earlier_s` is each
/// cell's wall time in earlier results, by cell id (the results' history; empty when none).
pub fn machine_warnings(
    plan: &Plan,
    earlier_s: &std::collections::BTreeMap<String, f64>,
) -> Vec<String> {
    let x = explain(plan);
    let mut out: Vec<String> = x
        .skipped_here
        .iter()
        .map(|s| {
            let portable = matches!(s.device.as_str(), "gpu" | "auto");
            format!(
                "device `{}` ({} cell(s)) cannot run on this machine: {}; {}",
                s.device,
                s.cells,
                s.why,
                if portable {
                    "its cells are recorded as skipped here"
                } else {
                    "`run` refuses the plan unless `--skip-unavailable` or `--devices available`"
                }
            )
        })
        .collect();
    let known: Vec<(&super::Cell, f64)> = plan
        .cells()
        .filter_map(|c| earlier_s.get(&c.id).map(|s| (c, *s)))
        .collect();
    if known.len() < 3 {
        return out;
    }
    let times: Vec<f64> = known.iter().map(|(_, s)| *s).collect();
    let Some(median) = crate::stats::median(&times) else {
        return out;
    };
    for (cell, s) in known {
        // Far beyond: ten times the median cell, and long enough to matter.
        if s > 10.0 * median && s > 30.0 {
            out.push(format!(
                "cell {} ({} {}) took {} in earlier results, {:.0}× the median cell ({})",
                cell.id,
                cell.experiment,
                cell.key(),
                crate::format::elapsed(s),
                s / median,
                crate::format::elapsed(median)
            ));
        }
    }
    out
}
