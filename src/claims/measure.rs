//! What a claim's cells measured, in the claim's unit: the figure of the selected rows (their
//! geometric mean where several are selected), and for a comparison the figure of `cells`
//! against that of `over`; with the log half-width of its interval between rounds where the
//! figure is a time measured by one cell on each side. Never a figure from a cell that failed or
//! was skipped: the error says which cell, and why.

use std::collections::BTreeMap;

use super::{Claim, Selection};
use crate::plan::claim::{is_time, MEMORY, STAGES};
use crate::results::{CellRecord, Status};

/// A figure in the claim's unit, where it was measured, and how sure it is.
pub(super) struct Measured {
    pub value: f64,
    pub log_half_width: Option<f64>,
    /// The device names of the `cells` side, as the rows say them.
    pub devices: Vec<String>,
}

/// A side of a claim: its rows' figure in a base unit (ms for times, bytes for memory, J per
/// sample or samples/J for energy, a share of one core for CPU) and its log half-width.
struct Side {
    value: f64,
    log_half_width: Option<f64>,
}

/// The rows a selection picks out: at least one, none of them failed or skipped.
fn chosen<'a>(
    selection: &BTreeMap<String, Selection>,
    rows: &'a [CellRecord],
) -> Result<Vec<&'a CellRecord>, String> {
    let chosen: Vec<&CellRecord> = rows
        .iter()
        .filter(|r| super::selects(selection, r))
        .collect();
    if chosen.is_empty() {
        return Err("no cell of this machine's results is selected".to_owned());
    }
    if let Some(bad) = chosen.iter().find(|r| r.status != Status::Ok) {
        return Err(format!(
            "cell `{} {}` {}{}",
            bad.experiment,
            bad.cell_key,
            bad.status.name(),
            bad.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    Ok(chosen)
}

/// One row's figure of `of` in its base unit, given the claim's unit (which picks joules per
/// sample or samples per joule, a rate or a time), or why it has none.
fn figure(r: &CellRecord, of: &str, unit: &str) -> Result<f64, String> {
    let missing = |what: &str| format!("cell `{} {}` has no {what}", r.experiment, r.cell_key);
    let rate = unit == "samples/s";
    let value = match of {
        "time" if rate => r.throughput().ok_or_else(|| {
            missing("rate (it does not say how many samples an iteration processes)")
        })?,
        "time" => r.headline_ms().ok_or_else(|| missing("time"))?,
        stage if STAGES.contains(&stage) => {
            let samples = r
                .stages
                .iter()
                .find(|(name, _)| name == stage)
                .map(|(_, s)| s.as_slice())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    missing(&format!(
                        "`{stage}` stage (only pipeline cells time stages)"
                    ))
                })?;
            let ms = crate::stats::summary::median(samples).ok_or_else(|| missing("stage time"))?;
            if rate {
                let batch = r
                    .samples_per_iteration
                    .ok_or_else(|| missing("batch size"))?;
                batch as f64 / (ms / 1e3)
            } else {
                ms
            }
        }
        memory if MEMORY.contains(&memory) => {
            let bytes = match memory {
                "weights" => r.weight_bytes,
                "optimizer-state" => r.optimizer_state_bytes,
                "activations" => r.activation_bytes,
                "peak-memory" => r.peak_rss_bytes,
                _ => r.device_allocated_bytes,
            };
            bytes.ok_or_else(|| missing(&format!("`{memory}` figure")))? as f64
        }
        "energy" => {
            let why = || {
                let note = r
                    .energy_note
                    .as_deref()
                    .unwrap_or("no energy counter was read");
                missing(&format!("energy figure ({note})"))
            };
            match unit {
                "J" => r.joules_per_sample().ok_or_else(why)?,
                "W" => r
                    .energy_j
                    .zip(r.energy_timed_s)
                    .filter(|(_, s)| *s > 0.0)
                    .map(|(j, s)| j / s)
                    .ok_or_else(why)?,
                _ => r.samples_per_joule().ok_or_else(why)?,
            }
        }
        "cpu" => r.cpu_utilization.ok_or_else(|| missing("CPU time"))?,
        other => return Err(format!("`{other}` is not a quantity benchplan measures")),
    };
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(missing("figure above zero"))
    }
}

/// The figure of a selection: the geometric mean of its rows', with an interval between
/// rounds where it is the time of one row.
fn side(
    selection: &BTreeMap<String, Selection>,
    rows: &[CellRecord],
    of: &str,
    unit: &str,
) -> Result<(Side, Vec<String>), String> {
    let chosen = chosen(selection, rows)?;
    let figures = chosen
        .iter()
        .map(|r| figure(r, of, unit))
        .collect::<Result<Vec<f64>, String>>()?;
    let value = crate::stats::geomean(&figures).ok_or("no selected cell has a figure")?;
    let log_half_width = match chosen.as_slice() {
        [one] if of == "time" => one
            .between_rounds_interval()
            .filter(|(lo, hi)| *lo > 0.0 && *hi > 0.0)
            .map(|(lo, hi)| (hi.ln() - lo.ln()) / 2.0),
        _ => None,
    };
    let mut devices: Vec<String> = chosen.iter().map(|r| r.device_name.clone()).collect();
    devices.sort();
    devices.dedup();
    Ok((
        Side {
            value,
            log_half_width,
        },
        devices,
    ))
}

/// What `claim`'s cells measured on `rows`, in its unit.
pub(super) fn measure(claim: &Claim, rows: &[CellRecord]) -> Result<Measured, String> {
    let of = claim.of();
    let unit = claim.unit.as_str();
    let selection = claim.cells.as_ref().ok_or("no cell of the plan tests it")?;
    let (cells, devices) = side(selection, rows, of, unit)?;
    let (value, log_half_width) = if crate::plan::claim::compares(of, unit) {
        let over = claim
            .over
            .as_ref()
            .ok_or("the claim compares its cells but names no `over` cells")?;
        let (base, _) = side(over, rows, of, unit)?;
        // Errors of the two sides add in quadrature on the log scale.
        let half = cells
            .log_half_width
            .zip(base.log_half_width)
            .map(|(a, b)| a.hypot(b));
        let factor = match of {
            // A speed-up: the baseline's time over the cells'.
            t if is_time(t) => base.value / cells.value,
            // Memory and energy figures compare as they are: a size ratio, samples per joule.
            _ => cells.value / base.value,
        };
        let value = if unit == "%" {
            (factor - 1.0) * 100.0
        } else {
            factor
        };
        (value, half)
    } else {
        let scale = match unit {
            "s" => 1e-3,
            "us" => 1e3,
            "%" => 100.0,
            "KB" => 1.0 / 1024.0,
            "MB" => 1.0 / (1024.0 * 1024.0),
            "GB" => 1.0 / (1024.0 * 1024.0 * 1024.0),
            _ => 1.0,
        };
        (cells.value * scale, cells.log_half_width)
    };
    Ok(Measured {
        value,
        log_half_width,
        devices,
    })
}
