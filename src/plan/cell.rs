//! A cell: one point of an experiment's matrix, with its resolved parameters, measurement
//! settings and a stable id.
//!
//! The id is a hash of the experiment name, the workload and the identity parameters (sorted by
//! name, defaults filled in). It does not depend on where the cell sits in the matrix, on the
//! order of the axes, on other experiments, or on measurement settings, so results of the same
//! cell can be matched across commits, machines and edits of the plan.

use std::collections::BTreeMap;

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
    pub measure: MeasureSettings,
}

impl Cell {
    pub fn new(
        experiment: &str,
        workload: WorkloadKind,
        params: BTreeMap<String, ParamValue>,
        measure: MeasureSettings,
    ) -> Cell {
        Cell {
            id: cell_id(experiment, workload, &params),
            experiment: experiment.to_owned(),
            workload,
            params,
            measure,
        }
    }

    /// The parameters in the workload's display order: `model=mlp-small batch=32 …`.
    pub fn key(&self) -> String {
        self.workload
            .params()
            .iter()
            .filter_map(|p| self.params.get(p.name).map(|v| format!("{}={v}", p.name)))
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
    for (k, v) in params {
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
