//! The results writer: listens to run events and rewrites the result set after every cell, so
//! that a failure in a later cell, a Ctrl-C or a crash loses nothing already measured.

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
}

impl ResultsSink {
    /// Opens the result set in `dir`, keeping the rows it already has. An existing file that
    /// cannot be read is an error: overwriting it would destroy results.
    pub fn open(dir: &Path, plan_source: &str) -> Result<ResultsSink> {
        let path = dir.join(CELLS_FILE);
        let records = if path.exists() {
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
        })
    }

    /// The status this result set already holds for a cell, if any.
    pub fn status_of(&self, cell_id: &str) -> Option<crate::results::Status> {
        self.records
            .iter()
            .find(|r| r.cell_id == cell_id)
            .map(|r| r.status)
    }

    pub fn cells_path(&self) -> PathBuf {
        self.dir.join(CELLS_FILE)
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
            Event::Started { .. } => {
                std::fs::create_dir_all(&self.dir).with_context(|| {
                    format!("cannot create the results folder `{}`", self.dir.display())
                })?;
                let copy = self.dir.join(PLAN_COPY);
                std::fs::write(&copy, &self.plan_source)
                    .with_context(|| format!("cannot write `{}`", copy.display()))?;
            }
            Event::CellFinished { record, .. } => {
                self.upsert(record);
                store::write_atomic(&self.cells_path(), &self.records)?;
            }
            _ => {}
        }
        Ok(())
    }
}
