//! Plans: a TOML file declaring a study, parsed in two passes (serde shapes in [`raw`], then
//! checks and defaults in [`validate`]) and expanded into cells ([`matrix`], [`cell`]).

pub mod cell;
pub mod filter;
pub mod matrix;
pub mod measure;
pub mod model;
pub mod params;
pub mod raw;
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
}

impl Plan {
    /// Reads and checks a plan file. A file that cannot be read is an `io` error with its path;
    /// a file with problems is a [`FileErrors`] listing all of them.
    pub fn load(path: &Path) -> Result<Plan> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plan `{}`", path.display()))?;
        Plan::from_bytes(path, &bytes)
    }

    /// Checks plan text as if read from `path` (which only labels messages).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Plan> {
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
        let raw: raw::RawPlan = toml::from_str(&source).map_err(|e| {
            let message = e.message().trim_end().to_owned();
            FileErrors::new(path, &source, vec![toml_error(&message, e.span())])
        })?;
        let checked =
            validate::check_plan(raw).map_err(|diags| FileErrors::new(path, &source, diags))?;
        Ok(Plan {
            path: path.to_owned(),
            sha256,
            source,
            name: checked.name,
            description: checked.description,
            models: checked.models,
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

    /// The warnings rendered like errors, for stderr.
    pub fn render_warnings(&self) -> String {
        FileErrors::new(&self.path, &self.source, self.warnings.clone()).to_string()
    }
}

/// Turns a `toml` error into a diagnostic, with a hint for the common serde messages.
fn toml_error(message: &str, span: Option<Range<usize>>) -> Diagnostic {
    let help = if message.starts_with("unknown field") {
        Some("check the spelling; the plan reference in the README lists every key")
    } else if message.starts_with("missing field") {
        Some("add the key; the plan reference in the README lists what each table needs")
    } else if message.starts_with("invalid type") {
        Some("check the value's type against the plan reference in the README")
    } else {
        None
    };
    let d = Diagnostic::new(message.replace('\n', " "), span);
    match help {
        Some(h) => d.with_help(h),
        None => d,
    }
}
