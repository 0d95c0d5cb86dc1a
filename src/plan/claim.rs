//! The shape of a claim's parts that a plan checks: the units a claim may be stated in, and
//! the selection of cells that tests it (keys to accepted values, as `--filter` selects).
//! What a claim means against results is the top-level `claims` module's to say.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The units a claim's figure may be in.
pub const UNITS: &[&str] = &["s", "ms", "us", "samples/s", "x"];

/// One value or several, for a selection key.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Selection {
    One(toml::Value),
    Many(Vec<toml::Value>),
}

impl Selection {
    /// The accepted values, in the plain form `benchplan list` prints.
    pub fn values(&self) -> Vec<String> {
        let plain = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Selection::One(v) => vec![plain(v)],
            Selection::Many(vs) => vs.iter().map(plain).collect(),
        }
    }
}

/// A selection as a plan table spells it (`{ device = "cpu", model = ["a", "b"] }`).
pub fn selection_of(table: &toml::Table) -> BTreeMap<String, Selection> {
    table
        .iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::Array(vs) => Selection::Many(vs.clone()),
                other => Selection::One(other.clone()),
            };
            (k.clone(), s)
        })
        .collect()
}
