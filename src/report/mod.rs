//! Reports: a Markdown document rendered from stored results through minijinja templates.
//! [`view`] prepares the tables, [`filters`] format figures, this module finds result sets and
//! renders. Nothing here runs a cell.

pub mod charts;
pub mod comparison;
pub mod filters;
pub mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use minijinja::Environment;

use crate::results::layout::{CELLS_FILE, PLAN_COPY};
use crate::results::store;
pub use view::Report;

/// The default templates, built into the binary for use outside a checkout; `templates/` in
/// the working directory takes precedence, so users can edit them.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/report.md.j2");
pub const DEFAULT_TEMPLATE_NAME: &str = "report.md.j2";
pub const DIFF_TEMPLATE: &str = include_str!("../../templates/diff.md.j2");
pub const DIFF_TEMPLATE_NAME: &str = "diff.md.j2";
pub const INDEX_TEMPLATE: &str = include_str!("../../templates/index.md.j2");
pub const INDEX_TEMPLATE_NAME: &str = "index.md.j2";

/// Where a template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// A template file; templates it includes are read from the same folder, and only there.
    File(PathBuf),
    /// A built-in template: its name and text.
    Builtin(&'static str, &'static str),
}

impl TemplateSource {
    /// `--template` if given, else `templates/<name>` if present, else the built-in copy.
    pub fn choose(
        explicit: Option<&Path>,
        name: &'static str,
        builtin: &'static str,
    ) -> TemplateSource {
        match explicit {
            Some(p) => TemplateSource::File(p.to_owned()),
            None => {
                let local = Path::new("templates").join(name);
                if local.is_file() {
                    TemplateSource::File(local)
                } else {
                    TemplateSource::Builtin(name, builtin)
                }
            }
        }
    }

    /// The report's template: `--template`, `templates/report.md.j2`, or the built-in one.
    pub fn report(explicit: Option<&Path>) -> TemplateSource {
        TemplateSource::choose(explicit, DEFAULT_TEMPLATE_NAME, DEFAULT_TEMPLATE)
    }
}

/// Renders `report` with the template. A template error names the template, the line and the
/// problem.
pub fn render(report: &Report, template: &TemplateSource) -> Result<String> {
    render_with_charts(report, &BTreeMap::new(), template)
}

/// As [`render`], with charts for the template to embed (`charts.<key>.file`).
pub fn render_with_charts(
    report: &Report,
    charts: &BTreeMap<String, charts::Chart>,
    template: &TemplateSource,
) -> Result<String> {
    let ctx = minijinja::context! { charts => charts, ..minijinja::Value::from_serialize(report) };
    render_value(ctx, template)
}

/// Renders any prepared view with a template, with the formatting filters registered.
pub fn render_value(ctx: minijinja::Value, template: &TemplateSource) -> Result<String> {
    let mut env = Environment::new();
    filters::register(&mut env);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    let name = match template {
        TemplateSource::Builtin(name, text) => {
            env.add_template(name, text)
                .map_err(|e| template_error(&e))?;
            name.to_string()
        }
        TemplateSource::File(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !path.is_file() {
                bail!("template `{}` does not exist", path.display());
            }
            // Templates may include others, but only from their own folder.
            env.set_loader(minijinja::path_loader(dir));
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    };
    let tmpl = env.get_template(&name).map_err(|e| template_error(&e))?;
    tmpl.render(ctx).map_err(|e| template_error(&e))
}

fn template_error(e: &minijinja::Error) -> anyhow::Error {
    let name = e.name().unwrap_or("template");
    let line = e.line().map(|l| format!(", line {l}")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    anyhow!("template `{name}`{line}: {}{detail}", e.kind())
}

/// A result set on disk: its cells file.
#[derive(Debug, Clone)]
pub struct ResultSet {
    pub cells: PathBuf,
}

impl ResultSet {
    /// The folder of the set.
    pub fn dir(&self) -> &Path {
        self.cells.parent().unwrap_or(Path::new("."))
    }

    /// The plan kept with the results, parsed leniently: a report or diff never fails for
    /// want of a description, a price or a threshold, so an unreadable copy reads as empty.
    fn plan_table(&self) -> toml::Table {
        std::fs::read_to_string(self.dir().join(PLAN_COPY))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .unwrap_or_default()
    }

    /// The plan's description.
    pub fn description(&self) -> String {
        let plan = self.plan_table();
        plan.get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// The plan's device prices (`[devices.NAME] price_per_hour`).
    pub fn prices(&self) -> BTreeMap<String, f64> {
        let plan = self.plan_table();
        let Some(devices) = plan.get("devices").and_then(|d| d.as_table()) else {
            return BTreeMap::new();
        };
        devices
            .iter()
            .filter_map(|(name, d)| Some((name.clone(), number(d.get("price_per_hour")?)?)))
            .collect()
    }

    /// One key of each experiment of the kept plan, by experiment name, where `read` can make
    /// sense of it.
    fn per_experiment<T>(
        &self,
        key: &str,
        read: impl Fn(&toml::Value) -> Option<T>,
    ) -> BTreeMap<String, T> {
        let plan = self.plan_table();
        let Some(experiments) = plan.get("experiments").and_then(|e| e.as_array()) else {
            return BTreeMap::new();
        };
        experiments
            .iter()
            .filter_map(|e| Some((e.get("name")?.as_str()?.to_owned(), read(e.get(key)?)?)))
            .collect()
    }

    /// The plan's per-experiment `diff_threshold`s.
    pub fn diff_thresholds(&self) -> BTreeMap<String, f64> {
        self.per_experiment("diff_threshold", number)
    }

    /// The plan's `compare_with` pairs: experiment → the experiment it is compared with.
    pub fn comparisons(&self) -> BTreeMap<String, String> {
        self.per_experiment("compare_with", |v| v.as_str().map(str::to_owned))
    }

    /// `--set PATH`: a cells file, or a result-set folder holding one.
    pub fn at(path: &Path) -> Result<ResultSet> {
        let cells = if path.is_dir() {
            path.join(CELLS_FILE)
        } else {
            path.to_owned()
        };
        if !cells.is_file() {
            bail!(
                "no result set at `{}` (expected a `{CELLS_FILE}` file or a folder holding one)",
                path.display()
            );
        }
        Ok(ResultSet { cells })
    }
}

/// A TOML number, integer or float, as f64.
fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Every result set of `study` under `results_root`, in path order.
pub fn result_sets(results_root: &Path, study: &str) -> Result<Vec<ResultSet>> {
    let study_dir = results_root.join(study);
    let mut sets = Vec::new();
    for machine in sorted_dirs(&study_dir)? {
        for commit in sorted_dirs(&machine)? {
            let cells = commit.join(CELLS_FILE);
            if cells.is_file() {
                sets.push(ResultSet { cells });
            }
        }
    }
    Ok(sets)
}

/// The studies that have results under `results_root`.
pub fn studies(results_root: &Path) -> Result<Vec<String>> {
    Ok(sorted_dirs(results_root)?
        .into_iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// The machine folder a result set lies in (`results/<study>/<machine>/<commit>/`).
pub fn machine_of(set: &ResultSet) -> String {
    set.dir()
        .parent()
        .and_then(|m| m.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The newest of several result sets: the one whose run started last.
pub fn newest(sets: &[ResultSet]) -> Result<Option<(ResultSet, Vec<crate::results::CellRecord>)>> {
    let mut best: Option<(String, ResultSet, Vec<crate::results::CellRecord>)> = None;
    for set in sets {
        let records = store::read(&set.cells)?;
        let started = records
            .iter()
            .map(|r| r.meta.run_started_at.clone())
            .max()
            .unwrap_or_default();
        if best.as_ref().is_none_or(|(b, _, _)| started > *b) {
            best = Some((started, set.clone(), records));
        }
    }
    Ok(best.map(|(_, s, r)| (s, r)))
}
