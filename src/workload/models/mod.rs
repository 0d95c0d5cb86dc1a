//! The models of docs/src/canonical-workloads.md §2, built with candle-nn from a [`ModelSpec`] declared in the plan.

mod dense;
mod lstm;
mod mlp;
mod norm;
mod transformer;

use candle_core::quantized::GgmlDType;
use candle_core::{Module, Result};
use candle_nn::VarBuilder;

pub use lstm::Lstm;
pub use mlp::Mlp;
pub use transformer::TransformerForecaster;

use crate::plan::ModelSpec;

/// Which kernels normalization and softmax use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// Differentiable: every op has a backward pass, as training needs (candle's fused
    /// layer_norm and softmax have none: docs/src/canonical-workloads.md, "Traps"). On CUDA in
    /// f32, benchplan's fused kernels with their backward (attention, layer norm, the LSTM's
    /// recurrence: `workload::kernels`); elsewhere candle's elementary ops.
    Composed,
    /// candle-nn's fused kernels where the backend has them; inference only.
    Fused,
}

/// How a model is built: kernels and the quantization of its Linear weights (inference only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    pub kernels: Kernels,
    pub quant: Option<GgmlDType>,
}

impl Build {
    /// What training needs: composed kernels, float weights.
    pub const TRAINING: Build = Build {
        kernels: Kernels::Composed,
        quant: None,
    };
}

/// A model: a forward pass, and the bytes its weights occupy as built.
pub trait Model: Module {
    fn weight_bytes(&self) -> usize;
}

/// Builds the model that `spec` declares, taking its weights from `vb`.
pub fn build(spec: &ModelSpec, vb: VarBuilder, how: Build) -> Result<Box<dyn Model>> {
    Ok(match spec {
        ModelSpec::Mlp {
            inputs,
            hidden,
            outputs,
        } => Box::new(Mlp::new(*inputs, hidden, *outputs, vb, how.quant)?),
        ModelSpec::Lstm {
            features,
            hidden_size,
            layers,
            outputs,
            ..
        } => Box::new(Lstm::new(
            *features,
            *hidden_size,
            *layers,
            *outputs,
            vb,
            how.quant,
        )?),
        ModelSpec::Transformer {
            features,
            d_model,
            heads,
            ff,
            layers,
            outputs,
            ..
        } => Box::new(TransformerForecaster::new(
            transformer::Config {
                features: *features,
                d_model: *d_model,
                heads: *heads,
                ff: *ff,
                layers: *layers,
                outputs: *outputs,
            },
            how,
            vb,
        )?),
    })
}
