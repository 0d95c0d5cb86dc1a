//! Inputs of model cells: seeded random tensors, or batches of windows from a dataset.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};

use super::normal_tensor;
use crate::data::Dataset;
use crate::plan::ModelSpec;
use crate::rng::Rng;

/// At most this many distinct batches are kept on the device for a cell; the timed loop
/// cycles through them. Enough to defeat caches of a single batch, small enough for any device.
pub const MAX_BATCHES: usize = 32;

/// Batches of inputs and targets for a model, on the device.
pub struct Batches {
    pub inputs: Vec<Tensor>,
    /// In f32: the loss is taken in f32 whatever the model's dtype.
    pub targets: Vec<Tensor>,
}

/// Where a model cell's inputs come from.
pub enum Source<'a> {
    Random,
    Data {
        dataset: &'a Dataset,
        training: bool,
    },
}

/// Builds the batches a model cell cycles through. Random inputs are one seeded batch; data
/// inputs are up to [`MAX_BATCHES`] batches of windows (training or validation split) in a
/// seeded order, inputs shaped `[batch, seq_len, features]`, or flattened for an MLP.
pub fn batches(
    spec: &ModelSpec,
    source: Source,
    batch: usize,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<Batches> {
    let mut input_shape = vec![batch];
    input_shape.extend(spec.sample_shape());
    let Source::Data { dataset, training } = source else {
        return Ok(Batches {
            inputs: vec![normal_tensor(&input_shape, seed, "inputs", dtype, device)?],
            targets: vec![normal_tensor(
                &[batch, spec.outputs()],
                seed,
                "targets",
                DType::F32,
                device,
            )?],
        });
    };
    let mut windows = if training {
        dataset.train_windows.clone()
    } else {
        dataset.validation_windows.clone()
    };
    Rng::new(seed).shuffle(&mut windows);
    // Small splits (or large batches) reuse windows rather than fail.
    while windows.len() < batch {
        windows.extend_from_within(..);
    }
    let (x_len, y_len) = (dataset.seq_len * dataset.n_features, dataset.horizon);
    let mut out = Batches {
        inputs: Vec::new(),
        targets: Vec::new(),
    };
    for chunk in windows.chunks_exact(batch).take(MAX_BATCHES) {
        let mut x = vec![0f32; batch * x_len];
        let mut y = vec![0f32; batch * y_len];
        for (i, &w) in chunk.iter().enumerate() {
            dataset.window(
                w,
                &mut x[i * x_len..(i + 1) * x_len],
                &mut y[i * y_len..(i + 1) * y_len],
            );
        }
        out.inputs.push(
            Tensor::from_vec(x, input_shape.as_slice(), &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(device)?,
        );
        out.targets
            .push(Tensor::from_vec(y, (batch, y_len), &Device::Cpu)?.to_device(device)?);
    }
    Ok(out)
}
