//! Plans: a TOML file declaring a study, parsed in two passes (serde shapes in [`raw`], then
//! checks and defaults in [`validate`]) and expanded into cells ([`matrix`], [`cell`]).

pub mod cell;
pub mod claim;
pub mod command;
pub mod definition;
pub mod explain;
pub mod filter;
pub mod init;
pub mod listing;
pub mod matrix;
pub mod measure;
pub mod model;
pub mod params;
pub mod raw;
pub mod schema;
pub mod validate;
pub mod value;

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub use cell::Cell;
pub use matrix::{Expansion, Matrix};
pub use model::ModelSpec;
pub use params::WorkloadKind;
pub use value::ParamValue;

use std::sync::Arc;

use crate::data::{Dataset, DatasetSpec, SourceSpec};
use crate::diagnostic::{Diagnostic, FileErrors};

/// A checked plan, tied to the file it came from.
#[derive(Debug)]
pub struct Plan {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, stored with every result row.
    pub sha256: String,
    /// The file's text, kept so results can carry a copy of the plan that made them.
    pub source: String,
    pub name: String,
    pub description: String,
    /// Models in file order.
    pub models: Vec<(String, ModelSpec)>,
    /// Data sources, paths resolved against the plan's folder.
    pub sources: Vec<SourceSpec>,
    /// Datasets, built (and so checked) when the plan is loaded.
    pub datasets: Vec<(DatasetSpec, Arc<Dataset>)>,
    /// Price per hour by device name, for the report's cost figures.
    pub device_prices: Vec<(String, f64)>,
    pub experiments: Vec<Experiment>,
    /// Likely mistakes that do not stop the plan from running.
    pub warnings: Vec<Diagnostic>,
}

/// One experiment of a plan, with its matrix and the cells it expands to.
#[derive(Debug)]
pub struct Experiment {
    pub name: String,
    pub name_span: Range<usize>,
    pub workload: WorkloadKind,
    pub description: String,
    pub matrix: Matrix,
    pub expansion: Expansion,
    pub cells: Vec<Cell>,
    /// `command` workload: the argument template (program first).
    pub command: Option<Vec<String>>,
    /// The experiment the report compares this one with (ratio of medians, this over that).
    pub compare_with: Option<String>,
}

/// How strictly a plan is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept devices this build lacks instead of refusing the plan.
    pub lenient_devices: bool,
}

impl Plan {
    /// Reads and checks a plan file, accepting devices this build lacks.
    pub fn load_lenient(path: &Path) -> Result<Plan> {
        let bytes = crate::limits::PLAN
            .read(path)
            .with_context(|| format!("cannot read plan `{}`", path.display()))?;
        Plan::from_bytes_with(
            path,
            &bytes,
            LoadOptions {
                lenient_devices: true,
            },
        )
    }

    /// Reads and checks a plan file. A file that cannot be read is an `io` error with its path;
    /// a file with problems is a [`FileErrors`] listing all of them.
    pub fn load(path: &Path) -> Result<Plan> {
        let bytes = crate::limits::PLAN
            .read(path)
            .with_context(|| format!("cannot read plan `{}`", path.display()))?;
        Plan::from_bytes(path, &bytes)
    }

    /// Checks plan text as if read from `path` (which only labels messages).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Plan> {
        Plan::from_bytes_with(path, bytes, LoadOptions::default())
    }

    /// As [`Plan::from_bytes`], with options.
    pub fn from_bytes_with(path: &Path, bytes: &[u8], options: LoadOptions) -> Result<Plan> {
        let sha256 = format!("{:x}", Sha256::digest(bytes));
        let source = match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(e) => {
                let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
                let at = valid.len();
                return Err(FileErrors::new(
                    path,
                    &valid,
                    vec![Diagnostic::new(
                        format!(
                            "the file is not valid UTF-8 (byte {} is not)",
                            e.valid_up_to()
                        ),
                        Some(at..at),
                    )
                    .with_help("save the plan as UTF-8 text")],
                )
                .into());
            }
        };
        let raw: raw::RawPlan = toml::from_str(&source)
            .map_err(|e| FileErrors::new(path, &source, every_shape_error(&source, &e)))?;
        let plan_dir = path.parent().unwrap_or(Path::new(""));
        let checked = validate::check_plan(raw, plan_dir, options)
            .map_err(|diags| FileErrors::new(path, &source, diags))?;
        Ok(Plan {
            path: path.to_owned(),
            sha256,
            source,
            name: checked.name,
            description: checked.description,
            models: checked.models,
            sources: checked.sources,
            datasets: checked.datasets,
            device_prices: checked.device_prices,
            experiments: checked.experiments,
            warnings: checked.warnings,
        })
    }

    /// Every cell of every experiment, in plan order.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.experiments.iter().flat_map(|e| e.cells.iter())
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    pub fn dataset(&self, name: &str) -> Option<&Arc<Dataset>> {
        self.datasets
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, d)| d)
    }

    /// The warnings rendered like errors, for stderr.
    pub fn render_warnings(&self) -> String {
        FileErrors::new(&self.path, &self.source, self.warnings.clone()).to_string()
    }
}

/// Every error of shape (a wrong type, an unknown or missing key) in a plan that failed to
/// deserialize with `first`: serde stops at the first, so each experiment, model, source,
/// dataset, device and the measurement table is deserialized on its own as well, and all their
/// errors are reported at once, in file order. A syntax error stops everything: only it is
/// reported.
fn every_shape_error(source: &str, first: &toml::de::Error) -> Vec<Diagnostic> {
    use serde::Deserialize;
    use toml::de::{DeTable, DeValue, ValueDeserializer};
    let diagnostic = |e: &toml::de::Error| toml_error(e.message().trim_end(), e.span());
    let Ok(doc) = DeTable::parse(source) else {
        return vec![diagnostic(first)];
    };
    let mut found: Vec<toml::de::Error> = vec![first.clone()];
    fn check<'i, T: Deserialize<'i>>(
        value: &toml::Spanned<DeValue<'i>>,
        found: &mut Vec<toml::de::Error>,
    ) {
        if let Err(e) = T::deserialize(ValueDeserializer::from(value.clone())) {
            found.push(e);
        }
    }
    fn entries<'i>(value: &toml::Spanned<DeValue<'i>>) -> Vec<toml::Spanned<DeValue<'i>>> {
        match value.get_ref() {
            DeValue::Table(t) => t.values().cloned().collect(),
            _ => Vec::new(),
        }
    }
    for (key, value) in doc.get_ref() {
        match key.get_ref().as_ref() {
            "experiments" => {
                if let DeValue::Array(items) = value.get_ref() {
                    for item in items.iter() {
                        check::<raw::RawExperiment>(item, &mut found);
                    }
                }
            }
            "models" => entries(value)
                .iter()
                .for_each(|v| check::<raw::RawModel>(v, &mut found)),
            "sources" => entries(value)
                .iter()
                .for_each(|v| check::<raw::RawSource>(v, &mut found)),
            "datasets" => entries(value)
                .iter()
                .for_each(|v| check::<raw::RawDataset>(v, &mut found)),
            "devices" => entries(value)
                .iter()
                .for_each(|v| check::<raw::RawDevice>(v, &mut found)),
            "measure" => check::<measure::RawMeasure>(value, &mut found),
            _ => {}
        }
    }
    // The first error is usually among the others; each place is reported once, in order.
    found.sort_by_key(|e| e.span().map_or(usize::MAX, |s| s.start));
    found.dedup_by(|a, b| a.span() == b.span() && a.message() == b.message());
    found.iter().map(diagnostic).collect()
}

/// Turns a `toml` error into a diagnostic, with a hint for the common serde messages.
fn toml_error(message: &str, span: Option<Range<usize>>) -> Diagnostic {
    let help = if message.starts_with("unknown field") {
        Some("check the spelling; the plan reference (`benchplan schema --format markdown`, or docs/src/plan-reference.md) lists every key")
    } else if message.starts_with("missing field") {
        Some("add the key; the plan reference (`benchplan schema --format markdown`) lists what each table needs")
    } else if message.starts_with("invalid type") {
        Some("check the value's type against the plan reference (`benchplan schema --format markdown`)")
    } else {
        None
    };
    let d = Diagnostic::new(message.replace('\n', " "), span);
    match help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::measure::Budget;
    use super::*;

    fn parse(text: &str) -> Plan {
        Plan::from_bytes(Path::new("t.toml"), text.as_bytes()).unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn ids(plan: &Plan) -> std::collections::BTreeMap<String, String> {
        plan.cells().map(|c| (c.key(), c.id.clone())).collect()
    }

    const MODEL: &str = "[models.m]\nkind = \"mlp\"\ninputs = 4\nhidden = [8]\noutputs = 2\n";

    #[test]
    fn ids_survive_reordered_axes_and_new_experiments() {
        let a = parse(&format!(
            "version = 1\nname = \"s\"\n{MODEL}\n[[experiments]]\nname = \"t\"\nworkload = \"train\"\n[experiments.matrix]\nmodel = [\"m\"]\nbatch = [1, 2]\ndtype = [\"f32\", \"bf16\"]\n"
        ));
        let b = parse(&format!(
            "version = 1\nname = \"s\"\n{MODEL}\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8]\n\n[[experiments]]\nname = \"t\"\nworkload = \"train\"\nmeasure = {{ iterations = 99 }}\n[experiments.matrix]\ndtype = [\"bf16\", \"f32\"]\nbatch = [2, 1]\nmodel = [\"m\"]\n"
        ));
        let (ia, ib) = (ids(&a), ids(&b));
        assert_eq!(ia.len(), 4);
        for (key, id) in &ia {
            assert_eq!(ib.get(key), Some(id), "{key} changed id");
        }
        // Axis order sets cell order: the first axis is outermost.
        let order: Vec<String> = b
            .cells()
            .filter(|c| c.experiment == "t")
            .map(Cell::key)
            .collect();
        assert!(
            order[0].contains("batch=2") && order[0].contains("dtype=bf16"),
            "{order:?}"
        );
        assert!(
            order[1].contains("batch=1") && order[1].contains("dtype=bf16"),
            "{order:?}"
        );
    }

    #[test]
    fn defaults_fill_in_and_settings_layer_down_to_the_cell() {
        let plan = parse(&format!(
            r#"version = 1
name = "s"
[measure]
warmup = "1s"
iterations = 50
{MODEL}
[[experiments]]
name = "i"
workload = "infer"
measure = {{ timeout = "30s" }}
[experiments.matrix]
model = ["m"]
[[experiments.matrix.zip]]
batch = [1, 64]
iterations = [100, "5s"]
"#
        ));
        let cells: Vec<&Cell> = plan.cells().collect();
        assert_eq!(cells.len(), 2);
        let first = cells[0];
        assert_eq!(
            first.key(),
            "model=m batch=1",
            "defaults are not part of the key"
        );
        assert_eq!(first.params["dtype"], ParamValue::Str("f32".into()));
        assert_eq!(
            first.measure.warmup,
            Budget::Time(Duration::from_secs(1)),
            "from the plan"
        );
        assert_eq!(
            first.measure.timeout,
            Duration::from_secs(30),
            "from the experiment"
        );
        assert_eq!(
            first.measure.iterations,
            Budget::Iterations(100),
            "from the cell"
        );
        assert_eq!(
            cells[1].measure.iterations,
            Budget::Time(Duration::from_secs(5))
        );
        assert!(
            !first.params.contains_key("iterations"),
            "settings are not identity"
        );
    }

    #[test]
    fn include_and_exclude_work_through_the_plan_syntax() {
        let plan = parse(
            r#"version = 1
name = "s"
[[experiments]]
name = "mm"
workload = "matmul"
[experiments.matrix]
n = [64, 128]
dtype = ["f32", "bf16"]
exclude = [{ n = 128, dtype = "bf16" }]
include = [{ n = 64, seed = 7 }, { n = 4096, dtype = "f32" }]
"#,
        );
        let keys: Vec<String> = plan.cells().map(Cell::key).collect();
        assert_eq!(
            keys,
            [
                "n=64 dtype=f32 seed=7",
                "n=64 dtype=bf16 seed=7",
                "n=128 dtype=f32",
                "n=4096 dtype=f32",
            ]
        );
        // The second include adds a cell of its own: allowed, with a warning in case it was
        // meant to extend cells.
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0].message.contains("matches no combination"));
    }

    #[test]
    fn likely_mistakes_are_warnings_not_errors() {
        let plan = parse(&format!(
            r#"version = 1
name = "s"
{MODEL}
[[experiments]]
name = "mm"
workload = "matmul"
[experiments.matrix]
n = [64]
exclude = [{{ n = 65 }}]
include = [{{ n = 64, dtype = "f32" }}]
"#
        ));
        let text = plan.render_warnings();
        assert!(text.contains("removes no cell"), "{text}");
        assert!(text.contains("model `m` is used by no cell"), "{text}");
        assert_eq!(plan.cells().count(), 1);
    }

    #[test]
    fn a_matrix_too_large_is_refused_by_its_size() {
        let values: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
        let axis = values.join(", ");
        let text = format!(
            "version = 1\nname = \"s\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [{axis}]\nseed = [{axis}]\niterations = [{axis}]\n"
        );
        let err = Plan::from_bytes(Path::new("t.toml"), text.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("expands to 1000000000 cells, more than the limit"),
            "{err}"
        );
    }
}
