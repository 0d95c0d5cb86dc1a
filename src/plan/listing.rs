//! What `list` and `check` print about a plan's cells: one line per cell (or a JSON object per
//! cell), and the argument vector of every program the plan would run.

use std::fmt::Write;

use super::cell::Cell;
use super::Plan;

/// One line per cell (`id  experiment  key`), then the count.
pub fn cells_text(cells: &[Cell]) -> String {
    let exp_width = cells.iter().map(|c| c.experiment.len()).max().unwrap_or(0);
    let mut out = String::new();
    for cell in cells {
        let _ = writeln!(
            out,
            "{}  {:<exp_width$}  {}",
            cell.id,
            cell.experiment,
            cell.key()
        );
    }
    let _ = writeln!(out, "{} cell(s)", cells.len());
    out
}

/// One object per cell: id, experiment, workload, key, parameters, measurement settings.
pub fn cells_json(cells: &[Cell]) -> serde_json::Value {
    cells
        .iter()
        .map(|c| {
            let params: serde_json::Map<String, serde_json::Value> = c
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            serde_json::json!({
                "id": c.id,
                "experiment": c.experiment,
                "workload": c.workload.name(),
                "key": c.key(),
                "params": params,
                "measure": c.measure.describe(),
            })
        })
        .collect()
}

/// Every program a plan would run, one line per cell, in a form a shell would read back as the
/// same argument vector (benchplan itself never uses a shell); empty when the plan runs none.
pub fn programs(plan: &Plan) -> String {
    let programs: Vec<_> = plan
        .experiments
        .iter()
        .filter_map(|e| e.command.as_ref().map(|c| (e, c)))
        .collect();
    if programs.is_empty() {
        return String::new();
    }
    let count: usize = programs.iter().map(|(e, _)| e.cells.len()).sum();
    let dir = plan.path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "this plan runs programs: {count} command(s), in `{}`:",
        dir.map_or(".".into(), |d| d.display().to_string())
    );
    for (e, template) in programs {
        for cell in &e.cells {
            let _ = match super::command::render(template, cell, &plan.name) {
                Ok(argv) => writeln!(
                    out,
                    "  {}  {}",
                    cell.id,
                    argv.iter()
                        .map(|a| crate::format::shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Err(why) => writeln!(out, "  {}  (cannot be formed: {why})", cell.id),
            };
        }
    }
    out
}

/// `check`'s line for a valid plan: its path, experiments and cells.
pub fn check_line(plan: &Plan) -> String {
    format!(
        "ok: {}: {} experiment(s), {} cell(s)",
        plan.path.display(),
        plan.experiments.len(),
        plan.cells().count()
    )
}
