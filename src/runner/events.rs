//! Events a run emits, and the observers that listen: the progress display and the results
//! writer each consume them, so the runner knows nothing of either.

use anyhow::Result;

use crate::plan::Cell;
use crate::results::CellRecord;

/// Counts of what a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
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
    Started {
        total: usize,
    },
    CellStarted {
        index: usize,
        cell: &'a Cell,
    },
    /// After each timed iteration: the samples so far (milliseconds).
    Sample {
        cell: &'a Cell,
        samples_ms: &'a [f64],
    },
    CellFinished {
        index: usize,
        record: &'a CellRecord,
    },
    Finished {
        summary: &'a RunSummary,
    },
}

pub trait Observer {
    /// An error stops the run (e.g. results that can no longer be written).
    fn on_event(&mut self, event: &Event) -> Result<()>;
}
