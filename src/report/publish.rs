//! Publishing reports: for each study, one report per machine from its newest result set, the
//! charts beside it, and the study's index of machines (`results/<study>/REPORT.md`); or one
//! report of a set named by path. What `benchplan report` does, reachable from tests.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{Report, TemplateSource};
use crate::results::catalog::{newest_filled, result_sets, studies, ResultSet};
use crate::results::CellRecord;

/// What to publish, and where.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// Folder that holds result sets.
    pub results: PathBuf,
    /// Only these studies (empty: every study with results).
    pub studies: Vec<String>,
    /// One result set instead (a cells file or its folder).
    pub set: Option<PathBuf>,
    /// Template to render instead of `templates/report.md.j2` or the built-in one.
    pub template: Option<PathBuf>,
    /// One file to write (`-` for stdout) instead of `REPORT.md` beside the sets.
    pub output: Option<PathBuf>,
}

/// The file name of a machine's report from the default template.
const DEFAULT_NAME: &str = "REPORT.md";

/// The file a machine's report is written to: `REPORT.md`, or for another template its name
/// in capitals (`templates/claims.md.j2` → `CLAIMS.md`), so that it never overwrites the
/// full report beside it.
fn output_name(template: Option<&Path>) -> String {
    let stem = template
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".j2").trim_end_matches(".md"))
        .filter(|n| !n.is_empty() && *n != "report");
    match stem {
        Some(name) => format!("{}.md", name.to_uppercase()),
        None => DEFAULT_NAME.to_owned(),
    }
}

/// Writes the reports `args` asks for.
pub fn publish(args: &Publish) -> Result<()> {
    let template = TemplateSource::report(args.template.as_deref());
    let file_name = output_name(args.template.as_deref());
    if let Some(set) = &args.set {
        let set = ResultSet::at(set)?;
        let records = set.read()?;
        let out = set.dir().join(&file_name);
        write_report(&set, &records, args.output.as_deref(), out, &template)?;
        return Ok(());
    }
    let asked = !args.studies.is_empty();
    let names = if asked {
        args.studies.clone()
    } else {
        // Folders without result sets (notes, a README's images) are not studies.
        let mut found = Vec::new();
        for study in studies(&args.results)? {
            if !result_sets(&args.results, &study)?.is_empty() {
                found.push(study);
            }
        }
        found
    };
    if names.is_empty() {
        bail!(
            "no results under `{}`; run a plan first (`benchplan run PLAN`)",
            args.results.display()
        );
    }
    for study in &names {
        let sets = result_sets(&args.results, study)?;
        let mut machines: Vec<String> = sets.iter().map(ResultSet::machine).collect();
        machines.dedup();
        if machines.is_empty() {
            bail!(
                "study `{study}` has no result sets under `{}`",
                args.results.join(study).display()
            );
        }
        if args.output.is_some() && (names.len() > 1 || machines.len() > 1) {
            bail!("`--output` names one file, but there is a report per study and machine; pick one with `--study` and `--set`");
        }
        // One report per machine, from its newest result set (cells it did not measure taken
        // from earlier sets, each row with its commit), and an index of them.
        let mut index = Vec::new();
        for machine in &machines {
            let of_machine: Vec<ResultSet> = sets
                .iter()
                .filter(|s| s.machine() == *machine)
                .cloned()
                .collect();
            let Some((set, records)) = newest_filled(&of_machine)? else {
                continue;
            };
            let out = args.results.join(study).join(machine).join(&file_name);
            let views = write_report(&set, &records, args.output.as_deref(), out, &template)?;
            index.push(index_row(machine, &views));
        }
        // The index lists the full reports; another template's files stand beside them.
        if args.output.is_none() && file_name == DEFAULT_NAME {
            let description = sets.first().map(ResultSet::description).unwrap_or_default();
            let ctx = minijinja::context! { study => study, description => description, machines => index };
            let index_template =
                TemplateSource::choose(None, super::INDEX_TEMPLATE_NAME, super::INDEX_TEMPLATE);
            let out = args.results.join(study).join("REPORT.md");
            std::fs::write(&out, super::render_value(ctx, &index_template)?)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            crate::note!(
                "report: {} (index of {} machine(s))",
                out.display(),
                machines.len()
            );
        }
    }
    Ok(())
}

/// The claims to check a set against: those of the plan as it is now, where the plan the rows
/// were run from is still there and names the same study (claims are about reading results,
/// not producing them: a claim added later applies to results already stored), else those of
/// the plan kept with the set.
fn claims_for(set: &ResultSet, rows: &[CellRecord]) -> Vec<crate::claims::Claim> {
    let current = rows.first().and_then(|r| {
        let text = std::fs::read_to_string(&r.meta.plan_path).ok()?;
        let table: toml::Table = text.parse().ok()?;
        (table.get("name").and_then(|n| n.as_str()) == Some(r.study.as_str())).then_some(table)
    });
    match current {
        Some(table) => crate::claims::from_plan(&table),
        None => crate::claims::from_plan(&set.plan_table()),
    }
}

/// The study index's row of one machine folder. A merged folder of several machines
/// (`2-machines-…`) lists each machine's hardware in `parts` and adds up their cells; the
/// single-machine fields name its first machine, for templates written before merges.
fn index_row(folder: &str, views: &[Report]) -> minijinja::Value {
    let first = &views[0];
    let mut devices: Vec<String> = Vec::new();
    for d in views.iter().flat_map(|v| &v.devices) {
        let name = format!("{} ({})", d.device, d.name);
        if !devices.contains(&name) {
            devices.push(name);
        }
    }
    let parts: Vec<minijinja::Value> = views
        .iter()
        .map(|v| {
            minijinja::context! {
                machine => v.machine.id,
                cpu_model => v.machine.cpu_model,
                cpu_cores => v.machine.cpu_cores,
                os => v.machine.os,
                cells => v.cells,
            }
        })
        .collect();
    minijinja::context! {
        machine => folder,
        cpu_model => first.machine.cpu_model,
        cpu_cores => first.machine.cpu_cores,
        os => first.machine.os,
        parts => parts,
        devices => devices,
        commit => first.commit,
        run_started_at => views.iter().map(|v| v.run_started_at.as_str()).min().unwrap_or_default(),
        ok => views.iter().map(|v| v.ok).sum::<usize>(),
        failed => views.iter().map(|v| v.failed).sum::<usize>(),
        skipped => views.iter().map(|v| v.skipped).sum::<usize>(),
        report => format!("{folder}/REPORT.md"),
    }
}

/// Renders one result set's report to `output` (`-` for stdout) or `default_out`, with its
/// charts beside it. A set that holds rows of several machines (a merge) gets a section per
/// machine: figures of different machines are never put in one table.
fn write_report(
    set: &ResultSet,
    records: &[CellRecord],
    output: Option<&Path>,
    default_out: PathBuf,
    template: &TemplateSource,
) -> Result<Vec<Report>> {
    let mut machines: Vec<&str> = records.iter().map(|r| r.meta.machine.as_str()).collect();
    machines.sort_unstable();
    machines.dedup();
    if machines.is_empty() {
        bail!("`{}` holds no cells", set.cells.display());
    }
    // One machine (the usual case): the rows as they are; several: each machine's rows apart.
    let groups: Vec<Vec<CellRecord>> = if machines.len() == 1 {
        Vec::new()
    } else {
        machines
            .iter()
            .map(|m| {
                records
                    .iter()
                    .filter(|r| r.meta.machine == *m)
                    .cloned()
                    .collect()
            })
            .collect()
    };
    let parts: Vec<&[CellRecord]> = if groups.is_empty() {
        vec![records]
    } else {
        groups.iter().map(Vec::as_slice).collect()
    };
    let views = parts
        .iter()
        .map(|rows| {
            Ok(Report::build(
                rows,
                &set.description(),
                &set.cells.display().to_string(),
                &set.prices(),
                &set.measures(),
            )
            .with_context(|| format!("`{}` holds no cells", set.cells.display()))?
            .energy_priced(&set.energy_prices())
            .claims(rows, &claims_for(set, rows))
            .compare(rows, &set.comparisons()))
        })
        .collect::<Result<Vec<_>>>()?;
    let several = views.len() > 1;
    let preamble = |views: &[Report]| {
        format!(
            "<!-- merged result set: one report per machine -->\nThis result set holds rows from {} machines; each has its own section below: {}.\n\n",
            views.len(),
            views
                .iter()
                .map(|v| format!("`{}` ({}, {} cells)", v.machine.id, v.machine.cpu_model, v.cells))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match output {
        Some(p) if p == Path::new("-") => {
            if several {
                crate::out!("{}", preamble(&views))?;
            }
            for view in &views {
                crate::out!("{}", super::render(view, template)?)?;
            }
        }
        other => {
            let out = other.map(Path::to_path_buf).unwrap_or(default_out);
            // Charts go beside the report, named after it, so several reports can share a folder.
            let dir = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut text = if several {
                preamble(&views)
            } else {
                String::new()
            };
            for view in &views {
                let prefix = if several {
                    format!("{stem}-{}-", view.machine.id)
                } else {
                    format!("{stem}-")
                };
                let charts = super::charts::draw_all(view, dir, &prefix)?;
                let rendered = super::render_with_charts(view, &charts, template)?;
                // A template that shows no chart (the claims alone) leaves none behind.
                for chart in charts.values().filter(|c| !rendered.contains(&c.file)) {
                    let unused = dir.join(&chart.file);
                    std::fs::remove_file(&unused).with_context(|| {
                        format!("cannot remove the unused chart `{}`", unused.display())
                    })?;
                }
                text.push_str(&rendered);
            }
            std::fs::write(&out, &text)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            crate::note!("report: {} (from {})", out.display(), set.cells.display());
        }
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_template_writes_beside_the_report_never_over_it() {
        assert_eq!(output_name(None), "REPORT.md");
        assert_eq!(
            output_name(Some(Path::new("templates/report.md.j2"))),
            "REPORT.md"
        );
        assert_eq!(
            output_name(Some(Path::new("templates/claims.md.j2"))),
            "CLAIMS.md"
        );
        assert_eq!(output_name(Some(Path::new("mine.j2"))), "MINE.md");
    }
}
