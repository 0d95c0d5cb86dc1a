//! `infer`: one forward pass without gradient tracking (WORKLOADS.md §4). The model is built
//! from plain tensors, not `Var`s, because candle has no no-grad mode: a forward over `Var`s
//! records a graph for backward, which costs time an inference user never pays.

use anyhow::Result;
use candle_core::{Device, Module, Tensor};

use super::models::{self, Kernels};
use super::weights::{parameter_count, to_inference, SeededInit};
use super::{dtype_of, model_of, normal_tensor, seed_of, Bench, BenchInfo, Prepared};
use crate::plan::{Cell, Plan};

pub struct Forward {
    model: Box<dyn Module>,
    inputs: Tensor,
}

impl Forward {
    pub fn predict(&self) -> candle_core::Result<Tensor> {
        self.model.forward(&self.inputs)
    }
}

impl Bench for Forward {
    fn iterate(&mut self) -> candle_core::Result<()> {
        self.predict()?;
        Ok(())
    }
}

pub fn build(cell: &Cell, plan: &Plan, device: &Device) -> Result<(Forward, BenchInfo)> {
    let spec = model_of(cell, plan)?;
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let batch = cell.usize_param("batch");
    let weights = SeededInit::weights(seed, |vb| models::build(spec, vb, Kernels::Composed))?;
    let model = models::build(
        spec,
        to_inference(&weights, dtype, device)?,
        Kernels::Composed,
    )?;
    let mut input_shape = vec![batch];
    input_shape.extend(spec.sample_shape());
    let inputs = normal_tensor(&input_shape, seed, "inputs", dtype, device)?;
    let params = parameter_count(&weights);
    let info = BenchInfo {
        samples_per_iteration: Some(batch as u64),
        param_count: Some(params),
        weight_bytes: Some(params * dtype.size_in_bytes() as u64),
        ..BenchInfo::default()
    };
    Ok((Forward { model, inputs }, info))
}

pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    let (forward, info) = build(cell, plan, device)?;
    Ok(Prepared {
        bench: Box::new(forward),
        info,
    })
}
