//! Events a run emits, and the observers that listen: the progress display and the results
//! writer each consume them, so the runner knows nothing of either.

use anyhow::Result;

use crate::plan::Cell;
use crate::results::CellRecord;

/// Counts of what a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Cells (not rounds).
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub wall_s: f64,
    /// Time inside warm-up and timed iterations, summed over cells: the run's useful work.
    /// The rest of `wall_s` is benchplan's own cost (planning, set-up, results, progress).
    pub measured_s: f64,
}

pub enum Event<'a> {
    /// `total` cell-rounds of `cells` (in plan order) are about to run.
    Started {
        total: usize,
        cells: &'a [Cell],
    },
    /// A round of a cell starts; `index` counts cell-rounds across the run.
    CellStarted {
        index: usize,
        cell: &'a Cell,
        round: usize,
        rounds: usize,
    },
    /// After each timed iteration: the samples so far (milliseconds).
    Sample {
        cell: &'a Cell,
        samples_ms: &'a [f64],
    },
    /// A round of a cell ended: `record` is the cell's row with every round so far (complete
    /// when `round + 1 == rounds`, or when it is no longer `ok`).
    CellFinished {
        index: usize,
        record: &'a CellRecord,
        round: usize,
        rounds: usize,
    },
    Finished {
        summary: &'a RunSummary,
    },
}

pub trait Observer {
    /// An error stops the run (e.g. results that can no longer be written).
    fn on_event(&mut self, event: &Event) -> Result<()>;
}
