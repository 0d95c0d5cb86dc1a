//! `--filter key=value` selection of cells.
//!
//! Filters on different keys must all match; repeating a key accepts any of its values
//! (`--filter device=cpu --filter device=cuda`). Keys are parameter names, or `experiment`,
//! `workload` and `id`. Values compare with the plain form that `benchplan list` prints.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::cell::Cell;

/// The value of selection key `key` of a cell, in the plain form `benchplan list` prints: a
/// parameter, or `experiment`, `workload`, `id`. (Plan claims select cells the same way.)
pub fn key_value(cell: &Cell, key: &str) -> Option<String> {
    match key {
        "experiment" => Some(cell.experiment.clone()),
        "workload" => Some(cell.workload.name().to_owned()),
        "id" => Some(cell.id.clone()),
        name => cell.get(name).map(ToString::to_string),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// key → accepted values.
    terms: BTreeMap<String, Vec<String>>,
}

impl Filter {
    /// Parses the `--filter` arguments. Each must be `key=value`.
    pub fn parse(args: &[String]) -> Result<Filter> {
        let mut terms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for arg in args {
            let Some((k, v)) = arg.split_once('=') else {
                bail!("filter `{arg}` is not of the form `key=value` (e.g. `--filter model=mlp-small`)");
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                bail!("filter `{arg}` has an empty key (e.g. `--filter model=mlp-small`)");
            }
            terms.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        Ok(Filter { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, cell: &Cell) -> bool {
        self.terms
            .iter()
            .all(|(key, accepted)| key_value(cell, key).is_some_and(|a| accepted.contains(&a)))
    }

    /// Keeps the matching cells. A key that no cell has is almost certainly a typo, and would
    /// silently select nothing, so it is an error naming the keys that exist.
    pub fn apply(&self, cells: Vec<Cell>) -> Result<Vec<Cell>> {
        for key in self.terms.keys() {
            let known = matches!(key.as_str(), "experiment" | "workload" | "id")
                || cells.iter().any(|c| c.params.contains_key(key));
            if !known {
                let mut keys: Vec<&str> = cells
                    .iter()
                    .flat_map(|c| c.params.keys().map(String::as_str))
                    .chain(["experiment", "workload", "id"])
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                bail!(
                    "filter key `{key}` is not a parameter of any cell in this plan; use one of: {}",
                    keys.join(", ")
                );
            }
        }
        Ok(cells.into_iter().filter(|c| self.matches(c)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::measure::MeasureSettings;
    use crate::plan::params::WorkloadKind;
    use crate::plan::value::ParamValue;

    fn cell(exp: &str, model: &str, batch: i64) -> Cell {
        let mut p = BTreeMap::new();
        p.insert("model".into(), ParamValue::Str(model.into()));
        p.insert("batch".into(), ParamValue::Int(batch));
        let explicit = p.keys().cloned().collect();
        Cell::new(
            exp,
            WorkloadKind::Train,
            p,
            explicit,
            MeasureSettings::default(),
        )
    }

    #[test]
    fn same_key_is_or_different_keys_are_and() {
        let cells = vec![
            cell("t", "a", 1),
            cell("t", "a", 32),
            cell("t", "b", 32),
            cell("u", "b", 1),
        ];
        let f = Filter::parse(&["model=a".into(), "model=b".into(), "batch=32".into()]).unwrap();
        let kept = f.apply(cells.clone()).unwrap();
        assert_eq!(kept.len(), 2);
        let f = Filter::parse(&["experiment=u".into()]).unwrap();
        assert_eq!(f.apply(cells).unwrap().len(), 1);
    }

    #[test]
    fn unknown_keys_and_malformed_terms_are_errors() {
        assert!(Filter::parse(&["model".into()]).is_err());
        let f = Filter::parse(&["modle=a".into()]).unwrap();
        let err = f.apply(vec![cell("t", "a", 1)]).unwrap_err().to_string();
        assert!(err.contains("`modle`") && err.contains("model"), "{err}");
    }
}
