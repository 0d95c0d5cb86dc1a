//! The shape of a claim's parts that a plan checks: what a claim measures (`of`), the units
//! it may be stated in for that, and the selection of cells that tests it (keys to accepted
//! values, as `--filter` selects). What a claim means against results is the top-level
//! `claims` module's to say.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a claim's figure is of (`of`), the default first.
pub const QUANTITIES: &[&str] = &[
    "time",
    "load",
    "transfer",
    "forward",
    "backward",
    "optimizer",
    "weights",
    "optimizer-state",
    "activations",
    "peak-memory",
    "device-memory",
    "energy",
    "cpu",
];

/// The stages of a pipeline cell a claim may be of (as workload::pipeline::STAGES).
pub const STAGES: &[&str] = &["load", "transfer", "forward", "backward", "optimizer"];

/// The memory figures a claim may be of.
pub const MEMORY: &[&str] = &[
    "weights",
    "optimizer-state",
    "activations",
    "peak-memory",
    "device-memory",
];

/// The units a claim of `of` may be stated in: times per iteration (or stage), rates and
/// speed-ups for times; sizes, a size ratio (`x`) or change (`%`) for memory; joules per
/// sample, samples per joule, average power (`W`) or a per-joule ratio (`x`) for energy; percent of one core for
/// `cpu`. Empty for a quantity benchplan does not know.
pub fn units_for(of: &str) -> &'static [&'static str] {
    match of {
        t if is_time(t) => &["s", "ms", "us", "samples/s", "x"],
        m if MEMORY.contains(&m) => &["B", "KB", "MB", "GB", "x", "%"],
        "energy" => &["J", "samples/J", "W", "x"],
        "cpu" => &["%"],
        _ => &[],
    }
}

/// Whether a claim of `of` is a time: of the whole iteration (`time`) or of a pipeline stage.
pub fn is_time(of: &str) -> bool {
    of == "time" || STAGES.contains(&of)
}

/// Whether a claim of `of` in `unit` compares two selections (`cells` against `over`): a
/// speed-up or ratio (`x`), or a memory change (`%`).
pub fn compares(of: &str, unit: &str) -> bool {
    unit == "x" || (unit == "%" && MEMORY.contains(&of))
}

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
