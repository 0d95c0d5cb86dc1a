//! The results writer: listens to run events and makes every finished cell durable at once,
//! so that a failure in a later cell, a Ctrl-C or a crash loses nothing already measured.
//!
//! Each finished cell is written as its own small file under `pending/` (written aside,
//! flushed, renamed: never half there). Rewriting the whole `cells.parquet` after every cell
//! made a run of 200 short cells spend two thirds of its time writing results (the set grows
//! with every cell, so the cost was quadratic); now the set is consolidated (rewritten
//! atomically, then the pending files removed) at most every few seconds and at the end.
//! Readers merge the pending rows ([`store::read`]), so a killed run's set is complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::events::{Event, Observer};
use crate::results::layout::{CELLS_FILE, PLAN_COPY};
use crate::results::{store, CellRecord};

pub struct ResultsSink {
    dir: PathBuf,
    plan_source: String,
    /// Rows of the set: earlier ones first, each cell of this run replacing its earlier row.
    records: Vec<CellRecord>,
    /// When `cells.parquet` was last rewritten with every row; `None` before the first time.
    consolidated_at: Option<std::time::Instant>,
    /// Pending files written since then.
    pending: usize,
    /// Each cell of this run by its place in the plan: rows are kept in plan order, although
    /// rounds visit the cells shuffled.
    plan_order: std::collections::HashMap<String, usize>,
    /// This run's exclusive hold on the set: no second writer interleaves rows with ours.
    _lock: crate::results::lock::RunLock,
}

/// Longest time finished rows stay in pending files before the set is rewritten.
const CONSOLIDATE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl ResultsSink {
    /// Opens the result set in `dir`, keeping the rows it already has. An existing file that
    /// cannot be read is an error: overwriting it would destroy results.
    pub fn open(dir: &Path, plan_source: &str) -> Result<ResultsSink> {
        // Taken before reading, so that what is read is not being rewritten.
        let lock = crate::results::lock::RunLock::acquire(dir)?;
        let path = dir.join(CELLS_FILE);
        let records = if path.exists() || dir.join(store::PENDING_DIR).exists() {
            store::read(&path).with_context(|| {
                format!(
                    "the existing result set `{}` cannot be read, and would be overwritten; move it away or pass another `--results` folder",
                    path.display()
                )
            })?
        } else {
            Vec::new()
        };
        Ok(ResultsSink {
            dir: dir.to_owned(),
            plan_source: plan_source.to_owned(),
            records,
            consolidated_at: None,
            pending: 0,
            plan_order: Default::default(),
            _lock: lock,
        })
    }

    /// The row this result set already holds for a cell, if any.
    pub fn row_of(&self, cell_id: &str) -> Option<&CellRecord> {
        self.records.iter().find(|r| r.cell_id == cell_id)
    }

    pub fn cells_path(&self) -> PathBuf {
        self.dir.join(CELLS_FILE)
    }

    fn pending_dir(&self) -> PathBuf {
        self.dir.join(store::PENDING_DIR)
    }

    /// Rewrites `cells.parquet` with every row, then removes the pending files it now holds.
    fn consolidate(&mut self) -> Result<()> {
        // Stable: this run's cells in plan order, rows of cells it does not run (a filtered
        // run over a fuller set) after them, in the order they had.
        let order = &self.plan_order;
        self.records
            .sort_by_key(|r| order.get(&r.cell_id).copied().unwrap_or(usize::MAX));
        store::replace_set(&self.cells_path(), &self.records)?;
        self.consolidated_at = Some(std::time::Instant::now());
        self.pending = 0;
        Ok(())
    }

    fn upsert(&mut self, record: &CellRecord) {
        match self
            .records
            .iter_mut()
            .find(|r| r.cell_id == record.cell_id)
        {
            Some(old) => *old = record.clone(),
            None => self.records.push(record.clone()),
        }
    }
}

impl Observer for ResultsSink {
    fn on_event(&mut self, event: &Event) -> Result<()> {
        match event {
            Event::Started { cells, .. } => {
                self.plan_order = cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.id.clone(), i))
                    .collect();
                std::fs::create_dir_all(&self.dir).with_context(|| {
                    format!("cannot create the results folder `{}`", self.dir.display())
                })?;
                let copy = self.dir.join(PLAN_COPY);
                std::fs::write(&copy, &self.plan_source)
                    .with_context(|| format!("cannot write `{}`", copy.display()))?;
            }
            Event::CellFinished { record, .. } => {
                self.upsert(record);
                let due = self
                    .consolidated_at
                    .is_none_or(|t| t.elapsed() >= CONSOLIDATE_EVERY);
                if due {
                    self.consolidate()?;
                } else {
                    // Numbered so that readers apply them in the order they were written.
                    self.pending += 1;
                    let name = format!("{:06}-{}.parquet", self.pending, record.cell_id);
                    store::write_atomic_as(
                        &self.pending_dir().join(name),
                        &[(*record).clone()],
                        store::Encoding::Fast,
                    )?;
                }
            }
            Event::Finished { .. } if self.pending > 0 => self.consolidate()?,
            _ => {}
        }
        Ok(())
    }
}
