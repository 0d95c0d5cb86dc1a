//! Reports: a Markdown document rendered from stored results through minijinja templates.
//! [`view`] prepares the tables, [`filters`] format figures, [`charts`] draws, [`publish`]
//! writes a study's reports and index, this module renders. Stored results come from
//! `results::catalog`; nothing here runs a cell or finds result sets.

pub mod charts;
pub mod comparison;
mod confined;
pub mod filters;
pub mod publish;
pub mod sections;
pub mod table;
pub mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use minijinja::Environment;

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
            if !path.is_file() {
                bail!("template `{}` does not exist", path.display());
            }
            // The folder of the file the template really is (the one named may be a link).
            let path = path
                .canonicalize()
                .with_context(|| format!("cannot read template `{}`", path.display()))?;
            let dir = path.parent().unwrap_or(Path::new("."));
            // Templates may include others, but only from their own folder, links resolved.
            env.set_loader(confined::loader(dir));
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
