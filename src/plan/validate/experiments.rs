//! `[[experiments]]`: each experiment's workload, measurement settings, command and matrix,
//! expanded into cells; the plan's size; cells named twice; `compare_with`.

use std::collections::{BTreeMap, HashSet};

use toml::Spanned;

use super::matrix::check_matrix;
use super::{check_name, Collector, MAX_CELLS};
use crate::diagnostic::Diagnostic;
use crate::plan::cell::Cell;
use crate::plan::command;
use crate::plan::matrix::IncludeEffect;
use crate::plan::measure::{check_measure_value, MeasureSettings, RawMeasure};
use crate::plan::params::{DefaultValue, Names, ParamDef, WorkloadKind};
use crate::plan::raw::{RawExperiment, RawPlan};
use crate::plan::value::ParamValue;
use crate::plan::Experiment;

/// Every experiment that checks, with its cells; each cell id once across the plan.
pub(super) fn check_experiments(c: &mut Collector, raw: &RawPlan, names: Names) -> Vec<Experiment> {
    let mut base = MeasureSettings::default();
    if let Some(m) = &raw.measure {
        apply_measure(c, &mut base, m);
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
        // Each experiment is checked against what is left of the plan-wide limit before it
        // is expanded: eight experiments of a million cells must not be built to be refused.
        let left = MAX_CELLS.saturating_sub(total);
        if let Some(e) = check_experiment(c, exp, names, &base, left) {
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
    experiments
}

/// `compare_with` names another experiment of the plan.
pub(super) fn check_comparisons(c: &mut Collector, raw: &RawPlan) {
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
    left: u64,
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
    check_measures(c, raw, workload);
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
    if size > left {
        c.error(
            Diagnostic::new(
                format!("experiment `{name}` expands to {size} cells, and with the experiments before it the plan would pass the limit of {MAX_CELLS} cells"),
                Some(raw.matrix.span()),
            )
            .with_help("split the study into several plans, or shrink its axes"),
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
                if workload.params().all(|d| d.name != k) {
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
    // Settings merge from the plan, the experiment and the matrix: check the result, once per
    // experiment, at the experiment's name.
    if let Some(bad) = cells
        .iter()
        .find(|cell| cell.measure.min_iterations > cell.measure.max_iterations)
    {
        let span = raw.name.span();
        c.error(
            Diagnostic::new(
                format!(
                    "experiment `{name}`: `min_iterations` ({}) is above `max_iterations` ({}){}",
                    bad.measure.min_iterations,
                    bad.measure.max_iterations,
                    if cells.len() > 1 { format!(" in cell {}", bad.key()) } else { String::new() }
                ),
                Some(span),
            )
            .with_help("a cell cannot take at least more samples than it may take at most; lower `min_iterations` or raise `max_iterations`"),
        );
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

/// The workloads a `command` experiment may say it measures (`measures`).
pub const MEASURES: [&str; 4] = ["train", "infer", "matmul", "dataload"];

/// `measures` is for `command` experiments only, and names a workload the report has a
/// section for.
fn check_measures(c: &mut Collector, raw: &RawExperiment, workload: WorkloadKind) {
    let Some(m) = &raw.measures else { return };
    if workload != WorkloadKind::Command {
        c.error(
            Diagnostic::new(
                format!("`measures` is only for workload `command`, not `{workload}`"),
                Some(m.span()),
            )
            .with_help("remove it: benchplan's own workloads are placed by their workload"),
        );
    } else if !MEASURES.contains(&m.get_ref().as_str()) {
        c.error(
            Diagnostic::new(
                format!("`measures` must be one of {}, not `{}`", MEASURES.map(|w| format!("`{w}`")).join(", "), m.get_ref()),
                Some(m.span()),
            )
            .with_help("say which of benchplan's workloads the program measures, or remove `measures` to list its cells under \"Other measurements\""),
        );
    }
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
                    ok &= c.check(command::parse(arg.get_ref()).map(|_| ()), arg.span());
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
        let Ok(pieces) = command::parse(arg) else {
            continue;
        };
        for piece in pieces {
            let command::Piece::Param(p) = piece else {
                continue;
            };
            let lacking = cells
                .iter()
                .filter(|cell| command::lookup(&p, cell, "").is_none())
                .count();
            if lacking > 0 {
                c.error(
                    Diagnostic::new(
                        format!("placeholder `{{{p}}}` has no value in {lacking} of the {} cells of experiment `{experiment}`", cells.len()),
                        Some(raw_arg.span()),
                    )
                    .with_help(format!(
                        "placeholders name matrix parameters, measurement settings or {}; add `{p}` to the matrix, or write `{{{{` for a literal brace",
                        command::BUILT_INS.map(|b| format!("`{b}`")).join(", ")
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
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the parameter a matrix key names, or reports the key.
pub(super) fn lookup(
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
pub(super) fn check_values(
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
