//! `infer`: one forward pass without gradient tracking (docs/src/canonical-workloads.md §4). The model is built
//! from plain tensors, not `Var`s, because candle has no no-grad mode: a forward over `Var`s
//! records a graph for backward, which costs time an inference user never pays.
//!
//! Optimizations (docs/src/canonical-workloads.md §5) are parameters: `dtype` (f32, bf16, f16), `quant` (Linear
//! weights in Q8_0 or Q4_0) and `kernels` (composed or fused). A cell that uses any of them also
//! records its prediction error against the f32, float-weight, composed baseline on the same
//! inputs, and the bytes its weights occupy, so no speed-up is shown without its cost.

use anyhow::Result;
use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};

use super::inputs::{batches, Batches};
use super::models::{self, Build, Kernels, Model};
use super::train::source_of;
use super::weights::{parameter_count, to_inference, SeededInit};
use super::{dtype_of, error_against_f32_baseline, model_of, seed_of, Bench, BenchInfo, Prepared};
use crate::memory;
use crate::plan::{Cell, Plan};

pub struct Forward {
    model: Box<dyn Model>,
    batches: Batches,
    next: usize,
}

impl Forward {
    /// Predictions for the first batch.
    pub fn predict(&self) -> candle_core::Result<Tensor> {
        self.model.forward(&self.batches.inputs[0])
    }
}

impl Bench for Forward {
    fn iterate(&mut self) -> candle_core::Result<()> {
        self.model.forward(&self.batches.inputs[self.next])?;
        self.next = (self.next + 1) % self.batches.inputs.len();
        Ok(())
    }
}

/// How the cell asks the model to be built.
pub fn build_of(cell: &Cell) -> Build {
    let quant = match cell.get("quant").and_then(|v| v.as_str()) {
        Some("q8_0") => Some(GgmlDType::Q8_0),
        Some("q4_0") => Some(GgmlDType::Q4_0),
        _ => None,
    };
    let kernels = match cell.get("kernels").and_then(|v| v.as_str()) {
        Some("fused") => Kernels::Fused,
        _ => Kernels::Composed,
    };
    Build { kernels, quant }
}

pub fn build(cell: &Cell, plan: &Plan, device: &Device) -> Result<(Forward, BenchInfo)> {
    let spec = model_of(cell, plan)?;
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let batch = cell.usize_param("batch");
    let how = build_of(cell);
    let weights = SeededInit::weights(seed, |vb| models::build(spec, vb, Build::TRAINING))?;
    let model = models::build(spec, to_inference(&weights, dtype, device)?, how)?;
    let batches = batches(
        spec,
        source_of(cell, plan, false),
        batch,
        seed,
        dtype,
        device,
    )?;

    let activation_bytes = if device.is_cpu() {
        let (out, peak) = memory::peak_during(|| model.forward(&batches.inputs[0]));
        out?;
        Some(peak)
    } else {
        None
    };
    let optimized = dtype != DType::F32 || how != Build::TRAINING;
    let prediction_error = if optimized {
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
        activation_bytes,
        prediction_error,
        ..BenchInfo::default()
    };
    Ok((
        Forward {
            model,
            batches,
            next: 0,
        },
        info,
    ))
}

pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    let (forward, info) = build(cell, plan, device)?;
    Ok(Prepared {
        bench: Box::new(forward),
        info,
    })
}
