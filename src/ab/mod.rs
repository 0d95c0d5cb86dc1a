//! Interleaved A/B of two revisions (`benchplan ab`): "did this commit make it slower?" answered
//! on one machine, in one run, without stored history. Each revision is checked out into its own
//! worktree ([`worktree`]); the plan is loaded from each tree; the cells the two plans share run
//! alternately inside the same rounds ([`crate::runner::run_tracks`]): in every round, each cell
//! of the shuffled order runs for one revision and then the other, the first alternating between
//! rounds. A `command` cell runs its program from its revision's tree; a built-in cell runs in a
//! worker of its revision's benchplan build where one is given (`--base-bin`, `--head-bin`), else
//! of this one. Both sides are stored as result sets, and the diff pairs each round of one side
//! with the same round of the other, so that what the machine did during a round cancels.

pub mod calibrate;
pub mod worktree;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::diff::{self, Diff, Settings};
use crate::plan::filter::Filter;
use crate::plan::{Plan, WorkloadKind};
use crate::results::calibration::Calibration;
use crate::results::catalog::ResultSet;
use crate::results::{CellRecord, RunMetadata};
use crate::runner::events::{Observer, RunSummary};
use crate::runner::progress::Progress;
use crate::runner::sink::ResultsSink;
use crate::runner::{run_tracks, RunOptions, Track};
use worktree::{repository_of, Tree};

/// What `benchplan ab` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct AbRequest {
    /// The plan, in the current working tree; the same path is loaded from each revision.
    pub plan: PathBuf,
    /// The old revision.
    pub base: String,
    /// The new revision; `None`: the working tree as it is.
    pub head: Option<String>,
    /// The benchplan build that runs each side's built-in cells (`None`: this one).
    pub base_bin: Option<PathBuf>,
    pub head_bin: Option<PathBuf>,
    pub filters: Vec<String>,
    /// Folder that holds result sets.
    pub results: PathBuf,
    pub machine: Option<String>,
    /// Every cell in this process instead of a worker per round (built-in cells of both sides
    /// then run this build).
    pub in_process: bool,
    /// Judge cells against this machine's calibration (`benchplan calibrate`), where it has one.
    pub use_calibration: bool,
}

/// What an A/B run produced.
pub struct AbOutcome {
    /// The folder holding both sides' result sets and the diff.
    pub dir: PathBuf,
    pub diff: Diff,
    /// Cells that failed on either side.
    pub failed: usize,
}

/// Where an A/B run of `study` on `machine` between two commit labels is kept: beside the
/// study's result sets, in a folder that the catalog does not take for a commit's set.
pub fn ab_dir(results: &Path, study: &str, machine: &str, base: &str, head: &str) -> PathBuf {
    results
        .join(study)
        .join(machine)
        .join("ab")
        .join(format!("{base}-vs-{head}"))
}

/// Runs the A/B comparison `request` asks for and diffs it with `settings` (made paired here).
pub fn run_ab(request: &AbRequest, settings: &Settings) -> Result<AbOutcome> {
    let repo = repository_of(&request.plan)?;
    let plan_abs = request
        .plan
        .canonicalize()
        .with_context(|| format!("cannot read `{}`", request.plan.display()))?;
    let relative = plan_abs
        .strip_prefix(&repo)
        .with_context(|| {
            format!(
                "`{}` is not inside `{}`",
                plan_abs.display(),
                repo.display()
            )
        })?
        .to_owned();
    for bin in [&request.base_bin, &request.head_bin].into_iter().flatten() {
        if !bin.is_file() {
            bail!("no benchplan build at `{}`", bin.display());
        }
    }
    let scratch = std::env::temp_dir().join(format!("benchplan-ab-{}", std::process::id()));
    let base = Tree::checkout(&repo, &request.base, &scratch.join("base"))?;
    let head = match &request.head {
        Some(rev) => Tree::checkout(&repo, rev, &scratch.join("head"))?,
        None => Tree::working(&repo)?,
    };
    let load = |tree: &Tree| -> Result<Plan> {
        let path = tree.root.join(&relative);
        if !path.is_file() {
            bail!(
                "the plan `{}` does not exist at {} ({})",
                relative.display(),
                tree.label,
                tree.commit_label()
            );
        }
        Plan::load(&path)
            .with_context(|| format!("the plan at {} ({})", tree.label, tree.commit_label()))
    };
    let (base_plan, head_plan) = (load(&base)?, load(&head)?);
    let filter = Filter::parse(&request.filters)?;
    let head_cells = filter.apply(head_plan.cells().cloned().collect())?;
    let base_all: Vec<_> = base_plan.cells().cloned().collect();
    let mut pairs = Vec::new();
    let mut only_head = 0;
    for cell in head_cells {
        match base_all.iter().find(|c| c.id == cell.id) {
            Some(b) => pairs.push((b.clone(), cell)),
            None => only_head += 1,
        }
    }
    if only_head > 0 {
        crate::note!(
            "benchplan: {only_head} cell(s) of {} are not in the plan at {}: left out",
            head.label,
            base.label
        );
    }
    if pairs.is_empty() {
        bail!(
            "the plans at {} and {} share no cell (that the filters keep): nothing to compare",
            base.label,
            head.label
        );
    }
    let (base_cells, head_cells): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    crate::runner::check_devices(&head_cells)?;
    let builtin = head_cells
        .iter()
        .any(|c| c.workload != WorkloadKind::Command);
    if builtin && (request.in_process || request.base_bin.is_none()) {
        crate::note!(
            "benchplan: the built-in cells of both revisions run with {}: they compare the plans, not benchplan's code{}",
            if request.in_process { "this build (--in-process)" } else { "this build" },
            if request.in_process { "" } else { "; --base-bin gives the base revision's build" }
        );
    }

    let meta_of = |tree: &Tree, plan: &Plan| -> RunMetadata {
        let mut meta = RunMetadata::collect(
            &plan.path,
            &plan.sha256,
            request.machine.as_deref(),
            &request.results,
        );
        meta.git_commit = tree.commit.clone();
        meta.git_dirty = tree.dirty;
        meta
    };
    let base_meta = meta_of(&base, &base_plan);
    let head_meta = RunMetadata {
        // One shuffle for both sides: the rounds are shared.
        run_started_at: base_meta.run_started_at.clone(),
        ..meta_of(&head, &head_plan)
    };
    let dir = ab_dir(
        &request.results,
        &head_plan.name,
        &head_meta.machine,
        &base.commit_label(),
        &head.commit_label(),
    );
    let (base_dir, head_dir) = (dir.join("base"), dir.join("head"));
    crate::note!(
        "benchplan: A/B of {} cell(s) of study `{}` on `{}`: {} ({}) against {} ({}), interleaved in the same rounds; results in {}",
        head_cells.len(),
        head_plan.name,
        head_meta.machine,
        base.label,
        base.commit_label(),
        head.label,
        head.commit_label(),
        dir.display()
    );
    let tracks = [
        Track {
            plan: &base_plan,
            cells: &base_cells,
            meta: &base_meta,
            exe: request.base_bin.as_deref(),
        },
        Track {
            plan: &head_plan,
            cells: &head_cells,
            meta: &head_meta,
            exe: request.head_bin.as_deref(),
        },
    ];
    let ([base_rows, head_rows], summary) =
        side_by_side(&tracks, [&base_dir, &head_dir], request.in_process).with_context(|| {
            format!(
                "the A/B run stopped; what was measured so far is in `{}`",
                dir.display()
            )
        })?;
    let cell_thresholds = if request.use_calibration {
        Calibration::thresholds_stored(&request.results, &head_plan.name, &head_meta.machine, true)?
    } else {
        Default::default()
    };
    let settings = Settings {
        paired: true,
        experiment_thresholds: ResultSet::at(&head_dir)?.diff_thresholds(),
        cell_thresholds,
        ..settings.clone()
    };
    let d = diff::compare(
        &base_rows,
        &head_rows,
        &format!("{} ({})", base.label, base.commit_label()),
        &format!("{} ({})", head.label, head.commit_label()),
        &settings,
    );
    std::fs::write(dir.join("diff.json"), serde_json::to_string_pretty(&d)?)
        .with_context(|| format!("cannot write `{}`", dir.join("diff.json").display()))?;
    // The worktrees go first (git forgets them), then their folder.
    drop((base, head));
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(AbOutcome {
        dir,
        diff: d,
        failed: summary.failed,
    })
}

/// Runs two tracks side by side in the same rounds (with the progress display), each into its
/// own result set in `dirs` (beside the plan it ran), and reads back each set's rows of the cells
/// run. `in_process`: built-in cells in this process, not a worker per round.
pub(crate) fn side_by_side(
    tracks: &[Track; 2],
    dirs: [&Path; 2],
    in_process: bool,
) -> Result<([Vec<CellRecord>; 2], RunSummary)> {
    let mut a = ResultsSink::open(dirs[0], &tracks[0].plan.source)?;
    let mut b = ResultsSink::open(dirs[1], &tracks[1].plan.source)?;
    let options = RunOptions {
        skip_unavailable: false,
        isolate: !in_process,
    };
    let mut progress = Progress::new();
    let summary = run_tracks(
        tracks,
        options,
        &mut [&mut progress as &mut dyn Observer],
        &mut [&mut a as &mut dyn Observer, &mut b],
    )?;
    // The sinks consolidate and let go of their sets before they are read.
    drop((a, b));
    let read = |k: usize| -> Result<Vec<CellRecord>> {
        let ids: std::collections::HashSet<&str> =
            tracks[k].cells.iter().map(|c| c.id.as_str()).collect();
        let mut rows = ResultSet::at(dirs[k])?.read()?;
        rows.retain(|r| ids.contains(r.cell_id.as_str()));
        Ok(rows)
    };
    Ok(([read(0)?, read(1)?], summary))
}
