//! `train`: one training step — forward, MSE loss against a target of the output's shape,
//! backward, AdamW step (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01) — docs/src/canonical-workloads.md §3.
//! Gradients are cleared by construction: candle computes a fresh gradient store per backward.
//! With `dtype` bf16 or f16 the weights and activations are in half precision and the loss in
//! f32 (mixed precision).

use std::collections::HashMap;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::{ParamsAdamW, VarBuilder, VarMap};

use super::inputs::{batches, Batches, Source};
use super::models::{self, Build, Model};
use super::optim::AdamW;
use super::weights::{parameter_count, to_varmap, SeededInit};
use super::{dtype_of, error_against_f32_baseline, model_of, seed_of, Bench, BenchInfo, Prepared};
use crate::memory;
use crate::plan::{Cell, ModelSpec, Plan};

pub const ADAMW: ParamsAdamW = ParamsAdamW {
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.01,
};

/// A model whose weights, drawn from a seed, are trainable variables, and the AdamW that
/// updates them: what `train`, `pipeline` and the gradient check share.
pub struct Trainable {
    pub model: Box<dyn Model>,
    pub varmap: VarMap,
    pub optimizer: AdamW,
    /// The initial weights, in f32 on the CPU (for baselines and parameter counts).
    pub weights: HashMap<String, Tensor>,
}

pub fn trainable(spec: &ModelSpec, seed: u64, dtype: DType, device: &Device) -> Result<Trainable> {
    let weights = SeededInit::weights(seed, |vb| models::build(spec, vb, Build::TRAINING))?;
    let varmap = to_varmap(&weights, dtype, device)?;
    let model = models::build(
        spec,
        VarBuilder::from_varmap(&varmap, dtype, device),
        Build::TRAINING,
    )?;
    let optimizer = AdamW::new(varmap.all_vars(), ADAMW)?;
    Ok(Trainable {
        model,
        varmap,
        optimizer,
        weights,
    })
}

/// A model with its optimizer and the batches it cycles through.
pub struct TrainStep {
    model: Box<dyn Model>,
    optimizer: AdamW,
    batches: Batches,
    next: usize,
}

impl TrainStep {
    /// The loss of batch `i` (forward only), in f32.
    pub fn loss_of(&self, i: usize) -> candle_core::Result<Tensor> {
        let predictions = self
            .model
            .forward(&self.batches.inputs[i])?
            .to_dtype(DType::F32)?;
        candle_nn::loss::mse(&predictions, &self.batches.targets[i])
    }

    /// The loss of the first batch.
    pub fn loss(&self) -> candle_core::Result<Tensor> {
        self.loss_of(0)
    }
}

impl Bench for TrainStep {
    fn iterate(&mut self) -> candle_core::Result<()> {
        let loss = self.loss_of(self.next)?;
        self.next = (self.next + 1) % self.batches.inputs.len();
        self.optimizer.backward_step(&loss)
    }
}

/// The inputs a model cell reads: `data = "random"` or a dataset of the plan.
pub fn source_of<'p>(cell: &Cell, plan: &'p Plan, training: bool) -> Source<'p> {
    match cell.get("data").and_then(|v| v.as_str()) {
        Some(name) if name != "random" => Source::Data {
            dataset: plan
                .dataset(name)
                .expect("datasets are checked with the plan"),
            training,
        },
        _ => Source::Random,
    }
}

/// Builds the training step of `cell`; also used by tests that inspect gradients.
pub fn build(cell: &Cell, plan: &Plan, device: &Device) -> Result<(TrainStep, BenchInfo)> {
    let spec = model_of(cell, plan)?;
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let batch = cell.usize_param("batch");
    let Trainable {
        model,
        optimizer,
        weights,
        ..
    } = trainable(spec, seed, dtype, device)?;
    let batches = batches(
        spec,
        source_of(cell, plan, true),
        batch,
        seed,
        dtype,
        device,
    )?;

    // Activation memory: the peak of one forward pass whose graph is kept for backward.
    let activation_bytes = if device.is_cpu() {
        let (loss, peak) = memory::peak_during(|| {
            let predictions = model.forward(&batches.inputs[0]);
            predictions
                .and_then(|p| candle_nn::loss::mse(&p.to_dtype(DType::F32)?, &batches.targets[0]))
        });
        loss?;
        Some(peak)
    } else {
        None
    };
    // Mixed precision's cost: how far the half-precision forward is from the f32 one.
    let prediction_error = if dtype != DType::F32 {
        Some(error_against_f32_baseline(
            spec,
            &weights,
            model.as_ref(),
            &batches.inputs[0],
            device,
        )?)
    } else {
        None
    };
    let info = BenchInfo {
        samples_per_iteration: Some(batch as u64),
        param_count: Some(parameter_count(&weights)),
        weight_bytes: Some(model.weight_bytes() as u64),
        optimizer_state_bytes: Some(optimizer.state_bytes()),
        activation_bytes,
        prediction_error,
        ..BenchInfo::default()
    };
    Ok((
        TrainStep {
            model,
            optimizer,
            batches,
            next: 0,
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
    let Trainable { model, varmap, .. } = trainable(spec, seed, DType::F32, &Device::Cpu)?;
    let b = batches(
        spec,
        source_of(cell, plan, true),
        batch,
        seed,
        DType::F32,
        &Device::Cpu,
    )?;
    let loss = candle_nn::loss::mse(&model.forward(&b.inputs[0])?, &b.targets[0])?;
    let grads = loss.backward()?;
    let data = varmap.data().lock().expect("varmap lock");
    let mut coverage: Vec<(String, bool)> = data
        .iter()
        .map(|(name, var)| (name.clone(), grads.get(var.as_tensor()).is_some()))
        .collect();
    coverage.sort();
    Ok(coverage)
}
