//! `[[claims]]`: names unique, a quantity and a unit benchplan measures, a figure that can be
//! one, a tolerance that means something, `over` exactly for comparisons, and selections that
//! select cells of this plan (a claim that tests nothing is an error, at its line).

use std::collections::BTreeSet;

use crate::diagnostic::Diagnostic;
use crate::plan::claim::{compares, selection_of, units_for, QUANTITIES};
use crate::plan::filter::key_value;
use crate::plan::raw::RawPlan;
use crate::plan::{Cell, Experiment};

use super::Collector;

pub(super) fn check_claims(c: &mut Collector, raw: &RawPlan, experiments: &[Experiment]) {
    let cells: Vec<&Cell> = experiments.iter().flat_map(|e| &e.cells).collect();
    let mut names = BTreeSet::new();
    for claim in &raw.claims {
        let name = claim.name.get_ref();
        if !names.insert(name.clone()) {
            c.error(
                Diagnostic::new(
                    format!("claim `{name}` is declared twice"),
                    Some(claim.name.span()),
                )
                .with_help("give each claim a name of its own"),
            );
        }
        let of = claim.of.as_ref().map_or("time", |o| o.get_ref().as_str());
        let units = units_for(of);
        if let (Some(o), true) = (&claim.of, units.is_empty()) {
            c.error(
                Diagnostic::new(
                    format!("`of = \"{of}\"` is not a quantity a claim can be of"),
                    Some(o.span()),
                )
                .with_help(format!("use one of: {}", QUANTITIES.join(", "))),
            );
        }
        let unit = claim.unit.get_ref().as_str();
        if claim.cells.is_none() && claim.not_measured.is_none() {
            c.error(
                Diagnostic::new(
                    format!("claim `{name}` names no `cells` to test it"),
                    Some(claim.name.span()),
                )
                .with_help("add `cells = { ... }` (as `--filter` selects), or `not_measured = \"why\"` for a claim no cell can test"),
            );
        }
        // A claim no cell tests is only shown with its reason: its unit is the source's own.
        let tested = claim.cells.is_some();
        if tested && !units.is_empty() && !units.contains(&unit) {
            c.error(
                Diagnostic::new(
                    format!("unit `{unit}` is not one a claim of `{of}` can be checked in"),
                    Some(claim.unit.span()),
                )
                .with_help(format!("use one of: {}", units.join(", "))),
            );
        }
        let value = *claim.value.get_ref();
        // A change may be negative (`-75` %: a quarter of the size); every other figure is > 0.
        let change = unit == "%" && compares(of, unit);
        let possible = value.is_finite() && if change { value > -100.0 } else { value > 0.0 };
        if !possible {
            let (what, help) = if change {
                (
                    "> -100",
                    "a change in percent: -75 is a quarter of the size",
                )
            } else {
                ("> 0", "the figure the claim states, in `unit`")
            };
            c.error(
                Diagnostic::new(
                    format!("a claim's `value` must be a number {what}, not {value}"),
                    Some(claim.value.span()),
                )
                .with_help(help),
            );
        }
        if let Some(t) = &claim.tolerance {
            let t_value = *t.get_ref();
            if !(t_value.is_finite() && t_value > 0.0 && t_value <= 10.0) {
                c.error(
                    Diagnostic::new(
                        format!("`tolerance` must be a fraction > 0 and ≤ 10, not {t_value}"),
                        Some(t.span()),
                    )
                    .with_help("e.g. `tolerance = 0.25`: the claim holds within 25%"),
                );
            }
        }
        match (&claim.over, tested && compares(of, unit)) {
            (None, true) => c.error(
                Diagnostic::new(
                    format!("claim `{name}` compares its cells (`{unit}`) but names no `over` cells to compare them with"),
                    Some(claim.unit.span()),
                )
                .with_help("add e.g. `over = { device = \"cpu\" }`"),
            ),
            (Some(over), false) => c.error(
                Diagnostic::new(format!("`over` is for comparisons (`unit = \"x\"`, or `%` of memory), not `{unit}`"), Some(over.span()))
                    .with_help("remove `over`, or state the claim as a speed-up"),
            ),
            _ => {}
        }
        for selection in claim.cells.iter().chain(claim.over.as_ref()) {
            check_selection(c, selection, &cells);
        }
    }
}

/// A selection's keys exist and it selects at least one cell.
fn check_selection(c: &mut Collector, selection: &toml::Spanned<toml::Table>, cells: &[&Cell]) {
    let wanted = selection_of(selection.get_ref());
    for key in wanted.keys() {
        let known = matches!(key.as_str(), "experiment" | "workload" | "id")
            || cells.iter().any(|cell| cell.params.contains_key(key));
        if !known {
            c.error(
                Diagnostic::new(
                    format!("`{key}` is not a parameter of any cell of this plan"),
                    Some(selection.span()),
                )
                .with_help("select by parameters, `experiment`, `workload` or `id`"),
            );
            return;
        }
    }
    let selected = cells.iter().any(|cell| {
        wanted.iter().all(|(key, accepted)| {
            key_value(cell, key).is_some_and(|v| accepted.values().contains(&v))
        })
    });
    if !selected {
        c.error(
            Diagnostic::new(
                "this claim selects no cell of the plan",
                Some(selection.span()),
            )
            .with_help(
                "check the values against `benchplan list`: the claim must be tested by some cell",
            ),
        );
    }
}
