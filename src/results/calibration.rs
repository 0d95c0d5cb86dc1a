//! A machine's calibration of a study: what an A/A measurement (two halves of the same code on
//! this machine) says about each cell's run-to-run noise, stored as
//! `results/<study>/<machine>/calibration.json` and read back by `diff` and `ab`, which judge
//! each calibrated cell against the smallest change it can detect here instead of a threshold
//! that ignores how noisy the cell is (as bencher.dev's history-based thresholds do).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const CALIBRATION_FILE: &str = "calibration.json";

/// One study's calibration on one machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    pub study: String,
    pub machine: String,
    /// The commit measured (12 hex digits, `-dirty` when the tree was).
    pub commit: String,
    /// When the A/A measurement started (RFC 3339).
    pub measured_at: String,
    /// How the two halves were made: `interleaved A/A` or `rounds of <set> split in two`.
    pub source: String,
    /// The significance level and default threshold of the diffs it simulates.
    pub alpha: f64,
    pub threshold: f64,
    /// Random re-splits of the pooled rounds into two halves, each diffed as two runs.
    pub splits: usize,
    /// Share of those re-splits in which the default diff flagged any cell: the study's
    /// false-alarm rate on this machine.
    pub false_alarm_rate: f64,
    pub cells: Vec<CellCalibration>,
}

/// One cell's calibration. Changes are relative (0.08 = 8%).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellCalibration {
    pub cell_id: String,
    pub experiment: String,
    pub key: String,
    /// Rounds in each half.
    pub rounds: usize,
    /// Standard deviation of a round's log figure (its median, or a loader's mean) between
    /// rounds, pooled over both halves: the run-to-run noise of one round.
    pub round_spread: f64,
    /// Standard deviation of the per-round log difference between the halves, where they ran in
    /// the same rounds (interleaved): the noise `ab` faces.
    pub paired_spread: Option<f64>,
    /// The smallest change a default `diff` of two runs of `rounds` rounds finds with 80%
    /// power (two-sided, at α adjusted for the study's number of cells).
    pub detectable_between_runs: f64,
    /// The same for `ab` (a paired test on interleaved rounds).
    pub detectable_interleaved: Option<f64>,
    /// Whether the default diff of the two halves flagged the cell.
    pub flagged: bool,
    /// Share of the random re-splits in which the default diff flagged the cell.
    pub false_alarm_rate: f64,
}

/// Where the calibration of `study` on `machine` is kept.
pub fn path(results_root: &Path, study: &str, machine: &str) -> PathBuf {
    results_root
        .join(study)
        .join(machine)
        .join(CALIBRATION_FILE)
}

impl Calibration {
    /// The calibration at `path`; `None` when there is none. A file that cannot be read is an
    /// error that names it: a diff must not silently fall back to other thresholds.
    pub fn load(path: &Path) -> Result<Option<Calibration>> {
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "`{}` is not a calibration benchplan can read; run `benchplan calibrate` again, or pass `--no-calibration`",
                path.display()
            )
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))
    }

    /// The per-cell thresholds of the calibration of `study` on `machine` under
    /// `results_root`, if there is one (empty if not): for a diff of two stored runs, or
    /// (`interleaved`) for `ab`.
    pub fn thresholds_stored(
        results_root: &Path,
        study: &str,
        machine: &str,
        interleaved: bool,
    ) -> Result<std::collections::BTreeMap<String, (f64, usize)>> {
        Ok(Calibration::load(&path(results_root, study, machine))?
            .map_or_else(Default::default, |c| c.thresholds(interleaved)))
    }

    /// Each calibrated cell's smallest detectable change and the rounds per side it was
    /// computed for, by cell id: for a diff of two stored runs, or (`interleaved`) for `ab`.
    pub fn thresholds(
        &self,
        interleaved: bool,
    ) -> std::collections::BTreeMap<String, (f64, usize)> {
        self.cells
            .iter()
            .filter_map(|c| {
                let t = if interleaved {
                    c.detectable_interleaved?
                } else {
                    c.detectable_between_runs
                };
                t.is_finite().then(|| (c.cell_id.clone(), (t, c.rounds)))
            })
            .collect()
    }
}
