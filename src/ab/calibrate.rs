//! `benchplan calibrate`: an A/A measurement of a plan's cells on this machine, analysed by
//! [`crate::diff::calibration`] and stored as the machine's calibration of the study
//! ([`crate::results::calibration`]), which `diff` and `ab` then use for per-cell thresholds.
//! By default the two halves are the same cells of this working tree run interleaved in the
//! same rounds (an `ab` of the tree against itself); `--from` splits the rounds of a stored run
//! instead (its even rounds against its odd ones), measuring nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::diff::calibration::{calibrate, with_rounds};
use crate::diff::Settings;
use crate::plan::filter::Filter;
use crate::results::calibration::{self, Calibration};
use crate::results::catalog::ResultSet;
use crate::results::{CellRecord, RunMetadata};
use crate::runner::plan_run::load_plan;
use crate::runner::Track;

/// What `benchplan calibrate` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct CalibrateRequest {
    pub plan: PathBuf,
    pub filters: Vec<String>,
    pub results: PathBuf,
    pub machine: Option<String>,
    /// Split the rounds of this stored result set instead of measuring.
    pub from: Option<PathBuf>,
    /// Random re-splits for the false-alarm rate.
    pub splits: usize,
    pub in_process: bool,
}

/// Measures (or reads) the two halves, calibrates, stores; returns where and what.
pub fn run_calibration(
    request: &CalibrateRequest,
    settings: &Settings,
) -> Result<(PathBuf, Calibration)> {
    let (a, b, source, meta) = match &request.from {
        Some(set) => split_set(set)?,
        None => measure_halves(request)?,
    };
    let mut found = calibrate(&a, &b, settings, request.splits);
    if request.from.is_some() {
        // A run's even and odd rounds did not run side by side: no paired figure.
        for c in &mut found.cells {
            c.paired_spread = None;
            c.detectable_interleaved = None;
        }
    }
    if found.cells.is_empty() {
        bail!("no cell was measured in two rounds or more on both halves: nothing to calibrate (a plan needs `rounds` of 2 or more; with --from, 4 or more)");
    }
    let study = a.first().map(|r| r.study.clone()).unwrap_or_default();
    let cal = Calibration {
        study: study.clone(),
        machine: meta.machine.clone(),
        commit: meta.commit_label(),
        measured_at: meta.run_started_at.clone(),
        source,
        alpha: settings.alpha,
        threshold: settings.threshold,
        splits: request.splits,
        false_alarm_rate: found.false_alarm_rate,
        cells: found.cells,
    };
    let path = calibration::path(&request.results, &study, &meta.machine);
    cal.save(&path)?;
    Ok((path, cal))
}

/// The plan's cells run twice, interleaved in the same rounds, into
/// `<results>/<study>/<machine>/calibration/{a,b}`.
fn measure_halves(
    request: &CalibrateRequest,
) -> Result<(Vec<CellRecord>, Vec<CellRecord>, String, RunMetadata)> {
    let plan = load_plan(&request.plan, false)?;
    let cells = Filter::parse(&request.filters)?.apply(plan.cells().cloned().collect())?;
    if cells.is_empty() {
        bail!(
            "no cell of `{}` matches the filters",
            request.plan.display()
        );
    }
    crate::runner::check_devices(&cells)?;
    let meta = RunMetadata::collect(
        &request.plan,
        &plan.sha256,
        request.machine.as_deref(),
        &request.results,
    );
    let dir = request
        .results
        .join(&plan.name)
        .join(&meta.machine)
        .join("calibration");
    // A calibration describes one A/A measurement: the previous one's halves go.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear `{}`", dir.display()))?;
    }
    let (a_dir, b_dir) = (dir.join("a"), dir.join("b"));
    crate::note!(
        "benchplan: calibrating {} cell(s) of study `{}` on `{}`: two halves of the same code, interleaved in the same rounds; results in {}",
        cells.len(),
        plan.name,
        meta.machine,
        dir.display()
    );
    let track = || Track {
        plan: &plan,
        cells: &cells,
        meta: &meta,
        exe: None,
    };
    let ([a, b], _) =
        super::side_by_side(&[track(), track()], [&a_dir, &b_dir], request.in_process)
            .with_context(|| {
                format!(
                    "the calibration run stopped; what was measured is in `{}`",
                    dir.display()
                )
            })?;
    Ok((a, b, "interleaved A/A".to_owned(), meta))
}

/// A stored run's rounds split in two: even rounds against odd ones.
fn split_set(set: &Path) -> Result<(Vec<CellRecord>, Vec<CellRecord>, String, RunMetadata)> {
    let rows = ResultSet::at(set)?.read()?;
    let Some(first) = rows.first() else {
        bail!("the result set `{}` has no rows", set.display());
    };
    let meta = first.meta.clone();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for row in &rows {
        let rounds = row.rounds();
        let even: Vec<&[f64]> = rounds.iter().step_by(2).copied().collect();
        let odd: Vec<&[f64]> = rounds.iter().skip(1).step_by(2).copied().collect();
        a.push(with_rounds(row, &even));
        b.push(with_rounds(row, &odd));
    }
    Ok((
        a,
        b,
        format!(
            "rounds of {} split in two (even against odd)",
            set.display()
        ),
        meta,
    ))
}

/// The calibration as a terminal table, one line per cell, and a summary.
pub fn table(cal: &Calibration) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mut rows = vec![[
        "cell".to_owned(),
        "rounds".to_owned(),
        "spread/round".to_owned(),
        "detectable: diff".to_owned(),
        "detectable: ab".to_owned(),
        "A/A flagged".to_owned(),
        "false alarms".to_owned(),
    ]];
    for c in &cal.cells {
        rows.push([
            format!("{} {}", c.experiment, c.key),
            c.rounds.to_string(),
            pct(c.round_spread.exp() - 1.0),
            pct(c.detectable_between_runs),
            c.detectable_interleaved.map_or("–".to_owned(), pct),
            if c.flagged { "yes" } else { "no" }.to_owned(),
            pct(c.false_alarm_rate),
        ]);
    }
    let mut out = String::new();
    for line in crate::format::aligned(&rows, &[false, true, true, true, true, true, true]) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{} cell(s) on `{}` ({}, {}): the default diff flagged a cell in {} of {} random re-splits of the halves (α = {}, threshold {}); 'detectable' is the smallest change found with 80% power\n",
        cal.cells.len(),
        cal.machine,
        cal.commit,
        cal.source,
        pct(cal.false_alarm_rate),
        cal.splits,
        cal.alpha,
        pct(cal.threshold)
    ));
    out
}
