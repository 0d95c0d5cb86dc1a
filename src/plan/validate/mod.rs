//! The second pass: [`RawPlan`] → [`Plan`](super::Plan). Applies defaults, resolves names, checks
//! every value and expands the matrices. It collects every problem it finds rather than stopping
//! at the first, each with the span it is about. One file per section of a plan: [`models`],
//! [`data`] (sources and datasets), [`experiments`] (with their measurement settings and
//! commands) and [`matrix`]; this one holds the order they run in and the checks across
//! sections. The order is the order diagnostics are printed in.

mod claims;
mod data;
pub(crate) mod experiments;
mod matrix;
mod models;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::model::ModelSpec;
use super::params::Names;
use super::raw::RawPlan;
use super::value::ParamValue;
use super::Experiment;
use crate::data::{Dataset, DatasetSpec, SourceSpec};
use crate::diagnostic::Diagnostic;

/// Matrices beyond this many cells are refused up front, by their size.
pub const MAX_CELLS: u64 = 1_000_000;

/// The checked content of a plan, before it is tied to a file.
pub struct Checked {
    pub name: String,
    pub description: String,
    pub models: Vec<(String, ModelSpec)>,
    pub sources: Vec<SourceSpec>,
    pub datasets: Vec<(DatasetSpec, Arc<Dataset>)>,
    /// Price per hour by device name.
    pub device_prices: Vec<(String, f64)>,
    pub experiments: Vec<Experiment>,
    pub warnings: Vec<Diagnostic>,
}

/// Collects diagnostics while the pass walks the plan.
#[derive(Default)]
struct Collector {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Collector {
    fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }
    fn check(&mut self, result: Result<(), String>, span: Range<usize>) -> bool {
        match result {
            Ok(()) => true,
            Err(text) => {
                self.errors.push(Diagnostic::from_check(&text, Some(span)));
                false
            }
        }
    }
}

/// Names become folder names under `results/`, so they are kept to a safe alphabet.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > 100 || !ok_chars || name.starts_with(['.', '-']) {
        return Err(format!(
            "{what} `{}` is not a valid name\nuse 1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.` or `-` (it names a folder under results/)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Checks a plan. `plan_dir` is the folder data files are relative to.
pub fn check_plan(
    raw: RawPlan,
    plan_dir: &Path,
    options: super::LoadOptions,
) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Collector::default();
    check_header(&mut c, &raw);
    let models = models::check_models(&mut c, &raw);
    let sources = data::check_sources(&mut c, &raw, plan_dir);
    let datasets = data::check_datasets(&mut c, &raw, &sources);
    // Declared names, built or not: a model or dataset that failed its checks is reported
    // once, where it is declared, not again at every cell that uses it.
    let model_names: Vec<&str> = raw
        .models
        .iter()
        .map(|(n, _)| n.get_ref().as_str())
        .collect();
    let dataset_names: Vec<&str> = raw
        .datasets
        .iter()
        .map(|(n, _)| n.get_ref().as_str())
        .collect();
    let names = Names {
        models: &model_names,
        datasets: &dataset_names,
        lenient_devices: options.lenient_devices,
    };
    let experiments = experiments::check_experiments(&mut c, &raw, names);
    warn_unused_models(&mut c, &raw, &experiments);
    data::check_model_data_pairs(&mut c, &experiments, &models, &datasets);
    experiments::check_comparisons(&mut c, &raw);
    claims::check_claims(&mut c, &raw, &experiments);
    let device_prices = check_devices(&mut c, &raw);

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(Checked {
        name: raw.name.into_inner(),
        description: raw.description.unwrap_or_default(),
        models,
        sources,
        datasets,
        device_prices,
        experiments,
        warnings: c.warnings,
    })
}

/// The plan's version and study name.
fn check_header(c: &mut Collector, raw: &RawPlan) {
    if *raw.version.get_ref() != 1 {
        c.error(
            Diagnostic::new(
                format!("unsupported plan version {}", raw.version.get_ref()),
                Some(raw.version.span()),
            )
            .with_help("this benchplan reads `version = 1`"),
        );
    }
    c.check(
        check_name("study name", raw.name.get_ref()),
        raw.name.span(),
    );
}

/// A model no cell uses is likely a mistake (a typo in an axis, or a leftover).
fn warn_unused_models(c: &mut Collector, raw: &RawPlan, experiments: &[Experiment]) {
    for (name, model) in &raw.models {
        let used = experiments.iter().flat_map(|e| &e.cells).any(|cell| {
            cell.get("model").and_then(ParamValue::as_str) == Some(name.get_ref().as_str())
        });
        if !used {
            c.warnings.push(
                Diagnostic::warning(
                    format!("model `{}` is used by no cell", name.get_ref()),
                    Some(model.span()),
                )
                .with_help("add it to a `model` axis, or remove it"),
            );
        }
    }
}

/// `[devices.NAME]`: known device names, and prices that are numbers ≥ 0.
fn check_devices(c: &mut Collector, raw: &RawPlan) -> Vec<(String, f64)> {
    let mut device_prices = Vec::new();
    for (name, dev) in &raw.devices {
        let ok = c.check(
            crate::device::DeviceSpec::parse(name.get_ref()).map(|_| ()),
            name.span(),
        );
        let dev = dev.get_ref();
        let mut check_price =
            |key: &str, price: &toml::Spanned<f64>, example: &str| -> Option<f64> {
                let value = *price.get_ref();
                if value.is_finite() && value >= 0.0 {
                    return Some(value);
                }
                c.error(
                    Diagnostic::new(
                        format!("`{key}` must be a number ≥ 0, not {value}"),
                        Some(price.span()),
                    )
                    .with_help(format!("e.g. `{key} = {example}`")),
                );
                None
            };
        let hour = dev
            .price_per_hour
            .as_ref()
            .and_then(|p| check_price("price_per_hour", p, "2.49"));
        if let Some(p) = &dev.price_per_kwh {
            check_price("price_per_kwh", p, "0.30");
        }
        if dev.price_per_hour.is_none() && dev.price_per_kwh.is_none() {
            c.error(
                Diagnostic::new(
                    format!("`[devices.{}]` gives no price", name.get_ref()),
                    Some(name.span()),
                )
                .with_help("give `price_per_hour` (the device's price), `price_per_kwh` (electricity's), or both"),
            );
        }
        if let (Some(price), true) = (hour, ok) {
            device_prices.push((name.get_ref().clone(), price));
        }
    }
    device_prices
}
