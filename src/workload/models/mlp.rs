//! Multi-layer perceptron: Linear layers with GELU (exact, erf-based, as PyTorch's default
//! `nn.GELU`) between them and none after the last.

use candle_core::quantized::GgmlDType;
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dense::Dense;
use super::Model;

pub struct Mlp {
    layers: Vec<Dense>,
}

impl Mlp {
    pub fn new(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        vb: VarBuilder,
        quant: Option<GgmlDType>,
    ) -> Result<Mlp> {
        let dims: Vec<usize> = std::iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(outputs))
            .collect();
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| Dense::new(w[0], w[1], vb.pp(format!("layers.{i}")), quant))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers })
    }
}

impl Module for Mlp {
    /// `xs`: `[batch, inputs]` (a window is flattened first) → `[batch, outputs]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut x = if xs.rank() > 2 {
            xs.flatten_from(1)?
        } else {
            xs.clone()
        };
        for (i, layer) in self.layers.iter().enumerate() {
            x = if i < last {
                layer.forward_gelu(&x)?
            } else {
                layer.forward(&x)?
            };
        }
        Ok(x)
    }
}

impl Model for Mlp {
    fn weight_bytes(&self) -> usize {
        self.layers.iter().map(Dense::bytes).sum()
    }
}
