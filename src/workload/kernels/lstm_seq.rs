//! One LSTM layer's whole recurrence as one op, with its backward: on CUDA a single kernel per
//! layer and direction (`lstm_seq_*` in cuda/fused.cu), where candle's ops launch ~10 kernels
//! per time step; on the CPU one gemm call per step into buffers reused across steps, where
//! the step-by-step path made a product, a gate op and their tensors per step (and as many
//! nodes of the autograd graph). The same arithmetic on both; the tests hold the CPU op to
//! candle's composed ops, `benchplan check-kernels` the CUDA one.
//!
//! Input: the projections of every step `xproj` `[T, B, 4H]` (x·W_ihᵀ + b_ih + b_hh, gate order
//! i, f, g, o, as PyTorch) and `W_hhᵀ` `[H, 4H]`. Output `[T, B, 6H]`: h | c | the gates'
//! pre-activations of every step (the backward needs c and the gates; the model reads h), or
//! `[T, B, H]`, h alone, when no gradient is to be computed (inference).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::f32_slice;
use super::lstm::{cell_backward, cell_forward};

/// The largest hidden size the CUDA kernels take: a block's threads cover 4H gates with at
/// most 1024 threads, and the backward's shared memory holds 40·H bytes per batch row.
const MAX_HIDDEN: usize = 1024;

/// Rows of the batch per CUDA block: more rows share each read of W_hhᵀ, fewer rows spread
/// the batch over more SMs. Batch rows never interact, so blocks never wait for each other.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn rows_per_block(batch: usize, hidden: usize, bytes_per_row_unit: usize) -> usize {
    let mut r = match batch {
        0..=16 => 1,
        17..=32 => 2,
        33..=64 => 4,
        _ => 8,
    };
    while r > 1 && bytes_per_row_unit * r * hidden > super::SHARED_BYTES {
        r /= 2;
    }
    r
}

/// Rows of W_hhᵀ the on-chip forward keeps in registers (`LSTM_REG_ROWS` in cuda/fused.cu);
/// the rest sit in shared memory.
#[cfg(feature = "cuda")]
const REGISTER_ROWS: usize = 64;

/// The blocking of the forward kernel that keeps W_hhᵀ on chip, where it fits: (batch rows
/// per block, shared bytes). One block per SM holds a whole copy, so rows per block grow only
/// when the batch outnumbers the SMs. `None` (the L2-reading kernel runs instead): a hidden
/// size outside 64..=128 or not a multiple of 8 (one thread per gate, whole warps of four
/// gates per unit), or more shared memory than the GPU allows a block.
#[cfg(feature = "cuda")]
fn resident_blocking(
    batch: usize,
    hidden: usize,
    limits: super::cuda::Limits,
) -> Option<(usize, usize)> {
    if !(REGISTER_ROWS..=128).contains(&hidden) || hidden % 8 != 0 {
        return None;
    }
    let r = [1, 2, 4]
        .into_iter()
        .find(|r| batch.div_ceil(*r) <= limits.sms)
        .unwrap_or(4);
    let shared = 4 * ((hidden - REGISTER_ROWS) * 4 * hidden + 2 * r * hidden);
    (shared <= limits.shared_optin).then_some((r, shared))
}

/// Whether [`lstm_layer`] runs the fused recurrence for this projection and weight: f32 on
/// CUDA (one kernel per layer), and on the CPU when training (one op per layer, a gemm call
/// per step on buffers reused across steps, and one backward op instead of a product, a gate
/// op and their autograd nodes per step). On the 2-core CPU the op made a training step 0.81×
/// the step-by-step path's time and inference 0.98–1.27× (one run each, issue 21), so
/// inference keeps the steps.
pub fn lstm_layer_is_fused(xproj: &Tensor, w_hh: &Tensor, hidden: usize) -> bool {
    let on_device = super::cuda_fused(xproj) && hidden <= MAX_HIDDEN;
    let training = xproj.track_op() || w_hh.track_op();
    let on_cpu =
        xproj.device().is_cpu() && xproj.dtype() == DType::F32 && training && cpu_sequence_on();
    w_hh.dtype() == DType::F32 && (on_device || on_cpu)
}

/// `BENCHPLAN_CPU_LSTM=steps` keeps CPU training on the step-by-step path (for A/B runs).
fn cpu_sequence_on() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !*OFF.get_or_init(|| std::env::var("BENCHPLAN_CPU_LSTM").is_ok_and(|v| v == "steps"))
}

/// The hidden states of every step, `[T, B, H]`, of one layer whose input projections are
/// `xproj` `[T, B, 4H]` and whose recurrent weight is `w_hh` `[4H, H]`; differentiable in
/// both. The caller checks [`lstm_layer_is_fused`] first.
pub fn lstm_layer(xproj: &Tensor, w_hh: &Tensor, hidden: usize) -> Result<Tensor> {
    let w_hh_t = w_hh.t()?.contiguous()?;
    // Without a gradient to compute, the op keeps only h: on the CPU, writing c and the gates
    // of every step (6× the bytes, fresh pages each call) made inference slower than the
    // step-by-step path (measured, issue 21); on CUDA, h alone is contiguous, which spares
    // the copies the next layer and the head would otherwise make.
    let for_backward = xproj.track_op() || w_hh.track_op();
    let out = xproj.contiguous()?.apply_op2(
        &w_hh_t,
        LstmSequence {
            hidden,
            for_backward,
        },
    )?;
    super::note_taken(if out.device().is_cuda() {
        "lstm-sequence (cuda)"
    } else {
        "lstm-sequence (cpu)"
    });
    out.narrow(2, 0, hidden)
}

/// The forward of one layer: see the module's header.
pub(super) struct LstmSequence {
    pub hidden: usize,
    /// Whether the output must hold what the backward reads (c and the gates); without it
    /// the output is h alone, `[T, B, H]` (on both devices).
    pub for_backward: bool,
}

impl CustomOp2 for LstmSequence {
    fn name(&self) -> &'static str {
        "benchplan-lstm-sequence"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xproj = f32_slice(s1, l1, self.name())?;
        let w_t = f32_slice(s2, l2, self.name())?;
        let (steps, batch, _) = l1.shape().dims3()?;
        let (h, g) = (self.hidden, 4 * self.hidden);
        let width = if self.for_backward { 6 * h } else { h };
        let mut out = vec![0f32; steps * batch * width];
        // The whole batch per step: gates = x_t + h_{t−1}·W_hhᵀ as one gemm into a buffer
        // reused across steps, then the gate arithmetic row by row.
        let (mut hs, mut cs) = (vec![0f32; batch * h], vec![0f32; batch * h]);
        let mut gates = vec![0f32; batch * g];
        // W_hh itself, read as W_hhᵀ through strides (see gemm_rows_by).
        let mut w = vec![0f32; g * h];
        for k in 0..h {
            for j in 0..g {
                w[j * h + k] = w_t[k * g + j];
            }
        }
        for t in 0..steps {
            gates.copy_from_slice(&xproj[t * batch * g..][..batch * g]);
            if t > 0 {
                let w_t_view = (w.as_slice(), 1, h as isize);
                super::linear::gemm_rows_by(&mut gates, &hs, w_t_view, (batch, h, g), true);
            }
            for b in 0..batch {
                let gate = &gates[b * g..][..g];
                let row = &mut out[(t * batch + b) * width..][..width];
                for k in 0..h {
                    let (pi, pf, pg, po) = (gate[k], gate[h + k], gate[2 * h + k], gate[3 * h + k]);
                    let (hk, c) = cell_forward(pi, pf, pg, po, cs[b * h + k]);
                    cs[b * h + k] = c;
                    hs[b * h + k] = hk;
                    row[k] = hk;
                }
                if self.for_backward {
                    row[h..2 * h].copy_from_slice(&cs[b * h..][..h]);
                    row[2 * h..].copy_from_slice(gate);
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((steps, batch, width))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let (steps, batch, _) = l1.shape().dims3()?;
        let xproj = cuda::view(s1, l1, self.name())?;
        let w_t = cuda::view(s2, l2, self.name())?;
        let dev = cuda::device(s1);
        let h = self.hidden;
        // Without a gradient to compute, h alone: contiguous, so the next layer and the head
        // read it without a copy.
        let width = if self.for_backward { 6 * h } else { h };
        let out = cuda::output(&dev, steps * batch * width)?;
        let (t, b, hh, w) = (steps as i32, batch as i32, h as i32, width as i32);
        let shape = Shape::from((steps, batch, width));
        if let Some((r, shared)) = resident_blocking(batch, h, cuda::limits(&dev)?) {
            let cfg = cuda::config(batch.div_ceil(r), 4 * h, shared);
            let name = format!("lstm_seq_fwd_resident_r{r}");
            cuda::launch_optin!(dev, &name, cfg, &xproj, &w_t, &out, &t, &b, &hh, &w)?;
            return Ok((cuda::storage(out, &dev), shape));
        }
        let r = rows_per_block(batch, h, 24);
        let threads = (4 * h).div_ceil(32).clamp(1, 32) * 32;
        let cfg = cuda::config(batch.div_ceil(r), threads, 24 * r * h);
        cuda::launch!(
            dev,
            &format!("lstm_seq_fwd_r{r}"),
            cfg,
            &xproj,
            &w_t,
            &out,
            &t,
            &b,
            &hh,
            &w
        )?;
        Ok((cuda::storage(out, &dev), shape))
    }

    fn bwd(
        &self,
        xproj: &Tensor,
        w_hh_t: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let h = self.hidden;
        let (steps, batch, _) = res.dims3()?;
        let w_hh = w_hh_t.t()?.contiguous()?;
        let dgates = res.apply_op3_no_bwd(
            &w_hh,
            &grad_res.contiguous()?,
            &LstmSequenceBackward { hidden: h },
        )?;
        // ∂L/∂W_hhᵀ = Σ_t h_{t−1}ᵀ · dgates_t over the steps that had a recurrent product.
        let d_w_hh_t = if steps > 1 {
            let h_prev = res
                .narrow(0, 0, steps - 1)?
                .narrow(2, 0, h)?
                .contiguous()?
                .reshape(((steps - 1) * batch, h))?;
            let dg = dgates
                .narrow(0, 1, steps - 1)?
                .reshape(((steps - 1) * batch, 4 * h))?;
            h_prev.t()?.matmul(&dg)?
        } else {
            w_hh_t.zeros_like()?
        };
        let _ = xproj;
        Ok((Some(dgates), Some(d_w_hh_t)))
    }
}

/// ∂L/∂(gate pre-activations) of every step, from the forward's output, `W_hh` `[4H, H]` and
/// ∂L/∂output: the recurrence run backwards.
struct LstmSequenceBackward {
    hidden: usize,
}

impl CustomOp3 for LstmSequenceBackward {
    fn name(&self) -> &'static str {
        "benchplan-lstm-sequence-backward"
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
        let fwd = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let grad = f32_slice(s3, l3, self.name())?;
        let (steps, batch, _) = l1.shape().dims3()?;
        let (h, g) = (self.hidden, 4 * self.hidden);
        let mut dgates = vec![0f32; steps * batch * g];
        // ∂L/∂h and ∂L/∂c arriving at step t from step t + 1, for the whole batch.
        let (mut dh_next, mut dc_next) = (vec![0f32; batch * h], vec![0f32; batch * h]);
        for t in (0..steps).rev() {
            let dg_t = &mut dgates[t * batch * g..][..batch * g];
            for b in 0..batch {
                let at = t * batch + b;
                let row = &fwd[at * 6 * h..][..6 * h];
                let grow = &grad[at * 6 * h..][..6 * h];
                let dg = &mut dg_t[b * g..][..g];
                for k in 0..h {
                    let c_prev = if t > 0 {
                        fwd[((t - 1) * batch + b) * 6 * h + h + k]
                    } else {
                        0.0
                    };
                    let pre = [
                        row[2 * h + k],
                        row[3 * h + k],
                        row[4 * h + k],
                        row[5 * h + k],
                    ];
                    let dh = grow[k] + dh_next[b * h + k];
                    let dc = grow[h + k] + dc_next[b * h + k];
                    let (gates, dc_prev) = cell_backward(pre, c_prev, dh, dc);
                    for (q, d) in gates.into_iter().enumerate() {
                        dg[q * h + k] = d;
                    }
                    dc_next[b * h + k] = dc_prev;
                }
            }
            if t > 0 {
                // ∂L/∂h_{t−1} = dgates_t · W_hh, the whole batch in one product.
                super::linear::gemm_rows(&mut dh_next, dg_t, w, (batch, g, h), false);
            }
        }
        Ok((CpuStorage::F32(dgates), Shape::from((steps, batch, g))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let (steps, batch, _) = l1.shape().dims3()?;
        let fwd = cuda::view(s1, l1, self.name())?;
        let w = cuda::view(s2, l2, self.name())?;
        let grad = cuda::view(s3, l3, self.name())?;
        let dev = cuda::device(s1);
        let h = self.hidden;
        let out = cuda::output(&dev, steps * batch * 4 * h)?;
        let r = rows_per_block(batch, h, 40);
        let threads = (4 * h).div_ceil(32).clamp(1, 32) * 32;
        let cfg = cuda::config(batch.div_ceil(r), threads, 40 * r * h);
        let (t, b, hh) = (steps as i32, batch as i32, h as i32);
        cuda::launch!(
            dev,
            &format!("lstm_seq_bwd_r{r}"),
            cfg,
            &fwd,
            &w,
            &grad,
            &out,
            &t,
            &b,
            &hh
        )?;
        Ok((cuda::storage(out, &dev), Shape::from((steps, batch, 4 * h))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The same layer from candle's ops, one step at a time: what the fused op must equal.
    fn composed(xproj: &Tensor, w_hh: &Tensor, hidden: usize) -> Tensor {
        let steps = xproj.dim(0).unwrap();
        let mut h: Option<Tensor> = None;
        let mut c = xproj
            .get(0)
            .unwrap()
            .narrow(1, 0, hidden)
            .unwrap()
            .zeros_like()
            .unwrap();
        let mut hs = Vec::new();
        for t in 0..steps {
            let x = xproj.get(t).unwrap();
            let gates = match &h {
                Some(h) => (x + h.matmul(&w_hh.t().unwrap()).unwrap()).unwrap(),
                None => x,
            };
            let (hn, cn) = super::super::lstm_cell_composed(&gates, &c, hidden).unwrap();
            hs.push(hn.clone());
            h = Some(hn);
            c = cn;
        }
        Tensor::stack(&hs, 0).unwrap()
    }

    #[test]
    fn the_sequence_op_matches_the_composed_recurrence_and_its_gradients() {
        let (steps, batch, hidden) = (5, 3, 4);
        let values = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * scale)
                .collect()
        };
        let dev = Device::Cpu;
        let xproj = Var::from_vec(
            values(steps * batch * 4 * hidden, 0.09),
            (steps, batch, 4 * hidden),
            &dev,
        )
        .unwrap();
        let w_hh = Var::from_vec(
            values(4 * hidden * hidden, 0.05),
            (4 * hidden, hidden),
            &dev,
        )
        .unwrap();
        let weights = Tensor::from_vec(
            values(steps * batch * hidden, 0.1),
            (steps, batch, hidden),
            &dev,
        )
        .unwrap();
        let loss = |hs: &Tensor| (hs * &weights).unwrap().sum_all().unwrap();
        let fused = lstm_layer(xproj.as_tensor(), w_hh.as_tensor(), hidden).unwrap();
        let reference = composed(xproj.as_tensor(), w_hh.as_tensor(), hidden);
        let close = |a: &Tensor, b: &Tensor| {
            let d = super::super::test_util::max_abs_diff(a, b);
            assert!(d < 1e-5, "{d}");
        };
        close(&fused, &reference);
        let g1 = loss(&fused).backward().unwrap();
        let g2 = loss(&reference).backward().unwrap();
        close(g1.get(&xproj).unwrap(), g2.get(&xproj).unwrap());
        close(g1.get(&w_hh).unwrap(), g2.get(&w_hh).unwrap());
    }

    #[test]
    fn without_a_gradient_the_cpu_op_keeps_only_h_and_the_same_values() {
        let (steps, batch, hidden) = (4, 2, 3);
        let values = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 29 % 17) as f32 - 8.0) * scale)
                .collect()
        };
        let dev = Device::Cpu;
        let xproj = Tensor::from_vec(
            values(steps * batch * 4 * hidden, 0.1),
            (steps, batch, 4 * hidden),
            &dev,
        )
        .unwrap();
        let w_hh = Tensor::from_vec(
            values(4 * hidden * hidden, 0.07),
            (4 * hidden, hidden),
            &dev,
        )
        .unwrap();
        assert!(
            !lstm_layer_is_fused(&xproj, &w_hh, hidden),
            "inference keeps the steps"
        );
        let plain = lstm_layer(&xproj, &w_hh, hidden).unwrap();
        assert_eq!(plain.dims(), &[steps, batch, hidden]);
        assert!(plain.is_contiguous(), "only h was written");
        let d = super::super::test_util::max_abs_diff(&plain, &composed(&xproj, &w_hh, hidden));
        assert!(d < 1e-6, "{d}");
    }

    #[test]
    fn rows_per_block_keeps_shared_memory_under_the_default_limit() {
        assert_eq!(rows_per_block(1, 128, 40), 1);
        assert_eq!(rows_per_block(32, 128, 40), 2);
        assert_eq!(rows_per_block(128, 128, 40), 8);
        assert!(40 * rows_per_block(128, 1024, 40) * 1024 <= super::super::SHARED_BYTES);
    }
}
