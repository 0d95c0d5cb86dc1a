//! `dataload`: one batch from the multi-threaded loader, turned into tensors on the cell's
//! device (docs/src/canonical-workloads.md §7). The timed interval is what a training loop waits for: the time to
//! receive the next assembled batch plus its copy into tensors. Worker threads run ahead during
//! the loop, so their CPU time shows in the cell's CPU figures rather than in its time.

use anyhow::Result;
use candle_core::{Device, Tensor};

use super::{seed_of, Bench, BenchInfo, Prepared};
use crate::data::loader::{Loader, LoaderConfig, Split};
use crate::plan::{Cell, Plan};

struct LoadBatch {
    loader: Loader,
    device: Device,
    input_shape: (usize, usize, usize),
    horizon: usize,
}

impl Bench for LoadBatch {
    fn iterate(&mut self) -> candle_core::Result<()> {
        let batch = self.loader.next_batch();
        let (_, t, f) = self.input_shape;
        let n = batch.len();
        let x = Tensor::from_vec(batch.inputs, (n, t, f), &self.device)?;
        let y = Tensor::from_vec(batch.targets, (n, self.horizon), &self.device)?;
        std::hint::black_box((x, y));
        Ok(())
    }
}

/// The loader settings of a cell that reads batches (`dataload`, `pipeline`).
pub fn loader_config(cell: &Cell) -> LoaderConfig {
    LoaderConfig {
        batch: cell.usize_param("batch"),
        workers: cell.usize_param("workers"),
        prefetch: cell.usize_param("prefetch"),
        shuffle: !matches!(
            cell.get("shuffle"),
            Some(crate::plan::ParamValue::Bool(false))
        ),
        in_order: true,
        seed: seed_of(cell),
        jitter: match cell.get("jitter") {
            Some(crate::plan::ParamValue::Float(x)) => *x as f32,
            _ => 0.0,
        },
        split: Split::Train,
    }
}

pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    let name = cell.str_param("data");
    let data = plan
        .dataset(name)
        .expect("datasets are checked with the plan")
        .clone();
    let config = loader_config(cell);
    let batch = config.batch;
    let input_shape = (batch, data.seq_len, data.n_features);
    let horizon = data.horizon;
    Ok(Prepared {
        bench: Box::new(LoadBatch {
            loader: Loader::new(data, config),
            device: device.clone(),
            input_shape,
            horizon,
        }),
        info: BenchInfo {
            samples_per_iteration: Some(batch as u64),
            ..BenchInfo::default()
        },
    })
}
