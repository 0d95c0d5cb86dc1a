//! Linear layers that may hold their weights quantized to a GGML block format.
//!
//! A weight matrix is quantized only when its input dimension is a whole number of blocks
//! (32 values for Q8_0 and Q4_0); other layers keep float weights (in the canonical models,
//! only the 8-feature input projections). Biases stay in float either way.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

/// A weight matrix applied as `x · Wᵀ`.
pub enum Proj {
    Float(Tensor),
    Quant { matmul: QMatMul, bytes: usize },
}

impl Proj {
    /// Wraps `w` (`[out, in]`), quantizing it when asked and its shape allows.
    pub fn new(w: Tensor, quant: Option<GgmlDType>) -> Result<Proj> {
        match quant {
            Some(q) if w.dim(1)? % q.block_size() == 0 => {
                let qt = QTensor::quantize(&w, q)?;
                let bytes = qt.storage_size_in_bytes();
                Ok(Proj::Quant {
                    matmul: QMatMul::from_qtensor(qt)?,
                    bytes,
                })
            }
            _ => Ok(Proj::Float(w)),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Proj::Float(w) => crate::workload::kernels::linear(x, w, None),
            Proj::Quant { matmul, .. } => matmul.forward(x),
        }
    }

    /// `x · Wᵀ + b` for a bias `b` broadcast over rows: one gemm call on the CPU, the product
    /// and one bias kernel on CUDA (see `kernels::linear`).
    pub fn forward_bias(&self, x: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self {
            Proj::Float(w) => crate::workload::kernels::linear(x, w, Some(b)),
            Proj::Quant { matmul, .. } => matmul.forward(x)?.broadcast_add(b),
        }
    }

    /// `x · Wᵀ + a`, with `a` of the result's shape (fused into the product where possible).
    pub fn forward_add(&self, x: &Tensor, a: &Tensor) -> Result<Tensor> {
        match self {
            Proj::Float(w) => crate::workload::kernels::linear_add(x, w, a),
            Proj::Quant { matmul, .. } => matmul.forward(x)? + a,
        }
    }

    /// The float weight `[out, in]`, unless it is quantized.
    pub fn float_weight(&self) -> Option<&Tensor> {
        match self {
            Proj::Float(w) => Some(w),
            Proj::Quant { .. } => None,
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            Proj::Float(w) => w.elem_count() * w.dtype().size_in_bytes(),
            Proj::Quant { bytes, .. } => *bytes,
        }
    }
}

/// A Linear layer (weight and bias) whose weight may be quantized.
pub enum Dense {
    Float(Linear),
    Quant { weight: Proj, bias: Tensor },
}

impl Dense {
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        vb: VarBuilder,
        quant: Option<GgmlDType>,
    ) -> Result<Dense> {
        let layer = linear(in_dim, out_dim, vb)?;
        if quant.is_none() {
            return Ok(Dense::Float(layer));
        }
        let bias = layer.bias().expect("candle_nn::linear has a bias").clone();
        Ok(Dense::Quant {
            weight: Proj::new(layer.weight().clone(), quant)?,
            bias,
        })
    }

    pub fn bytes(&self) -> usize {
        let size = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        match self {
            Dense::Float(l) => size(l.weight()) + l.bias().map_or(0, size),
            Dense::Quant { weight, bias } => weight.bytes() + size(bias),
        }
    }
}

impl Dense {
    /// `gelu(x·Wᵀ + b)`: on CUDA the bias and the GELU run as one kernel after the product.
    pub fn forward_gelu(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Dense::Float(l) => crate::workload::kernels::linear_gelu(x, l.weight(), l.bias()),
            Dense::Quant { .. } => crate::workload::kernels::gelu(&self.forward(x)?),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Dense::Float(l) => crate::workload::kernels::linear(x, l.weight(), l.bias()),
            Dense::Quant { weight, bias } => weight.forward(x)?.broadcast_add(bias),
        }
    }
}
