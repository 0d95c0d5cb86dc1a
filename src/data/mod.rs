//! Real data for the workloads: sources (columns of CSV files shipped under `data/`), datasets
//! built from them ([`dataset`]), and the multi-threaded batch loader ([`loader`]).

pub mod dataset;
pub mod features;
pub mod loader;
pub mod source;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

pub use dataset::{Dataset, DatasetSpec};
pub use source::SourceSpec;

/// Datasets built during one run, so that cells sharing a dataset read and normalize it once.
#[derive(Default)]
pub struct DatasetCache {
    built: Mutex<HashMap<String, Arc<Dataset>>>,
}

impl DatasetCache {
    pub fn get(&self, spec: &DatasetSpec, sources: &[SourceSpec]) -> Result<Arc<Dataset>> {
        let mut built = self.built.lock().expect("dataset cache lock");
        if let Some(d) = built.get(&spec.name) {
            return Ok(d.clone());
        }
        let d = Arc::new(Dataset::build(spec, sources)?);
        built.insert(spec.name.clone(), d.clone());
        Ok(d)
    }
}
