//! `train`: one training step — forward, MSE loss against a target of the output's shape,
//! backward, AdamW step (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01) — WORKLOADS.md §3.
//! Gradients are cleared by construction: candle computes a fresh gradient store per backward.

use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};

use super::models::{self, Kernels};
use super::weights::{parameter_count, to_varmap, SeededInit};
use super::{dtype_of, model_of, normal_tensor, seed_of, Bench, BenchInfo, Prepared};
use crate::plan::{Cell, Plan};

pub const ADAMW: ParamsAdamW = ParamsAdamW {
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.01,
};

/// A model with its optimizer and one fixed batch.
pub struct TrainStep {
    model: Box<dyn Module>,
    optimizer: AdamW,
    inputs: Tensor,
    /// Kept in f32: with half-precision weights the loss is still taken in f32.
    targets: Tensor,
}

impl TrainStep {
    /// The loss of the current batch (forward only), in f32.
    pub fn loss(&self) -> candle_core::Result<Tensor> {
        let predictions = self.model.forward(&self.inputs)?.to_dtype(DType::F32)?;
        candle_nn::loss::mse(&predictions, &self.targets)
    }
}

impl Bench for TrainStep {
    fn iterate(&mut self) -> candle_core::Result<()> {
        let loss = self.loss()?;
        self.optimizer.backward_step(&loss)
    }
}

/// Builds the training step of `cell`; also used by tests that inspect gradients.
pub fn build(cell: &Cell, plan: &Plan, device: &Device) -> Result<(TrainStep, BenchInfo)> {
    let spec = model_of(cell, plan)?;
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let batch = cell.usize_param("batch");
    let weights = SeededInit::weights(seed, |vb| models::build(spec, vb, Kernels::Composed))?;
    let varmap = to_varmap(&weights, dtype, device)?;
    let model = models::build(
        spec,
        VarBuilder::from_varmap(&varmap, dtype, device),
        Kernels::Composed,
    )?;
    let optimizer = AdamW::new(varmap.all_vars(), ADAMW)?;
    let mut input_shape = vec![batch];
    input_shape.extend(spec.sample_shape());
    let inputs = normal_tensor(&input_shape, seed, "inputs", dtype, device)?;
    let targets = normal_tensor(
        &[batch, spec.outputs()],
        seed,
        "targets",
        DType::F32,
        device,
    )?;
    let params = parameter_count(&weights);
    let info = BenchInfo {
        samples_per_iteration: Some(batch as u64),
        param_count: Some(params),
        weight_bytes: Some(params * dtype.size_in_bytes() as u64),
        ..BenchInfo::default()
    };
    Ok((
        TrainStep {
            model,
            optimizer,
            inputs,
            targets,
        },
        info,
    ))
}

pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    let (step, info) = build(cell, plan, device)?;
    Ok(Prepared {
        bench: Box::new(step),
        info,
    })
}

/// Every trainable variable of a fresh step, by name, with whether one backward pass gives it a
/// gradient. A parameter without one would be silently skipped by AdamW.
pub fn gradient_coverage(cell: &Cell, plan: &Plan) -> Result<Vec<(String, bool)>> {
    let spec = model_of(cell, plan)?;
    let seed = seed_of(cell);
    let batch = cell.usize_param("batch");
    let weights = SeededInit::weights(seed, |vb| models::build(spec, vb, Kernels::Composed))?;
    let varmap = to_varmap(&weights, DType::F32, &Device::Cpu)?;
    let model = models::build(
        spec,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        Kernels::Composed,
    )?;
    let mut input_shape = vec![batch];
    input_shape.extend(spec.sample_shape());
    let inputs = normal_tensor(&input_shape, seed, "inputs", DType::F32, &Device::Cpu)?;
    let targets = normal_tensor(
        &[batch, spec.outputs()],
        seed,
        "targets",
        DType::F32,
        &Device::Cpu,
    )?;
    let loss = candle_nn::loss::mse(&model.forward(&inputs)?, &targets)?;
    let grads = loss.backward()?;
    let data = varmap.data().lock().expect("varmap lock");
    let mut coverage: Vec<(String, bool)> = data
        .iter()
        .map(|(name, var)| (name.clone(), grads.get(var.as_tensor()).is_some()))
        .collect();
    coverage.sort();
    Ok(coverage)
}
