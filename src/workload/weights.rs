//! Seeded model weights.
//!
//! A model is built once over [`SeededInit`], a candle-nn `VarBuilder` backend that answers
//! every `get` with a tensor drawn from the seed and the tensor's name, honouring candle-nn's
//! init hint (so Linear layers get candle's own Kaiming/uniform scheme, LayerNorm ones and
//! zeros). The recorded tensors then serve both ways a model is used:
//! - training: as the initial values of `Var`s in a `VarMap`, which AdamW updates;
//! - inference: as plain tensors (`VarBuilder::from_tensors`), so no gradient graph is
//!   recorded — candle has no no-grad mode, and a graph built from `Var`s costs time.
//!
//! Same seed, same weights: an f32 baseline and its bf16 variant start from identical values,
//! which is what makes their prediction error meaningful.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use crate::rng::Rng;

/// A `VarBuilder` backend that draws seeded tensors on the CPU and remembers them.
#[derive(Clone)]
pub struct SeededInit {
    seed: u64,
    made: Arc<Mutex<HashMap<String, Tensor>>>,
}

impl SeededInit {
    pub fn new(seed: u64) -> SeededInit {
        SeededInit {
            seed,
            made: Arc::default(),
        }
    }

    /// Builds with `build` over this backend and returns every tensor it asked for (f32, CPU).
    pub fn weights<T>(
        seed: u64,
        build: impl FnOnce(VarBuilder) -> Result<T>,
    ) -> Result<HashMap<String, Tensor>> {
        let init = SeededInit::new(seed);
        let vb = VarBuilder::from_backend(Box::new(init.clone()), DType::F32, Device::Cpu);
        build(vb)?;
        let made = init.made.lock().expect("weights lock").clone();
        Ok(made)
    }

    fn draw(&self, shape: &Shape, name: &str, hint: Init) -> Result<Tensor> {
        let n = shape.elem_count();
        let mut rng = Rng::for_stream(self.seed, name);
        let values = match hint {
            Init::Const(c) => vec![c as f32; n],
            Init::Randn { mean, stdev } => rng.normal_vec(n, mean, stdev),
            Init::Uniform { lo, up } => rng.uniform_vec(n, lo, up),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        rng.uniform_vec(n, -bound, bound)
                    }
                    NormalOrUniform::Normal => rng.normal_vec(n, 0.0, std),
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), &Device::Cpu)
    }
}

impl SimpleBackend for SeededInit {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut made = self.made.lock().expect("weights lock");
        let t = match made.get(name) {
            Some(t) => t.clone(),
            None => {
                let t = self.draw(&s, name, h)?;
                made.insert(name.to_owned(), t.clone());
                t
            }
        };
        t.to_dtype(dtype)?.to_device(dev)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("seeded weights have no tensor `{name}` without a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.made.lock().expect("weights lock").contains_key(name)
    }
}

/// Trainable copies of `weights` in `dtype` on `device`, in a `VarMap` for the optimizer.
pub fn to_varmap(
    weights: &HashMap<String, Tensor>,
    dtype: DType,
    device: &Device,
) -> Result<VarMap> {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().expect("varmap lock");
        for (name, t) in weights {
            data.insert(
                name.clone(),
                Var::from_tensor(&t.to_dtype(dtype)?.to_device(device)?)?,
            );
        }
    }
    Ok(varmap)
}

/// Plain (non-`Var`) copies of `weights`, for inference without a gradient graph.
pub fn to_inference(
    weights: &HashMap<String, Tensor>,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>> {
    let mut tensors = HashMap::with_capacity(weights.len());
    for (name, t) in weights {
        tensors.insert(name.clone(), t.to_dtype(dtype)?.to_device(device)?.detach());
    }
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}

/// Total number of scalars in a set of weights.
pub fn parameter_count(weights: &HashMap<String, Tensor>) -> u64 {
    weights.values().map(|t| t.elem_count() as u64).sum()
}
