//! Multi-layer perceptron: Linear layers with GELU (exact, erf-based, as PyTorch's default
//! `nn.GELU`) between them and none after the last.

use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(inputs: usize, hidden: &[usize], outputs: usize, vb: VarBuilder) -> Result<Mlp> {
        let dims: Vec<usize> = std::iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(outputs))
            .collect();
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("layers.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut x = xs.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i < last {
                x = x.gelu_erf()?;
            }
        }
        Ok(x)
    }
}
