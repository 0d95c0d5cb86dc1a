//! One LSTM time step's gate arithmetic, fused, with its backward; and the same step composed
//! from candle's ops for GPUs and half precision.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{f32_slice, takes_fast_path};

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    // 1 − 2 / (e^{2x} + 1): one `exp`, exact in the limits (x → ±∞ gives ±1).
    1.0 - 2.0 / ((2.0 * x).exp() + 1.0)
}

/// One unit's step from its four gate pre-activations (i, f, g, o) and the previous cell
/// state: (h, c). The arithmetic of both CPU LSTM ops (this file's and lstm_seq.rs's).
#[inline(always)]
pub(super) fn cell_forward(pi: f32, pf: f32, pg: f32, po: f32, c_prev: f32) -> (f32, f32) {
    let c = sigmoid(pf) * c_prev + sigmoid(pi) * tanh_f32(pg);
    (sigmoid(po) * tanh_f32(c), c)
}

/// The backward of [`cell_forward`]: from the pre-activations, the previous cell state and
/// ∂L/∂h, ∂L/∂c of this step to ∂L/∂(i, f, g, o) pre-activations and ∂L/∂c_prev.
#[inline(always)]
pub(super) fn cell_backward(
    [pi, pf, pg, po]: [f32; 4],
    c_prev: f32,
    dh: f32,
    dc_in: f32,
) -> ([f32; 4], f32) {
    let (i, f, gg, o) = (sigmoid(pi), sigmoid(pf), tanh_f32(pg), sigmoid(po));
    let c = f * c_prev + i * gg;
    let tc = tanh_f32(c);
    // ∂L/∂c through both c's own gradient and h = o·tanh(c).
    let dc = dc_in + dh * o * (1.0 - tc * tc);
    (
        [
            dc * gg * i * (1.0 - i),
            dc * c_prev * f * (1.0 - f),
            dc * i * (1.0 - gg * gg),
            dh * tc * o * (1.0 - o),
        ],
        dc * f,
    )
}

/// One LSTM time step's gate arithmetic, fused: from the pre-activations `gates`
/// `[batch, 4·hidden]` (PyTorch order i, f, g, o) and the previous cell state `[batch, hidden]`
/// to `[2, batch, hidden]` = (h, c). candle composes it from ~10 ops, each a pass with a
/// temporary; on the CPU that was most of the LSTM's time.
struct LstmCell {
    hidden: usize,
}

impl CustomOp2 for LstmCell {
    fn name(&self) -> &'static str {
        "benchplan-lstm-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let gates = f32_slice(s1, l1, self.name())?;
        let c_prev = f32_slice(s2, l2, self.name())?;
        let hs = self.hidden;
        let batch = c_prev.len() / hs;
        let mut out = vec![0f32; 2 * batch * hs];
        let (h_out, c_out) = out.split_at_mut(batch * hs);
        for b in 0..batch {
            let g = &gates[b * 4 * hs..(b + 1) * 4 * hs];
            for j in 0..hs {
                let (pi, pf, pg, po) = (g[j], g[hs + j], g[2 * hs + j], g[3 * hs + j]);
                let (h, c) = cell_forward(pi, pf, pg, po, c_prev[b * hs + j]);
                c_out[b * hs + j] = c;
                h_out[b * hs + j] = h;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((2, batch, hs))))
    }

    fn bwd(
        &self,
        gates: &Tensor,
        c_prev: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        let both = gates.apply_op3_no_bwd(
            c_prev,
            &grad,
            &LstmCellBackward {
                hidden: self.hidden,
            },
        )?;
        let (batch, _) = c_prev.dims2()?;
        let g_gates = both.narrow(1, 0, 4 * self.hidden)?;
        let g_c = both.narrow(1, 4 * self.hidden, self.hidden)?;
        let _ = batch;
        Ok((Some(g_gates), Some(g_c)))
    }
}

/// The gradients of [`LstmCell`]: from (gates, c_prev, ∂L/∂(h, c)) to
/// `[batch, 5·hidden]` = (∂L/∂gates | ∂L/∂c_prev).
struct LstmCellBackward {
    hidden: usize,
}

impl candle_core::CustomOp3 for LstmCellBackward {
    fn name(&self) -> &'static str {
        "benchplan-lstm-cell-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let gates = f32_slice(s1, l1, self.name())?;
        let c_prev = f32_slice(s2, l2, self.name())?;
        let grad = f32_slice(s3, l3, self.name())?;
        let hs = self.hidden;
        let batch = c_prev.len() / hs;
        let (gh, gc) = grad.split_at(batch * hs);
        let mut out = vec![0f32; batch * 5 * hs];
        for b in 0..batch {
            let g = &gates[b * 4 * hs..(b + 1) * 4 * hs];
            let row = &mut out[b * 5 * hs..(b + 1) * 5 * hs];
            for j in 0..hs {
                let k = b * hs + j;
                let pre = [g[j], g[hs + j], g[2 * hs + j], g[3 * hs + j]];
                let (dg, dc_prev) = cell_backward(pre, c_prev[k], gh[k], gc[k]);
                for (q, d) in dg.into_iter().enumerate() {
                    row[q * hs + j] = d;
                }
                row[4 * hs + j] = dc_prev;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, 5 * hs))))
    }
}

/// Whether [`lstm_cell`] takes the fused path for these tensors.
pub fn lstm_cell_is_fused(gates: &Tensor, c_prev: &Tensor) -> bool {
    takes_fast_path(gates) && takes_fast_path(c_prev)
}

/// (h, c) of one LSTM step from the gate pre-activations and the previous cell state, fused
/// on the CPU (f32, contiguous), composed from candle ops elsewhere. Differentiable either way.
pub fn lstm_cell(gates: &Tensor, c_prev: &Tensor, hidden: usize) -> Result<(Tensor, Tensor)> {
    if lstm_cell_is_fused(gates, c_prev) {
        super::note_taken("lstm-cell (cpu)");
        let hc = gates.apply_op2(c_prev, LstmCell { hidden })?;
        return Ok((hc.get(0)?, hc.get(1)?));
    }
    lstm_cell_composed(gates, c_prev, hidden)
}

/// The same step from candle's ops (one kernel each): the path for GPUs and half precision.
pub fn lstm_cell_composed(
    gates: &Tensor,
    c_prev: &Tensor,
    hidden: usize,
) -> Result<(Tensor, Tensor)> {
    let sig = candle_nn::ops::sigmoid(gates)?;
    let i = sig.narrow(1, 0, hidden)?;
    let f = sig.narrow(1, hidden, hidden)?;
    let g = gates.narrow(1, 2 * hidden, hidden)?.tanh()?;
    let o = sig.narrow(1, 3 * hidden, hidden)?;
    let c = ((f * c_prev)? + (i * g)?)?;
    let h = (o * c.tanh()?)?;
    Ok((h, c))
}

#[cfg(test)]
mod lstm_tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_cell_functions_saturate_cleanly() {
        assert_eq!(tanh_f32(50.0), 1.0);
        assert_eq!(tanh_f32(-50.0), -1.0);
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(200.0) == 1.0);
    }

    #[test]
    fn the_fused_lstm_cell_matches_the_composed_one_and_its_gradients() {
        let (batch, hidden) = (3, 5);
        let seq = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * scale)
                .collect()
        };
        let gates = Var::from_vec(
            seq(batch * 4 * hidden, 0.3),
            (batch, 4 * hidden),
            &Device::Cpu,
        )
        .unwrap();
        let c_prev =
            Var::from_vec(seq(batch * hidden, 0.2), (batch, hidden), &Device::Cpu).unwrap();
        let (gt, ct) = (gates.as_tensor(), c_prev.as_tensor());
        assert!(lstm_cell_is_fused(gt, ct));
        let weights =
            Tensor::from_vec(seq(batch * hidden, 0.1), (batch, hidden), &Device::Cpu).unwrap();
        // A loss that weighs h and c differently, so both gradient paths are exercised.
        let loss = |(h, c): (Tensor, Tensor)| {
            ((h * &weights).unwrap().sum_all().unwrap()
                + (c.sqr().unwrap() * 0.5).unwrap().sum_all().unwrap())
            .unwrap()
        };
        let fused = lstm_cell(gt, ct, hidden).unwrap();
        let composed = lstm_cell_composed(gt, ct, hidden).unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let d = super::super::test_util::max_abs_diff(a, b);
            assert!(d < 1e-5, "{d}");
        };
        close(&fused.0, &composed.0);
        close(&fused.1, &composed.1);
        let g1 = loss(fused).backward().unwrap();
        let g2 = loss(composed).backward().unwrap();
        close(g1.get(gt).unwrap(), g2.get(gt).unwrap());
        close(g1.get(ct).unwrap(), g2.get(ct).unwrap());
    }
}
