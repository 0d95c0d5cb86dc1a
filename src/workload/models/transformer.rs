//! Transformer forecaster: Linear(features → d_model); `layers` pre-norm encoder layers
//! (multi-head self-attention and a GELU feed-forward, each behind a LayerNorm and added back
//! to its input, no dropout); mean over time; Linear(d_model → outputs).
//!
//! candle-nn has no attention or encoder layer, so both are built here from Linear, matmul and
//! softmax. The attention projection is one `in_proj` Linear (d → 3d), as in PyTorch's
//! `nn.MultiheadAttention`, which gives the same parameter count.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dense::Dense;
use super::norm::LayerNorm;
use super::{Build, Kernels, Model};
use crate::workload::kernels::{attention, attention_composed, attention_is_fused};

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub features: usize,
    pub d_model: usize,
    pub heads: usize,
    pub ff: usize,
    pub layers: usize,
    pub outputs: usize,
}

struct EncoderLayer {
    norm1: LayerNorm,
    in_proj: Dense,
    out_proj: Dense,
    norm2: LayerNorm,
    ff1: Dense,
    ff2: Dense,
    heads: usize,
    kernels: Kernels,
}

impl EncoderLayer {
    fn new(cfg: &Config, how: Build, vb: VarBuilder) -> Result<EncoderLayer> {
        let (d, q) = (cfg.d_model, how.quant);
        Ok(EncoderLayer {
            norm1: LayerNorm::new(d, how.kernels, vb.pp("norm1"))?,
            in_proj: Dense::new(d, 3 * d, vb.pp("self_attn.in_proj"), q)?,
            out_proj: Dense::new(d, d, vb.pp("self_attn.out_proj"), q)?,
            norm2: LayerNorm::new(d, how.kernels, vb.pp("norm2"))?,
            ff1: Dense::new(d, cfg.ff, vb.pp("linear1"), q)?,
            ff2: Dense::new(cfg.ff, d, vb.pp("linear2"), q)?,
            heads: cfg.heads,
            kernels: how.kernels,
        })
    }

    fn weight_bytes(&self) -> usize {
        self.norm1.bytes()
            + self.in_proj.bytes()
            + self.out_proj.bytes()
            + self.norm2.bytes()
            + self.ff1.bytes()
            + self.ff2.bytes()
    }

    /// Multi-head self-attention over `[batch, steps, d]`: one fused op with its backward on
    /// CUDA (f32, kernels/attention.rs), candle's ops elsewhere.
    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let qkv = self.in_proj.forward(x)?; // [b, t, 3d]
        let context = match self.kernels {
            Kernels::Composed if attention_is_fused(&qkv, self.heads) => {
                attention(&qkv, self.heads)?
            }
            Kernels::Composed => attention_composed(&qkv, self.heads)?,
            Kernels::Fused => self.attention_candle_fused(&qkv)?,
        };
        self.out_proj.forward(&context)
    }

    /// Attention with candle's fused (forward-only) softmax: the `kernels = "fused"` cells.
    fn attention_candle_fused(&self, qkv: &Tensor) -> Result<Tensor> {
        let (b, t, three_d) = qkv.dims3()?;
        let d = three_d / 3;
        let hd = d / self.heads;
        let split = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, t, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?); // [b, heads, t, hd]
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))
    }
}

impl Module for EncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.attention(&self.norm1.forward(x)?)?)?;
        let ff = self
            .ff2
            .forward(&self.ff1.forward_gelu(&self.norm2.forward(&x)?)?)?;
        x + ff
    }
}

pub struct TransformerForecaster {
    embed: Dense,
    layers: Vec<EncoderLayer>,
    head: Dense,
}

impl TransformerForecaster {
    pub fn new(cfg: Config, how: Build, vb: VarBuilder) -> Result<TransformerForecaster> {
        Ok(TransformerForecaster {
            embed: Dense::new(cfg.features, cfg.d_model, vb.pp("embed"), how.quant)?,
            layers: (0..cfg.layers)
                .map(|l| EncoderLayer::new(&cfg, how, vb.pp(format!("encoder.layers.{l}"))))
                .collect::<Result<_>>()?,
            head: Dense::new(cfg.d_model, cfg.outputs, vb.pp("head"), how.quant)?,
        })
    }
}

impl Module for TransformerForecaster {
    /// `xs`: `[batch, seq_len, features]` → `[batch, outputs]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut x = self.embed.forward(xs)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        self.head.forward(&x.mean(1)?)
    }
}

impl Model for TransformerForecaster {
    fn weight_bytes(&self) -> usize {
        self.embed.bytes()
            + self
                .layers
                .iter()
                .map(EncoderLayer::weight_bytes)
                .sum::<usize>()
            + self.head.bytes()
    }
}
