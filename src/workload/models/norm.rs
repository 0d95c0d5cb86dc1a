//! Layer normalization over the last dimension, composed or fused.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::Kernels;
use crate::workload::kernels::{layer_norm, layer_norm_is_fused};

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
    kernels: Kernels,
}

impl LayerNorm {
    /// PyTorch's defaults: weight 1, bias 0, eps 1e-5.
    pub fn new(dim: usize, kernels: Kernels, vb: VarBuilder) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
            eps: 1e-5,
            kernels,
        })
    }
}

impl LayerNorm {
    pub fn bytes(&self) -> usize {
        (self.weight.elem_count() + self.bias.elem_count()) * self.weight.dtype().size_in_bytes()
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self.kernels {
            // Not candle_nn::LayerNorm: it takes the fused path (no backward) whenever its
            // input is contiguous, which silently leaves these parameters without gradients.
            // benchplan's fused layer norm with its backward on CUDA (kernels/layer_norm.rs).
            Kernels::Composed if layer_norm_is_fused(xs) => {
                layer_norm(xs, &self.weight, &self.bias, self.eps)
            }
            Kernels::Composed => {
                candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps)
            }
            Kernels::Fused => {
                candle_nn::ops::layer_norm(&xs.contiguous()?, &self.weight, &self.bias, self.eps)
            }
        }
    }
}
