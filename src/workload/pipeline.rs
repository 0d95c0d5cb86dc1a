//! `pipeline`: one end-to-end training iteration on real data, timed per stage
//! (docs/src/canonical-workloads.md §8): `load` (waiting for the loader's next batch), `transfer` (into tensors
//! on the device), `forward` (with the loss), `backward`, `optimizer` (the AdamW step).
//!
//! The device is synchronized before every clock read, so each stage's time includes its GPU
//! work. The loader's workers prepare later batches while the model computes; that overlap is
//! why `load` can be far below the loader's own time per batch. The stages of one iteration
//! are consecutive intervals, so they add up to the iteration's time, less the few
//! microseconds between the runner's clock reads and the first and last stage's.

use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};

use super::dataload::loader_config;
use super::models::Model;
use super::optim::AdamW;
use super::train::{trainable, Trainable};
use super::weights::parameter_count;
use super::{dtype_of, model_of, seed_of, Bench, BenchInfo, Prepared};
use crate::data::loader::Loader;
use crate::plan::{Cell, Plan};

pub const STAGES: [&str; 5] = ["load", "transfer", "forward", "backward", "optimizer"];

struct Pipeline {
    loader: Loader,
    model: Box<dyn Model>,
    optimizer: AdamW,
    device: Device,
    dtype: DType,
    /// Shape of one sample as the model takes it.
    sample_shape: Vec<usize>,
    horizon: usize,
    stage_ms: [Vec<f64>; 5],
}

impl Bench for Pipeline {
    fn iterate(&mut self) -> candle_core::Result<()> {
        let sync = |d: &Device| d.synchronize();
        let mut marks = [Instant::now(); 6];
        let batch = self.loader.next_batch();
        marks[1] = Instant::now();
        let n = batch.len();
        let mut shape = vec![n];
        shape.extend(&self.sample_shape);
        let x = Tensor::from_vec(batch.inputs, shape, &Device::Cpu)?
            .to_dtype(self.dtype)?
            .to_device(&self.device)?;
        let y = Tensor::from_vec(batch.targets, (n, self.horizon), &Device::Cpu)?
            .to_device(&self.device)?;
        sync(&self.device)?;
        marks[2] = Instant::now();
        let predictions = self.model.forward(&x)?.to_dtype(DType::F32)?;
        let loss = candle_nn::loss::mse(&predictions, &y)?;
        sync(&self.device)?;
        marks[3] = Instant::now();
        let grads = loss.backward()?;
        sync(&self.device)?;
        marks[4] = Instant::now();
        self.optimizer.step(&grads)?;
        sync(&self.device)?;
        marks[5] = Instant::now();
        for (i, stage) in self.stage_ms.iter_mut().enumerate() {
            stage.push((marks[i + 1] - marks[i]).as_secs_f64() * 1e3);
        }
        Ok(())
    }

    fn begin_timed(&mut self) {
        self.stage_ms.iter_mut().for_each(Vec::clear);
    }

    fn stages(&self) -> Vec<(String, Vec<f64>)> {
        STAGES
            .iter()
            .zip(&self.stage_ms)
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect()
    }
}

pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    let spec = model_of(cell, plan)?;
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let data = plan
        .dataset(cell.str_param("data"))
        .expect("datasets are checked with the plan")
        .clone();
    let Trainable {
        model,
        optimizer,
        weights,
        ..
    } = trainable(spec, seed, dtype, device)?;
    let config = loader_config(cell);
    let batch = config.batch;
    let horizon = data.horizon;
    let info = BenchInfo {
        samples_per_iteration: Some(batch as u64),
        param_count: Some(parameter_count(&weights)),
        weight_bytes: Some(model.weight_bytes() as u64),
        optimizer_state_bytes: Some(optimizer.state_bytes()),
        ..BenchInfo::default()
    };
    Ok(Prepared {
        bench: Box::new(Pipeline {
            loader: Loader::new(data, config),
            model,
            optimizer,
            device: device.clone(),
            dtype,
            sample_shape: spec.sample_shape(),
            horizon,
            stage_ms: Default::default(),
        }),
        info,
    })
}
