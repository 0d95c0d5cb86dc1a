//! A cell: one point of an experiment's matrix, with its resolved parameters, measurement
//! settings and a stable id.
//!
//! The id is a hash of the experiment name, the workload and the identity parameters whose
//! values differ from their defaults, sorted by name. It does not depend on where the cell sits
//! in the matrix, on the order of the axes, on other experiments, on measurement settings, on
//! whether a default was written out, or on parameters added to the workload later (they come
//! with defaults), so results of the same cell can be matched across commits, machines and
//! edits of the plan.

use std::collections::{BTreeMap, BTreeSet};

use super::measure::MeasureSettings;
use super::params::WorkloadKind;
use super::value::ParamValue;
use crate::hash::fnv1a64;

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// 16 hex digits; see the module documentation.
    pub id: String,
    pub experiment: String,
    pub workload: WorkloadKind,
    /// Identity parameters, defaults filled in.
    pub params: BTreeMap<String, ParamValue>,
    /// The parameters the plan set for this cell (the others took their defaults).
    pub explicit: BTreeSet<String>,
    pub measure: MeasureSettings,
}

impl Cell {
    pub fn new(
        experiment: &str,
        workload: WorkloadKind,
        params: BTreeMap<String, ParamValue>,
        explicit: BTreeSet<String>,
        measure: MeasureSettings,
    ) -> Cell {
        Cell {
            id: cell_id(experiment, workload, &params),
            experiment: experiment.to_owned(),
            workload,
            params,
            explicit,
            measure,
        }
    }

    /// The parameters the plan set, in the workload's display order: `model=mlp-small batch=32`.
    /// Defaults are left out (every row also has a column per parameter, defaults included).
    /// A `command`'s own parameters follow, in name order.
    pub fn key(&self) -> String {
        self.workload
            .params()
            .filter(|p| self.explicit.contains(p.name) || p.default_value().is_none())
            .filter_map(|p| self.params.get(p.name).map(|v| format!("{}={v}", p.name)))
            .chain(
                self.params
                    .iter()
                    .filter(|(k, _)| self.workload.params().all(|p| p.name != k.as_str()))
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.params.get(name)
    }

    /// A string parameter; the plan checks guarantee presence and type of required ones.
    pub fn str_param(&self, name: &str) -> &str {
        self.get(name)
            .and_then(ParamValue::as_str)
            .unwrap_or_else(|| panic!("cell {} lacks string parameter `{name}`", self.id))
    }

    /// A positive integer parameter, as a `usize`.
    pub fn usize_param(&self, name: &str) -> usize {
        self.get(name)
            .and_then(ParamValue::as_int)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or_else(|| panic!("cell {} lacks integer parameter `{name}`", self.id))
    }
}

/// The stable id of a cell. Values are written in TOML form, so the string `"1"` and the
/// integer `1` give different ids; fields are separated by a byte no name can contain.
pub fn cell_id(
    experiment: &str,
    workload: WorkloadKind,
    params: &BTreeMap<String, ParamValue>,
) -> String {
    let mut canonical = format!("{experiment}\x1f{}", workload.name());
    let is_default = |k: &str, v: &ParamValue| {
        workload.param(k).and_then(|p| p.default_value()).as_ref() == Some(v)
    };
    for (k, v) in params.iter().filter(|(k, v)| !is_default(k, v)) {
        canonical.push('\x1f');
        canonical.push_str(k);
        canonical.push('=');
        canonical.push_str(&v.to_toml());
    }
    format!("{:016x}", fnv1a64(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_do_not_enter_the_id() {
        let mut a = BTreeMap::new();
        a.insert("n".to_string(), ParamValue::Int(1));
        let mut b = a.clone();
        b.insert("dtype".to_string(), ParamValue::Str("f32".into()));
        assert_eq!(
            cell_id("e", WorkloadKind::Matmul, &a),
            cell_id("e", WorkloadKind::Matmul, &b)
        );
        b.insert("dtype".to_string(), ParamValue::Str("bf16".into()));
        assert_ne!(
            cell_id("e", WorkloadKind::Matmul, &a),
            cell_id("e", WorkloadKind::Matmul, &b)
        );
    }

    #[test]
    fn ids_depend_on_values_not_on_insertion_order() {
        let mut a = BTreeMap::new();
        a.insert("n".to_string(), ParamValue::Int(1));
        a.insert("dtype".to_string(), ParamValue::Str("f32".into()));
        let mut b = BTreeMap::new();
        b.insert("dtype".to_string(), ParamValue::Str("f32".into()));
        b.insert("n".to_string(), ParamValue::Int(1));
        assert_eq!(
            cell_id("e", WorkloadKind::Matmul, &a),
            cell_id("e", WorkloadKind::Matmul, &b)
        );
        b.insert("n".to_string(), ParamValue::Str("1".into()));
        assert_ne!(
            cell_id("e", WorkloadKind::Matmul, &a),
            cell_id("e", WorkloadKind::Matmul, &b)
        );
        assert_ne!(
            cell_id("e", WorkloadKind::Matmul, &a),
            cell_id("f", WorkloadKind::Matmul, &a)
        );
    }
}
