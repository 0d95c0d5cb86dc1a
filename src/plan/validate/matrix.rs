//! `[experiments.matrix]`: axes, zip groups, include and exclude, each value checked against
//! the workload's parameter, into a [`Matrix`] to expand.

use toml::Spanned;

use super::experiments::{check_values, lookup};
use super::Collector;
use crate::diagnostic::Diagnostic;
use crate::plan::matrix::{Axis, Entry, Matrix};
use crate::plan::params::{Names, WorkloadKind};
use crate::plan::raw::{RawAxis, RawEntry, RawMatrix};

/// The matrix of one experiment: its axes, zip groups, exclude and include entries, in that
/// order (an exclude may name only parameters that vary).
pub(super) fn check_matrix(
    c: &mut Collector,
    workload: WorkloadKind,
    raw: &Spanned<RawMatrix>,
    names: Names,
) -> Matrix {
    let raw_m = raw.get_ref();
    let mut matrix = Matrix::default();
    // Every parameter that varies, on an axis or in a zip group.
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
        if let Some(zip) = check_zip(c, workload, group, names, &mut axis_names) {
            matrix.axes.push(zip);
        }
    }
    for entry in &raw_m.exclude {
        if let Some(out) = check_exclude(c, entry, &axis_names) {
            matrix.exclude.push(out);
        }
    }
    for entry in &raw_m.include {
        if let Some(out) = check_include(c, workload, entry, names) {
            matrix.include.push(out);
        }
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

/// One zip group: parameters that vary together, each with the same number of values.
fn check_zip(
    c: &mut Collector,
    workload: WorkloadKind,
    group: &Spanned<Vec<RawAxis>>,
    names: Names,
    axis_names: &mut Vec<String>,
) -> Option<Axis> {
    let pairs = group.get_ref();
    if pairs.is_empty() {
        c.error(
            Diagnostic::new("zip group is empty", Some(group.span()))
                .with_help("a zip group lists parameters that vary together, e.g. `n = [1000, 5000]` and `iterations = [50, 5]`"),
        );
        return None;
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
            .with_help("zipped parameters vary together, so each needs the same number of values"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let rows = (0..lengths[0])
        .map(|i| columns.iter().map(|col| col[i].clone()).collect())
        .collect();
    Some(Axis::Zip {
        names: zip_names,
        rows,
    })
}

/// One exclude entry: values of parameters that vary.
fn check_exclude(
    c: &mut Collector,
    entry: &Spanned<RawEntry>,
    axis_names: &[String],
) -> Option<Entry> {
    if entry.get_ref().is_empty() {
        c.error(
            Diagnostic::new("empty exclude entry", Some(entry.span())).with_help(
                "an exclude entry lists axis values, e.g. `{ dtype = \"f16\", device = \"cpu\" }`",
            ),
        );
        return None;
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
    Some(out)
}

/// One include entry: values of any of the workload's parameters, each checked.
fn check_include(
    c: &mut Collector,
    workload: WorkloadKind,
    entry: &Spanned<RawEntry>,
    names: Names,
) -> Option<Entry> {
    if entry.get_ref().is_empty() {
        c.error(
            Diagnostic::new("empty include entry", Some(entry.span()))
                .with_help("an include entry lists parameter values, e.g. `{ model = \"mlp-large\", batch = 64 }`"),
        );
        return None;
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
    Some(out)
}
