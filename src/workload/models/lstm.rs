//! Stacked LSTM forecaster: LSTM(features → hidden, `layers` deep, batch-first) → last time
//! step → Linear(hidden → outputs).
//!
//! Written here rather than with `candle_nn::lstm`, which is a single layer that recomputes
//! the input projection at every time step. Here each layer projects all time steps of its
//! input in one matmul, and the recurrence does only the `h · W_hhᵀ` product and the gate
//! arithmetic per step: on CUDA (f32) one fused kernel for the whole recurrence of a layer,
//! elsewhere a product and a gate op per step. Gate order and the two bias vectors follow PyTorch (i, f, g, o), so
//! the parameter count matches docs/src/canonical-workloads.md §2.

use candle_core::quantized::GgmlDType;
use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use super::dense::{Dense, Proj};
use super::Model;
use crate::workload::kernels::{lstm_cell, lstm_layer, lstm_layer_is_fused};

struct LstmLayer {
    w_ih: Proj,
    w_hh: Proj,
    b_ih: Tensor,
    b_hh: Tensor,
}

pub struct Lstm {
    layers: Vec<LstmLayer>,
    hidden: usize,
    head: Dense,
}

impl Lstm {
    pub fn new(
        features: usize,
        hidden: usize,
        layers: usize,
        outputs: usize,
        vb: VarBuilder,
        quant: Option<GgmlDType>,
    ) -> Result<Lstm> {
        // PyTorch initializes every LSTM parameter from U(−1/√hidden, 1/√hidden).
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let lstm_vb = vb.pp("lstm");
        let layers = (0..layers)
            .map(|l| {
                let input = if l == 0 { features } else { hidden };
                Ok(LstmLayer {
                    w_ih: Proj::new(
                        lstm_vb.get_with_hints(
                            (4 * hidden, input),
                            &format!("weight_ih_l{l}"),
                            init,
                        )?,
                        quant,
                    )?,
                    w_hh: Proj::new(
                        lstm_vb.get_with_hints(
                            (4 * hidden, hidden),
                            &format!("weight_hh_l{l}"),
                            init,
                        )?,
                        quant,
                    )?,
                    b_ih: lstm_vb.get_with_hints(4 * hidden, &format!("bias_ih_l{l}"), init)?,
                    b_hh: lstm_vb.get_with_hints(4 * hidden, &format!("bias_hh_l{l}"), init)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Lstm {
            layers,
            hidden,
            head: Dense::new(hidden, outputs, vb.pp("head"), quant)?,
        })
    }
}

impl Module for Lstm {
    /// `xs`: `[batch, seq_len, features]` → `[batch, outputs]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (batch, steps, _) = xs.dims3()?;
        let h_size = self.hidden;
        // Time-major ([steps, batch, ·]) throughout, so that each step's slice is contiguous
        // and a layer's output sequence is the next layer's input without a transpose.
        let mut input = xs.transpose(0, 1)?.contiguous()?;
        let mut last_h = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let in_dim = input.dim(D::Minus1)?;
            // All time steps' input projections at once: [steps·batch, in] · W_ihᵀ.
            let bias = (&layer.b_ih + &layer.b_hh)?;
            let projected = layer
                .w_ih
                .forward_bias(&input.reshape((steps * batch, in_dim))?, &bias)?
                .reshape((steps, batch, 4 * h_size))?;
            let keep_sequence = l + 1 < self.layers.len();
            let w_hh = layer.w_hh.float_weight();
            if let Some(w_hh) = w_hh.filter(|w| lstm_layer_is_fused(&projected, w, h_size)) {
                // The whole recurrence in one kernel (CUDA, kernels/lstm_seq.rs).
                let hs = lstm_layer(&projected, w_hh, h_size)?; // [steps, batch, h]
                                                                // Contiguous: the head's product needs dense rows (hs's row stride is 6h).
                last_h = Some(hs.get(steps - 1)?.contiguous()?);
                if keep_sequence {
                    input = hs.contiguous()?;
                }
                continue;
            }
            let mut h: Option<Tensor> = None;
            let mut c = Tensor::zeros((batch, h_size), projected.dtype(), projected.device())?;
            let mut outputs = Vec::with_capacity(if keep_sequence { steps } else { 0 });
            for t in 0..steps {
                let x_t = projected.get(t)?;
                // At t = 0 the state is zero, so h·W_hhᵀ is skipped rather than computed.
                let gates = match &h {
                    Some(h) => layer.w_hh.forward_add(h, &x_t)?,
                    None => x_t.contiguous()?,
                };
                // Gate arithmetic: fused on the CPU, candle's ops elsewhere (kernels/lstm.rs).
                let (h_new, c_new) = lstm_cell(&gates, &c, h_size)?;
                if keep_sequence {
                    outputs.push(h_new.clone());
                }
                h = Some(h_new);
                c = c_new;
            }
            if keep_sequence {
                input = Tensor::stack(&outputs, 0)?; // [steps, batch, h]
            }
            last_h = h;
        }
        let last = last_h.ok_or_else(|| {
            candle_core::Error::Msg("LSTM with no layers or no time steps".into())
        })?;
        self.head.forward(&last)
    }
}

impl Model for Lstm {
    fn weight_bytes(&self) -> usize {
        let size = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        self.layers
            .iter()
            .map(|l| l.w_ih.bytes() + l.w_hh.bytes() + size(&l.b_ih) + size(&l.b_hh))
            .sum::<usize>()
            + self.head.bytes()
    }
}
