//! The second pass: [`RawPlan`] → [`Plan`]. Applies defaults, resolves names, checks every
//! value and expands the matrices. It collects every problem it finds rather than stopping at
//! the first, each with the span it is about.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::cell::Cell;
use super::matrix::{Axis, Entry, IncludeEffect, Matrix};
use super::measure::{check_measure_value, MeasureSettings, RawMeasure};
use super::model::{check_model, ModelSpec};
use super::params::{DefaultValue, Names, ParamDef, WorkloadKind};
use super::raw::{RawDataset, RawExperiment, RawMatrix, RawPlan};
use super::value::ParamValue;
use super::Experiment;
use crate::data::features::Feature;
use crate::data::{Dataset, DatasetSpec, SourceSpec};
use crate::diagnostic::Diagnostic;
use std::path::Path;
use std::sync::Arc;

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

    let mut models = Vec::new();
    for (name, model) in &raw.models {
        let ok = c.check(check_name("model name", name.get_ref()), name.span());
        match check_model(name.get_ref(), model.get_ref(), model.span()) {
            Ok(spec) if ok => models.push((name.get_ref().clone(), spec)),
            Ok(_) => {}
            Err(diags) => diags.into_iter().for_each(|d| c.error(d)),
        }
    }
    let model_names: Vec<&str> = raw
        .models
        .iter()
        .map(|(n, _)| n.get_ref().as_str())
        .collect();

    let mut sources = Vec::new();
    for (name, src) in &raw.sources {
        let s = src.get_ref();
        if !c.check(check_name("source name", name.get_ref()), name.span()) {
            continue;
        }
        let spec = SourceSpec::new(
            name.get_ref(),
            s.file.get_ref(),
            s.date.get_ref(),
            s.column.get_ref(),
            plan_dir,
        );
        if !spec.path.is_file() {
            c.error(
                Diagnostic::new(
                    format!(
                        "source `{}`: file `{}` does not exist",
                        name.get_ref(),
                        spec.path.display()
                    ),
                    Some(s.file.span()),
                )
                .with_help("paths are relative to the folder of the plan file"),
            );
            continue;
        }
        sources.push(spec);
    }
    let mut datasets = Vec::new();
    for (name, ds) in &raw.datasets {
        if !c.check(check_name("dataset name", name.get_ref()), name.span()) {
            continue;
        }
        if let Some(spec) = check_dataset(&mut c, name.get_ref(), ds.get_ref(), &raw, &sources) {
            match Dataset::build(&spec, &sources) {
                Ok(d) => datasets.push((spec, Arc::new(d))),
                Err(e) => c.error(
                    Diagnostic::new(
                        format!("dataset `{}` cannot be built: {e:#}", name.get_ref()),
                        Some(ds.span()),
                    )
                    .with_help(
                        "check the sources it uses, and its seq_len, horizon and validation",
                    ),
                ),
            }
        }
    }
    // Declared names, built or not: a dataset that failed to build is reported once, where it
    // is declared, not again at every cell that uses it.
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

    let mut base = MeasureSettings::default();
    if let Some(m) = &raw.measure {
        apply_measure(&mut c, &mut base, m);
    }

    if raw.experiments.is_empty() {
        c.error(
            Diagnostic::new("the plan has no experiments", Some(0..0))
                .with_help("add an `[[experiments]]` table with a `name`, a `workload` and a `[experiments.matrix]`"),
        );
    }

    let mut experiments = Vec::new();
    let mut seen_names = HashSet::new();
    let mut total: u64 = 0;
    for exp in &raw.experiments {
        let name = exp.name.get_ref();
        if !seen_names.insert(name.clone()) {
            c.error(
                Diagnostic::new(format!("experiment `{name}` is declared twice"), Some(exp.name.span()))
                    .with_help("give each experiment its own name: names take part in cell ids and result rows"),
            );
        }
        if let Some(e) = check_experiment(&mut c, exp, names, &base) {
            total = total.saturating_add(e.cells.len() as u64);
            experiments.push(e);
        }
    }
    if total > MAX_CELLS {
        c.error(
            Diagnostic::new(
                format!("the plan expands to {total} cells, more than the limit of {MAX_CELLS}"),
                None,
            )
            .with_help("split the study into several plans, or shrink its axes"),
        );
    }

    // One cell per id: the same parameters named twice (by an include, say) would otherwise
    // be measured twice and collide in the results.
    let mut ids = HashSet::new();
    for e in &mut experiments {
        let before = e.cells.len();
        e.cells.retain(|cell| ids.insert(cell.id.clone()));
        if e.cells.len() < before {
            c.warnings.push(Diagnostic::warning(
                format!(
                    "experiment `{}`: {} cell(s) resolve to the same parameters as an earlier cell and are run once",
                    e.name,
                    before - e.cells.len()
                ),
                Some(e.name_span.clone()),
            ));
        }
    }

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

    check_model_data_pairs(&mut c, &experiments, &models, &datasets);
    for exp in &raw.experiments {
        let Some(other) = &exp.compare_with else {
            continue;
        };
        let known = raw
            .experiments
            .iter()
            .any(|e| e.name.get_ref() == other.get_ref());
        if other.get_ref() == exp.name.get_ref() || !known {
            c.error(
                Diagnostic::new(
                    if known {
                        format!("experiment `{}` is compared with itself", other.get_ref())
                    } else {
                        format!(
                            "`compare_with` names `{}`, which is not an experiment of this plan",
                            other.get_ref()
                        )
                    },
                    Some(other.span()),
                )
                .with_help({
                    let others: Vec<String> = raw
                        .experiments
                        .iter()
                        .filter(|e| e.name.get_ref() != exp.name.get_ref())
                        .map(|e| format!("`{}`", e.name.get_ref()))
                        .collect();
                    if others.is_empty() {
                        "declare the experiment to compare with, or remove `compare_with`"
                            .to_owned()
                    } else {
                        format!("name another experiment: {}", others.join(", "))
                    }
                }),
            );
        }
    }

    let mut device_prices = Vec::new();
    for (name, dev) in &raw.devices {
        let ok = c.check(
            crate::device::DeviceSpec::parse(name.get_ref()).map(|_| ()),
            name.span(),
        );
        let price = *dev.get_ref().price_per_hour.get_ref();
        if !(price.is_finite() && price >= 0.0) {
            c.error(
                Diagnostic::new(
                    format!("`price_per_hour` must be a number ≥ 0, not {price}"),
                    Some(dev.get_ref().price_per_hour.span()),
                )
                .with_help("e.g. `price_per_hour = 2.49`"),
            );
        } else if ok {
            device_prices.push((name.get_ref().clone(), price));
        }
    }

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

fn check_dataset(
    c: &mut Collector,
    name: &str,
    raw: &RawDataset,
    plan: &RawPlan,
    sources: &[SourceSpec],
) -> Option<DatasetSpec> {
    let errors_before = c.errors.len();
    let mut parse = |text: &Spanned<String>| -> Option<Feature> {
        match Feature::parse(text.get_ref()) {
            Err(e) => {
                c.check(Err(e), text.span());
                None
            }
            Ok(f) => {
                for src in f.sources() {
                    if !sources.iter().any(|s| s.name == src) {
                        let declared = plan.sources.iter().any(|(n, _)| n.get_ref() == src);
                        if !declared {
                            c.error(
                                Diagnostic::new(format!("dataset `{name}` uses source `{src}`, which is not declared"), Some(text.span()))
                                    .with_help(format!("declare it: `[sources.{src}]` with `file`, `date` and `column`")),
                            );
                        }
                        return None;
                    }
                }
                Some(f)
            }
        }
    };
    let features: Vec<Feature> = raw
        .features
        .get_ref()
        .iter()
        .filter_map(&mut parse)
        .collect();
    let target = parse(&raw.target);
    if raw.features.get_ref().is_empty() {
        c.error(
            Diagnostic::new(
                format!("dataset `{name}` has no features"),
                Some(raw.features.span()),
            )
            .with_help("list at least one, e.g. `features = [\"wti\"]`"),
        );
    }
    let mut positive = |v: &Spanned<i64>, key: &str| -> usize {
        if (1..=100_000).contains(v.get_ref()) {
            *v.get_ref() as usize
        } else {
            c.error(
                Diagnostic::new(
                    format!("`{key}` must be between 1 and 100000, not {}", v.get_ref()),
                    Some(v.span()),
                )
                .with_help("use a positive whole number of rows"),
            );
            1
        }
    };
    let seq_len = positive(&raw.seq_len, "seq_len");
    let horizon = positive(&raw.horizon, "horizon");
    let validation = match &raw.validation {
        None => 0.2,
        Some(v) if *v.get_ref() > 0.0 && *v.get_ref() < 1.0 => *v.get_ref(),
        Some(v) => {
            c.error(
                Diagnostic::new(
                    format!(
                        "`validation` must be a fraction between 0 and 1, not {}",
                        v.get_ref()
                    ),
                    Some(v.span()),
                )
                .with_help("e.g. `validation = 0.2` holds out the latest 20% of rows"),
            );
            0.2
        }
    };
    // An expression naming a source that could not be used (its file is missing, reported
    // there) leaves the dataset unbuildable without an error of its own.
    let unresolved = features.len() < raw.features.get_ref().len() || target.is_none();
    if c.errors.len() > errors_before || unresolved {
        return None;
    }
    Some(DatasetSpec {
        name: name.to_owned(),
        features,
        target: target?,
        seq_len,
        horizon,
        validation,
    })
}

/// A model fed from a dataset must take its windows and predict its horizon.
fn check_model_data_pairs(
    c: &mut Collector,
    experiments: &[Experiment],
    models: &[(String, ModelSpec)],
    datasets: &[(DatasetSpec, Arc<Dataset>)],
) {
    for e in experiments {
        let mut reported = HashSet::new();
        for cell in &e.cells {
            let (Some(ParamValue::Str(m)), Some(ParamValue::Str(d))) =
                (cell.get("model"), cell.get("data"))
            else {
                continue;
            };
            let (Some((_, model)), Some((ds, _))) = (
                models.iter().find(|(n, _)| n == m),
                datasets.iter().find(|(s, _)| &s.name == d),
            ) else {
                continue;
            };
            let (f, t, h) = (ds.features.len(), ds.seq_len, ds.horizon);
            let fits = match model {
                ModelSpec::Mlp {
                    inputs, outputs, ..
                } => *inputs == t * f && *outputs == h,
                ModelSpec::Lstm {
                    features,
                    seq_len,
                    outputs,
                    ..
                }
                | ModelSpec::Transformer {
                    features,
                    seq_len,
                    outputs,
                    ..
                } => *features == f && *seq_len == t && *outputs == h,
            };
            if !fits && reported.insert((m.clone(), d.clone())) {
                c.error(
                    Diagnostic::new(
                        format!("experiment `{}` feeds model `{m}` from dataset `{d}`, whose windows do not fit it", e.name),
                        Some(e.name_span.clone()),
                    )
                    .with_help(format!(
                        "`{d}` gives {t} steps × {f} features and {h} targets; an mlp needs inputs = steps × features, others features and seq_len equal, and outputs = horizon. Exclude the pair or declare a matching dataset"
                    )),
                );
            }
        }
    }
}

fn apply_measure(c: &mut Collector, settings: &mut MeasureSettings, raw: &RawMeasure) {
    for (key, value) in raw.entries() {
        if c.check(check_measure_value(key, value.get_ref()), value.span()) {
            settings.set(key, value.get_ref());
        }
    }
}

fn check_experiment(
    c: &mut Collector,
    raw: &RawExperiment,
    names: Names,
    base: &MeasureSettings,
) -> Option<Experiment> {
    let name = raw.name.get_ref();
    let name_ok = c.check(check_name("experiment name", name), raw.name.span());
    let Some(workload) = WorkloadKind::parse(raw.workload.get_ref()) else {
        c.error(
            Diagnostic::new(
                format!("unknown workload `{}`", raw.workload.get_ref()),
                Some(raw.workload.span()),
            )
            .with_help(format!(
                "use one of {}",
                WorkloadKind::ALL.map(|w| format!("`{w}`")).join(", ")
            )),
        );
        return None;
    };
    let mut measure = base.clone();
    if let Some(m) = &raw.measure {
        apply_measure(c, &mut measure, m);
    }
    if let Some(t) = &raw.diff_threshold {
        if !(*t.get_ref() > 0.0 && *t.get_ref() < 10.0) {
            c.error(
                Diagnostic::new(
                    format!(
                        "`diff_threshold` must be a fraction above 0, not {}",
                        t.get_ref()
                    ),
                    Some(t.span()),
                )
                .with_help("e.g. `diff_threshold = 0.10` counts changes above 10%"),
            );
        }
    }
    let command = check_command_key(c, raw, workload);
    let errors_before = c.errors.len();
    let matrix = check_matrix(c, workload, &raw.matrix, names);
    if c.errors.len() > errors_before || !name_ok {
        return None;
    }
    let size = matrix.product_size();
    if size > MAX_CELLS {
        c.error(
            Diagnostic::new(
                format!("experiment `{name}` expands to {size} cells, more than the limit of {MAX_CELLS}"),
                Some(raw.matrix.span()),
            )
            .with_help("shrink its axes, or split it into several experiments"),
        );
        return None;
    }
    let expansion = matrix.expand();
    for (i, effect) in expansion.excluded.iter().enumerate() {
        if *effect == 0 {
            c.warnings.push(Diagnostic::warning(
                format!("this exclude entry of experiment `{name}` removes no cell"),
                Some(raw.matrix.get_ref().exclude[i].span()),
            ));
        }
    }

    for (i, effect) in expansion.included.iter().enumerate() {
        if *effect == IncludeEffect::Added {
            c.warnings.push(
                Diagnostic::warning(
                    format!("this include entry of experiment `{name}` matches no combination, so it is added as a cell of its own"),
                    Some(raw.matrix.get_ref().include[i].span()),
                )
                .with_help("if it was meant to extend cells, check its values against the axes (`benchplan explain` shows what each entry did)"),
            );
        }
    }

    let mut cells = Vec::with_capacity(expansion.combos.len());
    let mut missing: Vec<&str> = Vec::new();
    for combo in &expansion.combos {
        let mut params = BTreeMap::new();
        let mut cell_measure = measure.clone();
        for def in workload.params() {
            match (combo.get(def.name), def.is_identity()) {
                (Some(v), true) => {
                    params.insert(def.name.to_owned(), v.clone());
                }
                (Some(v), false) => cell_measure.set(def.name, v),
                (None, true) => match def.default_value() {
                    Some(v) => {
                        params.insert(def.name.to_owned(), v);
                    }
                    None if matches!(def.default, DefaultValue::Required)
                        && !missing.contains(&def.name) =>
                    {
                        missing.push(def.name);
                    }
                    None => {}
                },
                (None, false) => {}
            }
        }
        if workload.takes_free_params() {
            for (k, v) in combo {
                if workload.params().iter().all(|d| d.name != k) {
                    params.insert(k.clone(), v.clone());
                }
            }
        }
        let explicit = combo
            .keys()
            .filter(|k| params.contains_key(*k))
            .cloned()
            .collect();
        cells.push(Cell::new(name, workload, params, explicit, cell_measure));
    }
    for param in &missing {
        c.error(
            Diagnostic::new(
                format!("experiment `{name}` has cells without `{param}`, which workload `{workload}` requires"),
                Some(raw.matrix.span()),
            )
            .with_help(format!("add an axis, e.g. `{param} = [...]`, or set `{param}` in every include entry")),
        );
    }
    if !missing.is_empty() {
        return None;
    }
    if let (Some(template), Some(raw_command)) = (&command, &raw.command) {
        if !check_placeholders(c, name, template, raw_command, &cells) {
            return None;
        }
    }
    Some(Experiment {
        name: name.clone(),
        name_span: raw.name.span(),
        workload,
        description: raw.description.clone().unwrap_or_default(),
        matrix,
        expansion,
        cells,
        command,
        compare_with: raw.compare_with.as_ref().map(|n| n.get_ref().clone()),
    })
}

/// `command` must be given exactly when the workload is `command`, as a non-empty list whose
/// first element names the program.
fn check_command_key(
    c: &mut Collector,
    raw: &RawExperiment,
    workload: WorkloadKind,
) -> Option<Vec<String>> {
    match (&raw.command, workload) {
        (None, WorkloadKind::Command) => {
            c.error(
                Diagnostic::new(
                    format!("experiment `{}` runs workload `command` but has no `command`", raw.name.get_ref()),
                    Some(raw.workload.span()),
                )
                .with_help("give the program and its arguments, e.g. `command = [\"python3\", \"bench.py\", \"--batch\", \"{batch}\"]`"),
            );
            None
        }
        (Some(cmd), WorkloadKind::Command) => {
            let args = cmd.get_ref();
            if args.first().is_none_or(|p| p.get_ref().trim().is_empty()) {
                c.error(
                    Diagnostic::new("`command` names no program", Some(cmd.span())).with_help(
                        "its first element is the program, e.g. `[\"python3\", \"bench.py\"]`",
                    ),
                );
                return None;
            }
            let mut ok = true;
            for arg in args {
                if arg.get_ref().contains('\0') {
                    c.error(
                        Diagnostic::new(
                            "a `command` argument contains a NUL byte",
                            Some(arg.span()),
                        )
                        .with_help("no program argument can hold one; remove it"),
                    );
                    ok = false;
                } else {
                    ok &= c.check(super::command::parse(arg.get_ref()).map(|_| ()), arg.span());
                }
            }
            ok.then(|| args.iter().map(|a| a.get_ref().clone()).collect())
        }
        (Some(cmd), _) => {
            c.error(
                Diagnostic::new(
                    format!("`command` is only for workload `command`, not `{workload}`"),
                    Some(cmd.span()),
                )
                .with_help("remove it, or set `workload = \"command\"`"),
            );
            None
        }
        (None, _) => None,
    }
}

/// Every placeholder of the command must resolve in every cell.
fn check_placeholders(
    c: &mut Collector,
    experiment: &str,
    template: &[String],
    raw: &Spanned<Vec<Spanned<String>>>,
    cells: &[Cell],
) -> bool {
    let mut ok = true;
    for (arg, raw_arg) in template.iter().zip(raw.get_ref()) {
        let Ok(pieces) = super::command::parse(arg) else {
            continue;
        };
        for piece in pieces {
            let super::command::Piece::Param(p) = piece else {
                continue;
            };
            let lacking = cells
                .iter()
                .filter(|cell| super::command::lookup(&p, cell, "").is_none())
                .count();
            if lacking > 0 {
                c.error(
                    Diagnostic::new(
                        format!("placeholder `{{{p}}}` has no value in {lacking} of the {} cells of experiment `{experiment}`", cells.len()),
                        Some(raw_arg.span()),
                    )
                    .with_help(format!(
                        "placeholders name matrix parameters, measurement settings or {}; add `{p}` to the matrix, or write `{{{{` for a literal brace",
                        super::command::BUILT_INS.map(|b| format!("`{b}`")).join(", ")
                    )),
                );
                ok = false;
            }
        }
    }
    ok
}

fn param_list(workload: WorkloadKind) -> String {
    workload
        .params()
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the parameter a matrix key names, or reports the key.
fn lookup(
    c: &mut Collector,
    workload: WorkloadKind,
    key: &Spanned<String>,
    context: &str,
) -> Option<&'static ParamDef> {
    let def = workload.param(key.get_ref());
    if def.is_none() {
        c.error(
            Diagnostic::new(
                format!(
                    "{context} `{}` is not a parameter of workload `{workload}`",
                    key.get_ref()
                ),
                Some(key.span()),
            )
            .with_help(format!(
                "the parameters of `{workload}` are {}",
                param_list(workload)
            )),
        );
    }
    def
}

/// Checks a list of values for one parameter; returns them when all are valid and distinct.
fn check_values(
    c: &mut Collector,
    def: &ParamDef,
    name: &Spanned<String>,
    values: &Spanned<Vec<Spanned<ParamValue>>>,
    names: Names,
    allow_repeats: bool,
) -> Option<Vec<ParamValue>> {
    if values.get_ref().is_empty() {
        c.error(
            Diagnostic::new(
                format!("axis `{}` is empty", name.get_ref()),
                Some(values.span()),
            )
            .with_help("give it at least one value, or remove it to use the default"),
        );
        return None;
    }
    let mut ok = true;
    let mut seen: Vec<&ParamValue> = Vec::new();
    for v in values.get_ref() {
        ok &= c.check(def.check(v.get_ref(), names), v.span());
        if !allow_repeats && seen.contains(&v.get_ref()) {
            c.error(
                Diagnostic::new(
                    format!(
                        "value {} appears twice in axis `{}`",
                        v.get_ref().to_toml(),
                        name.get_ref()
                    ),
                    Some(v.span()),
                )
                .with_help("list each value once"),
            );
            ok = false;
        }
        seen.push(v.get_ref());
    }
    ok.then(|| {
        values
            .get_ref()
            .iter()
            .map(|v| v.get_ref().clone())
            .collect()
    })
}

fn check_matrix(
    c: &mut Collector,
    workload: WorkloadKind,
    raw: &Spanned<RawMatrix>,
    names: Names,
) -> Matrix {
    let raw_m = raw.get_ref();
    let mut matrix = Matrix::default();
    let mut axis_names: Vec<String> = Vec::new();

    for (key, values) in &raw_m.axes {
        let Some(def) = lookup(c, workload, key, "axis") else {
            continue;
        };
        axis_names.push(key.get_ref().clone());
        if let Some(values) = check_values(c, def, key, values, names, false) {
            matrix.axes.push(Axis::Single {
                name: key.get_ref().clone(),
                values,
            });
        }
    }

    for group in &raw_m.zip {
        let pairs = group.get_ref();
        if pairs.is_empty() {
            c.error(
                Diagnostic::new("zip group is empty", Some(group.span()))
                    .with_help("a zip group lists parameters that vary together, e.g. `n = [1000, 5000]` and `iterations = [50, 5]`"),
            );
            continue;
        }
        let mut zip_names = Vec::new();
        let mut columns = Vec::new();
        let mut ok = true;
        for (key, values) in pairs {
            let Some(def) = lookup(c, workload, key, "zipped parameter") else {
                ok = false;
                continue;
            };
            if axis_names.contains(key.get_ref()) {
                c.error(
                    Diagnostic::new(
                        format!("`{}` is both an axis and a zipped parameter", key.get_ref()),
                        Some(key.span()),
                    )
                    .with_help("a parameter can vary in one place only; remove one of them"),
                );
                ok = false;
                continue;
            }
            axis_names.push(key.get_ref().clone());
            // Zipped columns may repeat a value (e.g. the same iteration count for two sizes).
            match check_values(c, def, key, values, names, true) {
                Some(v) => {
                    zip_names.push(key.get_ref().clone());
                    columns.push(v);
                }
                None => ok = false,
            }
        }
        let lengths: Vec<usize> = columns.iter().map(Vec::len).collect();
        if lengths.windows(2).any(|w| w[0] != w[1]) {
            let described = zip_names
                .iter()
                .zip(&lengths)
                .map(|(n, l)| format!("`{n}` has {l}"))
                .collect::<Vec<_>>()
                .join(", ");
            c.error(
                Diagnostic::new(
                    format!("zipped parameters differ in length: {described}"),
                    Some(group.span()),
                )
                .with_help(
                    "zipped parameters vary together, so each needs the same number of values",
                ),
            );
            ok = false;
        }
        if ok {
            let rows = (0..lengths[0])
                .map(|i| columns.iter().map(|col| col[i].clone()).collect())
                .collect();
            matrix.axes.push(Axis::Zip {
                names: zip_names,
                rows,
            });
        }
    }

    for entry in &raw_m.exclude {
        if entry.get_ref().is_empty() {
            c.error(
                Diagnostic::new("empty exclude entry", Some(entry.span()))
                    .with_help("an exclude entry lists axis values, e.g. `{ dtype = \"f16\", device = \"cpu\" }`"),
            );
            continue;
        }
        let mut out: Entry = Vec::new();
        for (key, value) in entry.get_ref() {
            if !axis_names.contains(key.get_ref()) {
                c.error(
                    Diagnostic::new(
                        format!(
                            "exclude names `{}`, which is not an axis of this matrix",
                            key.get_ref()
                        ),
                        Some(key.span()),
                    )
                    .with_help(format!(
                        "exclude can only name axes: {}",
                        axis_names
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                continue;
            }
            out.push((key.get_ref().clone(), value.get_ref().clone()));
        }
        matrix.exclude.push(out);
    }

    for entry in &raw_m.include {
        if entry.get_ref().is_empty() {
            c.error(
                Diagnostic::new("empty include entry", Some(entry.span()))
                    .with_help("an include entry lists parameter values, e.g. `{ model = \"mlp-large\", batch = 64 }`"),
            );
            continue;
        }
        let mut out: Entry = Vec::new();
        for (key, value) in entry.get_ref() {
            let Some(def) = lookup(c, workload, key, "include entry key") else {
                continue;
            };
            if c.check(def.check(value.get_ref(), names), value.span()) {
                out.push((key.get_ref().clone(), value.get_ref().clone()));
            }
        }
        matrix.include.push(out);
    }

    if matrix.axes.is_empty() && matrix.include.is_empty() && c.errors.is_empty() {
        c.error(
            Diagnostic::new(
                "the matrix has no axes and no include entries",
                Some(raw.span()),
            )
            .with_help("add at least one axis, e.g. `batch = [32]`"),
        );
    }
    matrix
}
