//! A whole `benchplan run`: load the plan, choose its cells (filters, shard, devices), refuse
//! devices this machine lacks, open this commit's result set, leave out what is already
//! measured ([`resume`](super::resume)), run the rest with the progress display and the results
//! writer listening, and say how it ended. Also the child side of an isolated cell.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::events::Observer;
use super::progress::Progress;
use super::resume::{cells_to_run, Resume};
use super::sink::ResultsSink;
use crate::exit::ExitStatus;
use crate::plan::definition::definition_sha256;
use crate::plan::Plan;
use crate::results::layout::result_set_dir;
use crate::results::{RunMetadata, Status};
use crate::scale::select::{select, this_commit, DeviceChoice, Selection};

/// What `benchplan run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub plan: PathBuf,
    pub selection: Selection,
    /// Folder that holds result sets.
    pub results: PathBuf,
    /// Machine id naming the result folder (default: derived from the hardware).
    pub machine: Option<String>,
    /// Record cells on devices this build or machine lacks as skipped.
    pub skip_unavailable: bool,
    /// Re-measure cells already `ok` in this commit's set.
    pub force: bool,
    /// Run only the cells that failed before.
    pub retry_failed: bool,
    /// Every cell in this process instead of a child process per cell.
    pub in_process: bool,
}

/// Loads a plan and prints its warnings to stderr. `lenient` accepts devices this build lacks
/// (their cells are skipped or left out).
pub fn load_plan(path: &Path, lenient: bool) -> Result<Plan> {
    let plan = if lenient {
        Plan::load_lenient(path)?
    } else {
        Plan::load(path)?
    };
    if !plan.warnings.is_empty() {
        crate::errout!("{}", plan.render_warnings());
    }
    Ok(plan)
}

/// Runs what `request` asks; `Failure` when some cell failed.
pub fn run_plan(request: &RunRequest) -> Result<ExitStatus> {
    let lenient = request.skip_unavailable || request.selection.devices == DeviceChoice::Available;
    let plan = load_plan(&request.plan, lenient)?;
    if let Some(machine) = &request.machine {
        crate::plan::validate::check_name("machine id", machine)
            .map_err(|e| anyhow::anyhow!(e.replace('\n', "; ")))?;
    }
    let meta = RunMetadata::collect(
        &request.plan,
        &plan.sha256,
        request.machine.as_deref(),
        &request.results,
    );
    let selected = select(
        &plan,
        &request.selection,
        &request.results,
        &this_commit(&meta),
    )?;
    for note in &selected.notes {
        crate::note!("benchplan: {note}");
    }
    let cells = selected.cells;
    if cells.is_empty() {
        if request.selection.shard.is_some() || request.selection.devices != DeviceChoice::All {
            crate::note!("benchplan: no cell to run in this part of the plan");
            return Ok(ExitStatus::Success);
        }
        bail!(
            "no cell of `{}` matches the filters; `benchplan list` shows the cells",
            request.plan.display()
        );
    }
    if !request.skip_unavailable {
        super::check_devices(&cells)?;
    }
    let dir = result_set_dir(&request.results, &plan.name, &meta);
    let mut sink = ResultsSink::open(&dir, &plan.source)?;
    let resume = Resume {
        remeasure_ok: meta.git_dirty || request.force,
        retry_failed_only: request.retry_failed,
    };
    // A row measured in fewer rounds than the cell now asks for (a run stopped between rounds,
    // or a plan that raised `rounds`) is not a finished measurement, and a row measured from
    // another definition of the cell (an edited model, dataset, program or setting of a plan
    // git does not track, or of an older format) is not this cell's: either runs again.
    let redefined = std::cell::Cell::new(0usize);
    let (cells, note) = cells_to_run(cells, resume, |cell| {
        sink.row_of(&cell.id)
            .filter(|r| {
                if r.status != Status::Ok {
                    return true;
                }
                let same =
                    r.definition_sha256.as_deref() == Some(definition_sha256(&plan, cell).as_str());
                if !same {
                    redefined.set(redefined.get() + 1);
                }
                same && r.rounds_done() >= cell.measure.effective_rounds() as usize
            })
            .map(|r| r.status)
    });
    if let Some(note) = note {
        crate::note!("benchplan: {note}");
    }
    if redefined.get() > 0 && !resume.remeasure_ok && !resume.retry_failed_only {
        crate::note!(
            "benchplan: {} cell(s) changed since they were measured at this commit (model, data, program or settings); they are measured again",
            redefined.get()
        );
    }
    if cells.is_empty() {
        crate::note!(
            "benchplan: nothing to run; results: {}",
            sink.cells_path().display()
        );
        return Ok(ExitStatus::Success);
    }
    // Earlier runs of the study on this machine say how long its cells take (for the estimate
    // of the time left); none is fine.
    let history = crate::results::history::Durations::from_results(
        &request.results,
        &plan.name,
        "",
        Some(&meta.machine),
    )
    .map(|d| d.seconds)
    .unwrap_or_default();
    let mut progress = Progress::with_history(history);
    crate::note!(
        "benchplan: running {} cell(s) of study `{}` on `{}` (commit {}); results in {}",
        cells.len(),
        plan.name,
        meta.machine,
        meta.commit_label(),
        dir.display()
    );
    let observers: &mut [&mut dyn Observer] = &mut [&mut sink, &mut progress];
    let options = super::RunOptions {
        skip_unavailable: request.skip_unavailable,
        isolate: !request.in_process,
    };
    let summary = super::run(&plan, &cells, &meta, options, observers).with_context(|| {
        format!(
            "the run stopped; results measured so far are in `{}`",
            dir.display()
        )
    })?;
    crate::note!("results: {}", sink.cells_path().display());
    Ok(ExitStatus::failure_if(summary.failed > 0))
}
