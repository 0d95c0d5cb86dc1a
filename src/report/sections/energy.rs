//! Energy and device state: performance per watt of each device of a study (samples per
//! joule of its training and inference cells, and how devices compare on the configurations
//! measured with a figure on both), the energy cost of a million samples where the plan gives
//! a price per kWh, and the GPU cells measured while their device was throttled.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::CellRecord;

use super::super::table::{KeyedRow, Table, ValueColumn};
use super::super::view::*;

/// One device's energy figures.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceEnergy {
    pub device: String,
    /// Training and inference cells of the device, and how many have an energy figure.
    pub cells: usize,
    pub with_figure: usize,
    /// Median of the cells' average power, watts.
    pub median_watts: Option<f64>,
    /// Geometric mean of the cells' samples per joule.
    pub samples_per_joule: Option<f64>,
    /// The cell with the most samples per joule: its keys and figure.
    pub best: Option<(String, f64)>,
    /// Energy cost of a million samples at the best cell, in the plan's currency.
    pub cost_per_million: Option<f64>,
    /// Why cells have no figure: the most common reason.
    pub why_none: String,
}

/// The energy view of a report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EnergyView {
    pub devices: Vec<DeviceEnergy>,
    /// One sentence per pair of devices: how their samples per joule compare.
    pub comparisons: Vec<String>,
    /// Cells measured while their device was throttled, in words.
    pub throttled: Vec<String>,
    /// Cells with a device state (GPU cells read through NVML), for the sentence above them.
    pub with_state: usize,
    /// How the energy counter compares with the device's power readings integrated over the
    /// same iterations, in words; empty where no cell has both.
    pub power_check: String,
}

/// Why a row has no energy figure when it says nothing: it was measured before energy was.
const NOT_RECORDED: &str = "not recorded: measured before benchplan read energy (result format 6)";

/// Whether a row is a training or inference cell (the rows performance per watt is about).
fn is_model_work(r: &CellRecord) -> bool {
    r.workload == "train" || r.workload == "infer"
}

/// A configuration without its device, for matching a cell across devices.
fn config(r: &CellRecord) -> String {
    let keys: Vec<String> = keys_of(r, &[], &["device"])
        .into_iter()
        .filter(|(k, _)| k != "commit")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    keys.join(" ")
}

/// The geometric mean of the positive values of `xs`.
fn geomean(xs: &[f64]) -> Option<f64> {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| *x > 0.0).collect();
    crate::stats::geomean(&xs)
}

/// The energy view of `ok` rows; `kwh_prices` by device name (the plan's `price_per_kwh`).
pub(in crate::report) fn energy_view(
    ok: &[&CellRecord],
    kwh_prices: &BTreeMap<String, f64>,
) -> EnergyView {
    let mut view = EnergyView::default();
    let mut devices: Vec<String> = Vec::new();
    for r in ok.iter().filter(|r| is_model_work(r)) {
        let d = param_str(r, "device");
        if !devices.contains(&d) {
            devices.push(d);
        }
    }
    let any_figure = ok.iter().any(|r| r.energy_j.is_some());
    for d in &devices {
        let rows: Vec<&&CellRecord> = ok
            .iter()
            .filter(|r| is_model_work(r) && param_str(r, "device") == *d)
            .collect();
        let with: Vec<&&&CellRecord> = rows
            .iter()
            .filter(|r| r.samples_per_joule().is_some())
            .collect();
        let watts: Vec<f64> = with.iter().filter_map(|r| r.average_watts()).collect();
        let per_joule: Vec<f64> = with.iter().filter_map(|r| r.samples_per_joule()).collect();
        let best = with
            .iter()
            .filter_map(|r| Some((r, r.samples_per_joule()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, spj)| (format!("{} {}", r.experiment, r.cell_key), spj));
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.energy_j.is_none()) {
            // Rows of sets older than result format 6 say nothing of energy.
            let why = r.energy_note.as_deref().unwrap_or(NOT_RECORDED);
            *reasons.entry(why).or_default() += 1;
        }
        view.devices.push(DeviceEnergy {
            device: d.clone(),
            cells: rows.len(),
            with_figure: with.len(),
            median_watts: crate::stats::median(&watts),
            samples_per_joule: geomean(&per_joule),
            cost_per_million: best
                .as_ref()
                .zip(kwh_prices.get(d))
                // J per sample × 10⁶ samples ÷ 3.6 × 10⁶ J per kWh × price per kWh.
                .map(|((_, spj), price)| price / spj / 3.6),
            best,
            why_none: reasons
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(why, _)| why.to_owned())
                .unwrap_or_default(),
        });
    }
    if !any_figure {
        // Nothing to compare: the header's energy line says why.
        view.devices.clear();
    }
    // Each later device against the first (the CPU where the plan lists it first).
    if let Some(base) = devices.first() {
        for other in devices.iter().skip(1) {
            view.comparisons.push(compare(ok, base, other));
        }
    }
    if view.devices.is_empty() {
        view.comparisons.clear();
    }
    for r in ok {
        if r.device_state != Default::default() {
            view.with_state += 1;
        }
        if r.throttled() == Some(true) {
            view.throttled.push(format!(
                "`{} {}`: {}",
                r.experiment,
                r.cell_key,
                r.device_state_words()
            ));
        }
    }
    view.power_check = power_check(ok);
    view
}

/// `the power readings … agree with the counter within 0.9% on the 4 cells …`: integrated power
/// over the counter, on cells with both figures, the longest cell's separately (the power
/// reading is averaged over up to a second, so short phases make it lag).
fn power_check(ok: &[&CellRecord]) -> String {
    let mut both: Vec<(f64, f64)> = ok
        .iter()
        .filter_map(|r| {
            let ratio = r.device_state.power_integrated_j? / r.energy_j.filter(|j| *j > 0.0)?;
            Some((
                r.energy_timed_s? / r.round_sample_counts.len().max(1) as f64,
                ratio,
            ))
        })
        .collect();
    if both.is_empty() {
        return String::new();
    }
    both.sort_by(|a, b| a.1.total_cmp(&b.1));
    let ratios: Vec<f64> = both.iter().map(|b| b.1).collect();
    let median = crate::stats::median(&ratios).unwrap_or(1.0);
    let pct = |x: f64| format!("{:+.1}%", (x - 1.0) * 100.0);
    let long: Vec<f64> = both.iter().filter(|b| b.0 >= 5.0).map(|b| b.1).collect();
    let long_text = if long.is_empty() {
        String::new()
    } else {
        format!(
            "; over rounds of 5 s or more ({} cells) they agree within {:.1}%",
            long.len(),
            long.iter()
                .map(|r| (r - 1.0).abs() * 100.0)
                .fold(0.0, f64::max)
        )
    };
    format!(
        "NVML's power readings, sampled every 20 ms and integrated over the same timed iterations, give {} of the energy counter's joules at the median of {} cells (from {} to {}){long_text}. The power reading is itself an average over up to a second, so over short rounds it lags the counter; the counter is the figure shown",
        pct(median),
        ratios.len(),
        pct(ratios[0]),
        pct(ratios[ratios.len() - 1])
    )
}

/// How `other`'s samples per joule compare with `base`'s on the configurations measured with a
/// figure on both.
fn compare(ok: &[&CellRecord], base: &str, other: &str) -> String {
    let on = |d: &str| -> BTreeMap<String, f64> {
        ok.iter()
            .filter(|r| is_model_work(r) && param_str(r, "device") == d)
            .filter_map(|r| Some((config(r), r.samples_per_joule()?)))
            .collect()
    };
    let (a, b) = (on(base), on(other));
    let ratios: Vec<f64> = b
        .iter()
        .filter_map(|(k, spj)| Some(spj / a.get(k)?))
        .collect();
    match geomean(&ratios) {
        Some(g) => format!(
            "`{other}` does {} the samples per joule of `{base}` (geometric mean over the {} training and inference configurations with an energy figure on both; from {} to {})",
            ratio_text(g),
            ratios.len(),
            ratio_text(ratios.iter().copied().fold(f64::INFINITY, f64::min)),
            ratio_text(ratios.iter().copied().fold(0.0, f64::max)),
        ),
        None => {
            let missing = if a.is_empty() { base } else { other };
            format!(
                "`{other}` and `{base}` cannot be compared per joule: no configuration has an energy figure on both (`{missing}` has none)"
            )
        }
    }
}

/// `12.3×`, or `0.45×`.
fn ratio_text(x: f64) -> String {
    format!("{}×", crate::format::significant(x))
}

/// The device table of the energy view.
pub(in crate::report) fn energy_table(view: &EnergyView) -> Option<Table> {
    let priced = view.devices.iter().any(|d| d.cost_per_million.is_some());
    let mut columns = vec![
        ValueColumn::number("cells with a figure"),
        ValueColumn::number("power (median)"),
        ValueColumn::number("samples per joule (geomean)"),
        ValueColumn::text("most samples per joule"),
    ];
    if priced {
        columns.push(ValueColumn::number("energy cost per 1M samples (best)"));
    }
    columns.push(ValueColumn::text("no figure because"));
    let rows = view
        .devices
        .iter()
        .map(|d| {
            let mut values = vec![
                format!("{} of {}", d.with_figure, d.cells),
                opt(d.median_watts, |w| format!("{w:.0} W")),
                opt(d.samples_per_joule, crate::format::sig3),
                opt(d.best.as_ref(), |(k, spj)| {
                    format!("{} (`{k}`)", crate::format::sig3(*spj))
                }),
            ];
            if priced {
                values.push(opt(d.cost_per_million, |c| format!("{c:.4}")));
            }
            values.push(if d.with_figure == d.cells {
                super::super::table::ABSENT.to_owned()
            } else {
                d.why_none.clone()
            });
            KeyedRow {
                keys: vec![("device".to_owned(), d.device.clone())],
                values,
            }
        })
        .collect();
    Table::build(rows, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::state::DeviceState;
    use crate::results::store::tests::record;

    fn cell(device: &str, model: &str, joules: Option<f64>) -> CellRecord {
        use crate::plan::ParamValue::Str;
        let params = [("model", Str(model.into())), ("device", Str(device.into()))];
        let mut r = record(&format!("{model}-{device}"), &params, vec![10.0; 100]);
        r.workload = "train".into();
        r.experiment = "train".into();
        r.cell_key = format!("model={model} device={device}");
        r.samples_per_iteration = Some(32);
        r.energy_j = joules;
        r.energy_timed_s = joules.map(|_| 1.0);
        r.energy_source = joules.map(|_| "nvml".to_owned());
        r.energy_note = joules
            .is_none()
            .then(|| "no RAPL energy counters".to_owned());
        r
    }

    #[test]
    fn devices_compare_per_joule_on_the_configurations_both_measured() {
        // 3,200 samples: the CPU uses 64 J and 32 J, the GPU 8 J and 2 J: 8× and 16×.
        let rows = [
            cell("cpu", "a", Some(64.0)),
            cell("cpu", "b", Some(32.0)),
            cell("gpu", "a", Some(8.0)),
            cell("gpu", "b", Some(2.0)),
            cell("gpu", "c", Some(1.0)),
        ];
        let ok: Vec<&CellRecord> = rows.iter().collect();
        let prices = [("gpu".to_owned(), 0.36)].into_iter().collect();
        let v = energy_view(&ok, &prices);
        assert_eq!(v.comparisons.len(), 1);
        let said = &v.comparisons[0];
        assert!(
            said.starts_with("`gpu` does 11.3× the samples per joule of `cpu`"),
            "{said}"
        );
        assert!(said.contains("over the 2 training"), "{said}");
        let gpu = &v.devices[1];
        assert_eq!((gpu.with_figure, gpu.cells), (3, 3));
        assert_eq!(gpu.best.as_ref().unwrap().1, 3_200.0);
        // 1/3,200 J per sample: a million samples take 312.5 J = 8.68e-5 kWh, at 0.36 per kWh.
        assert!((gpu.cost_per_million.unwrap() - 0.36 / 3_200.0 / 3.6).abs() < 1e-12);
        let table = energy_table(&v).unwrap();
        assert!(table
            .columns
            .iter()
            .any(|c| c.name.starts_with("energy cost")));
    }

    #[test]
    fn a_device_without_figures_says_why_and_throttled_cells_are_listed() {
        let mut hot = cell("gpu", "a", Some(8.0));
        hot.device_state = DeviceState {
            clock_events_end: Some("sw_power_cap".into()),
            held_back_s: Some(1.0),
            ..DeviceState::default()
        };
        let rows = [cell("cpu", "a", None), hot];
        let ok: Vec<&CellRecord> = rows.iter().collect();
        let v = energy_view(&ok, &BTreeMap::new());
        assert!(
            v.comparisons[0].contains("cannot be compared per joule"),
            "{:?}",
            v.comparisons
        );
        assert!(v.comparisons[0].contains("(`cpu` has none)"));
        assert_eq!(v.devices[0].why_none, "no RAPL energy counters");
        assert_eq!(v.throttled.len(), 1);
        assert!(
            v.throttled[0].contains("throttled (sw power cap, held back 1.0s of 1.0s)"),
            "{}",
            v.throttled[0]
        );
        assert_eq!(v.with_state, 1);
        // Without any figure there is nothing to show.
        let none = [cell("cpu", "a", None)];
        let ok: Vec<&CellRecord> = none.iter().collect();
        assert!(energy_view(&ok, &BTreeMap::new()).devices.is_empty());
    }
}
