//! The second pass: [`RawPlan`] → [`Plan`]. Applies defaults, resolves names, checks every
//! value and expands the matrices. It collects every problem it finds rather than stopping at
//! the first, each with the span it is about.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::cell::Cell;
use super::matrix::{Axis, Entry, Matrix};
use super::measure::{check_measure_value, MeasureSettings, RawMeasure};
use super::model::{check_model, ModelSpec};
use super::params::{DefaultValue, ParamDef, WorkloadKind};
use super::raw::{RawExperiment, RawMatrix, RawPlan};
use super::value::ParamValue;
use super::Experiment;
use crate::diagnostic::Diagnostic;

/// Matrices beyond this many cells are refused up front, by their size.
pub const MAX_CELLS: u64 = 1_000_000;

/// The checked content of a plan, before it is tied to a file.
pub struct Checked {
    pub name: String,
    pub description: String,
    pub models: Vec<(String, ModelSpec)>,
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

pub fn check_plan(raw: RawPlan) -> Result<Checked, Vec<Diagnostic>> {
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
        if let Some(e) = check_experiment(&mut c, exp, &model_names, &base) {
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

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(Checked {
        name: raw.name.into_inner(),
        description: raw.description.unwrap_or_default(),
        models,
        experiments,
        warnings: c.warnings,
    })
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
    models: &[&str],
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
    let errors_before = c.errors.len();
    let matrix = check_matrix(c, workload, &raw.matrix, models);
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
        cells.push(Cell::new(name, workload, params, cell_measure));
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
    Some(Experiment {
        name: name.clone(),
        name_span: raw.name.span(),
        workload,
        description: raw.description.clone().unwrap_or_default(),
        matrix,
        expansion,
        cells,
    })
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
    models: &[&str],
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
        ok &= c.check(def.check(v.get_ref(), models), v.span());
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
    models: &[&str],
) -> Matrix {
    let raw_m = raw.get_ref();
    let mut matrix = Matrix::default();
    let mut axis_names: Vec<String> = Vec::new();

    for (key, values) in &raw_m.axes {
        let Some(def) = lookup(c, workload, key, "axis") else {
            continue;
        };
        axis_names.push(key.get_ref().clone());
        if let Some(values) = check_values(c, def, key, values, models, false) {
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
        let mut names = Vec::new();
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
            match check_values(c, def, key, values, models, true) {
                Some(v) => {
                    names.push(key.get_ref().clone());
                    columns.push(v);
                }
                None => ok = false,
            }
        }
        let lengths: Vec<usize> = columns.iter().map(Vec::len).collect();
        if lengths.windows(2).any(|w| w[0] != w[1]) {
            let described = names
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
            matrix.axes.push(Axis::Zip { names, rows });
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
            if c.check(def.check(value.get_ref(), models), value.span()) {
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
