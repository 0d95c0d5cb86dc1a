//! Fused CPU kernels where candle's CPU backend is slow: element-wise ops there run on one
//! thread, one pass per op, and `gelu_erf` calls libm's scalar `erff` per element. On a
//! 16-core machine that made an MLP step ~24× slower than PyTorch (issue 7), with the matrix
//! products a small part of it.
//!
//! - [`gelu`]: exact (erf) GELU as one parallel pass with a vectorizable erf, and its
//!   derivative as one parallel pass in the backward, so training through it stays correct
//!   (a test compares its gradients with candle's `gelu_erf`).
//! - [`adamw_update`]: the AdamW update of one parameter as three fused parallel in-place
//!   passes instead of a dozen single-threaded ones with temporaries.
//!
//! Only contiguous f32 tensors on the CPU take these paths; every other case (GPUs, half
//! precision) goes through candle's own ops, which are fast there.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, InplaceOp2, InplaceOp3, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs little next to the work.
const CHUNK: usize = 16 * 1024;

/// Runs `f` over matching chunks of `out` and `input`: on rayon's pool when there is more than
/// one chunk, inline otherwise. Waking the pool costs microseconds, which measured 1.6× slower
/// than candle's single-threaded op for batch-1 inference on 16 cores (55b2723).
/// `f` gets a chunk of `out` and the index of its first element, to read inputs alongside.
fn chunked(out: &mut [f32], f: impl Fn(&mut [f32], usize) + Sync) {
    if out.len() <= CHUNK {
        f(out, 0);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, o)| f(o, i * CHUNK));
    }
}

/// erf for f32 as a rational function of x (Eigen's and XLA's `erf` for float): no branch, no
/// `exp`, so loops over it vectorize. Absolute error below 1e-6 on all of f32 (tested).
/// Plain `a * b + c`, not `mul_add`: without FMA in the compile-time target (x86-64's
/// baseline lacks it) `mul_add` is a call to libm's `fmaf` per term, which profiled as most
/// of the GELU's time.
#[inline(always)]
pub fn erf_fast(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_600_1e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

#[inline(always)]
fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_fast(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// d/dx [x·Φ(x)] = Φ(x) + x·φ(x).
#[inline(always)]
fn gelu_grad_f32(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let cdf = 0.5 * (1.0 + erf_fast(x * std::f32::consts::FRAC_1_SQRT_2));
    cdf + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// The contiguous f32 elements of a CPU storage, or an error naming `op`.
fn f32_slice<'s>(s: &'s CpuStorage, l: &Layout, op: &str) -> Result<&'s [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

fn f32_slice_mut<'s>(s: &'s mut CpuStorage, l: &Layout, op: &str) -> Result<&'s mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

fn takes_fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "benchplan-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let mut out = vec![0f32; x.len()];
        chunked(&mut out, |o, at| {
            for (o, &x) in o.iter_mut().zip(&x[at..]) {
                *o = gelu_f32(x);
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&grad, &GeluBackward)?))
    }
}

/// grad_x = grad_y · gelu'(x), in one pass.
struct GeluBackward;

impl CustomOp2 for GeluBackward {
    fn name(&self) -> &'static str {
        "benchplan-gelu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let mut out = vec![0f32; x.len()];
        chunked(&mut out, |o, at| {
            for ((o, &x), &g) in o.iter_mut().zip(&x[at..]).zip(&g[at..]) {
                *o = g * gelu_grad_f32(x);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Exact GELU, x·Φ(x), with a gradient: fused and parallel for contiguous f32 CPU tensors,
/// candle's `gelu_erf` otherwise.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if takes_fast_path(x) {
        x.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
}

/// The constants of one AdamW step.
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// 1 − β₁ᵗ and 1 − β₂ᵗ: the bias corrections of step t.
    pub correction1: f32,
    pub correction2: f32,
}

/// m ← β·m + (1 − β)·g, or with `square`, v ← β·v + (1 − β)·g².
struct Moment {
    beta: f32,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "benchplan-adamw-moment"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let g = f32_slice(s2, l2, self.name())?;
        let m = f32_slice_mut(s1, l1, self.name())?;
        let (b, square) = (self.beta, self.square);
        chunked(m, |m, at| {
            for (m, &g) in m.iter_mut().zip(&g[at..]) {
                let g = if square { g * g } else { g };
                *m = b * *m + (1.0 - b) * g;
            }
        });
        Ok(())
    }
}

/// p ← p·(1 − lr·wd) − lr·m̂ / (√v̂ + ε).
struct Apply(AdamWStep);

impl InplaceOp3 for Apply {
    fn name(&self) -> &'static str {
        "benchplan-adamw-apply"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let m = f32_slice(s2, l2, self.name())?;
        let v = f32_slice(s3, l3, self.name())?;
        let p = f32_slice_mut(s1, l1, self.name())?;
        let s = self.0;
        let decay = 1.0 - s.lr * s.weight_decay;
        chunked(p, |p, at| {
            for ((p, &m), &v) in p.iter_mut().zip(&m[at..]).zip(&v[at..]) {
                let m_hat = m / s.correction1;
                let v_hat = v / s.correction2;
                *p = *p * decay - s.lr * m_hat / (v_hat.sqrt() + s.eps);
            }
        });
        Ok(())
    }
}

/// Updates `param`, `m` and `v` in place from `grad` when all four are contiguous f32 CPU
/// tensors of one shape; returns `false` (touching nothing) otherwise, for the caller's
/// general path.
pub fn adamw_update(
    param: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad: &Tensor,
    step: AdamWStep,
) -> Result<bool> {
    let all = [param, m, v, grad];
    if !all
        .iter()
        .all(|t| takes_fast_path(t) && t.shape() == param.shape())
    {
        return Ok(false);
    }
    m.inplace_op2(
        grad,
        &Moment {
            beta: step.beta1,
            square: false,
        },
    )?;
    v.inplace_op2(
        grad,
        &Moment {
            beta: step.beta2,
            square: true,
        },
    )?;
    param.inplace_op3(m, v, &Apply(step))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn erf_fast_is_within_a_millionth_of_libm() {
        let worst = (-600_000..=600_000)
            .map(|i| i as f32 * 1e-5)
            .map(|x| (erf_fast(x) - candle_core::cpu::erf::erf_f32(x)).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "{worst}");
        assert!((erf_fast(100.0) - 1.0).abs() < 1e-6);
        assert!((erf_fast(-100.0) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn gelu_and_its_gradient_match_candles_gelu_erf() {
        let values: Vec<f32> = (0..70_000).map(|i| (i as f32 - 35_000.0) * 2e-4).collect();
        let x = Var::from_vec(values, 70_000, &Device::Cpu).unwrap();
        let ours = gelu(x.as_tensor()).unwrap();
        let theirs = x.as_tensor().gelu_erf().unwrap();
        let max_diff = super::test_util::max_abs_diff;
        assert!(max_diff(&ours, &theirs) < 1e-5);
        // A weighted sum, so each element's gradient is scaled differently.
        let w = Tensor::arange(0f32, 70_000.0, &Device::Cpu).unwrap() * 1e-4;
        let w = w.unwrap();
        let g_ours = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = (theirs * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (a, b) = (
            g_ours.get(x.as_tensor()).unwrap(),
            g_theirs.get(x.as_tensor()).unwrap(),
        );
        assert!(max_diff(a, b) < 1e-5, "{}", max_diff(a, b));
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    // 1 − 2 / (e^{2x} + 1): one `exp`, exact in the limits (x → ±∞ gives ±1).
    1.0 - 2.0 / ((2.0 * x).exp() + 1.0)
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
                let i = sigmoid(g[j]);
                let f = sigmoid(g[hs + j]);
                let gg = tanh_f32(g[2 * hs + j]);
                let o = sigmoid(g[3 * hs + j]);
                let c = f * c_prev[b * hs + j] + i * gg;
                c_out[b * hs + j] = c;
                h_out[b * hs + j] = o * tanh_f32(c);
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
                let i = sigmoid(g[j]);
                let f = sigmoid(g[hs + j]);
                let gg = tanh_f32(g[2 * hs + j]);
                let o = sigmoid(g[3 * hs + j]);
                let c = f * c_prev[k] + i * gg;
                let tc = tanh_f32(c);
                // ∂L/∂c through both c's own gradient and h = o·tanh(c).
                let dc = gc[k] + gh[k] * o * (1.0 - tc * tc);
                row[j] = dc * gg * i * (1.0 - i);
                row[hs + j] = dc * c_prev[k] * f * (1.0 - f);
                row[2 * hs + j] = dc * i * (1.0 - gg * gg);
                row[3 * hs + j] = gh[k] * tc * o * (1.0 - o);
                row[4 * hs + j] = dc * f;
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
            let d = super::test_util::max_abs_diff(a, b);
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

/// Multiply-adds below which a matrix product runs on one thread: candle hands every CPU
/// product to gemm with all threads, and waking them cost more than the product itself for
/// the LSTM's per-step `h·W_hhᵀ` (32×128×512: 22.6 ms per forward single-threaded against
/// 31.1 ms with two threads, on the 2-core machine).
const PARALLEL_MACS: usize = 1 << 22;

/// A strided f32 matrix inside a CPU storage: its elements, and row and column strides.
fn matrix<'s>(s: &'s CpuStorage, l: &Layout, op: &str) -> Result<(&'s [f32], isize, isize)> {
    match (s, l.dims().len()) {
        (CpuStorage::F32(v), 2) => Ok((
            &v[l.start_offset()..],
            l.stride()[0] as isize,
            l.stride()[1] as isize,
        )),
        _ => candle_core::bail!("{op}: needs a 2-d f32 tensor"),
    }
}

/// C = A·B (+ bias, broadcast over rows) with gemm, threaded only when large enough.
fn gemm_into(
    (a, a_rs, a_cs): (&[f32], isize, isize),
    (b, b_rs, b_cs): (&[f32], isize, isize),
    (m, k, n): (usize, usize, usize),
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // The addend is a row broadcast over the rows (a bias, n values) or a whole m×n matrix.
    let mut c = vec![0f32; m * n];
    match bias {
        Some(add) if add.len() == m * n => c.copy_from_slice(add),
        Some(row) => c
            .chunks_exact_mut(n)
            .for_each(|r| r.copy_from_slice(&row[..n])),
        None => {}
    }
    let parallelism = if m * n * k >= PARALLEL_MACS {
        gemm::Parallelism::Rayon(candle_core::utils::get_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the pointers come from slices that hold every element the strides and sizes
    // reach (checked by candle's layouts); `c` is m·n contiguous, row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            bias.is_some(),
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    c
}

/// A·B for 2-d f32 CPU tensors, any strides; no gradient (used inside backward passes).
struct Gemm;

impl CustomOp2 for Gemm {
    fn name(&self) -> &'static str {
        "benchplan-gemm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (k2, n) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("{}: inner dimensions {k} and {k2} differ", self.name());
        }
        let c = gemm_into(
            matrix(s1, l1, self.name())?,
            matrix(s2, l2, self.name())?,
            (m, k, n),
            None,
        );
        Ok((CpuStorage::F32(c), Shape::from((m, n))))
    }
}

/// y = x·Wᵀ + b for 2-d `x` `[rows, in]`, `w` `[out, in]`, and `b` either `[out]` (a bias)
/// or `[rows, out]` (a matrix to add, such as an LSTM step's input projection), with its
/// backward.
struct LinearOp;

impl candle_core::CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "benchplan-linear"
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
        let (rows, k) = l1.shape().dims2()?;
        let (out, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("{}: input has {k} features, weight {k2}", self.name());
        }
        let (w, w_rs, w_cs) = matrix(s2, l2, self.name())?;
        let addend = f32_slice(s3, l3, self.name())?;
        if addend.len() != out && addend.len() != rows * out {
            candle_core::bail!(
                "{}: the addend fits neither [{out}] nor [{rows}, {out}]",
                self.name()
            );
        }
        // Wᵀ is W with its strides swapped.
        let c = gemm_into(
            matrix(s1, l1, self.name())?,
            (w, w_cs, w_rs),
            (rows, k, out),
            Some(addend),
        );
        Ok((CpuStorage::F32(c), Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gx = grad.apply_op2_no_bwd(w, &Gemm)?;
        let gw = grad.t()?.apply_op2_no_bwd(x, &Gemm)?;
        let gb = if b.rank() == 1 {
            grad.sum(0)?
        } else {
            grad.clone()
        };
        Ok((Some(gx), Some(gw), Some(gb)))
    }
}

/// `x·Wᵀ + a` for 2-d `x` and a matrix `a` of the result's shape: one gemm call on the CPU
/// in f32 (`a` is where the product accumulates), candle's ops elsewhere.
pub fn linear_add(x: &Tensor, w: &Tensor, a: &Tensor) -> Result<Tensor> {
    let fast = [x, w, a]
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
        && x.rank() == 2
        && w.rank() == 2
        && a.is_contiguous();
    if fast {
        x.apply_op3(w, a, LinearOp)
    } else {
        a + x.matmul(&w.t()?)?
    }
}

/// `x·Wᵀ + b` over the last dimension of `x`: on the CPU in f32 one gemm call with the bias
/// folded in, single-threaded for small products; elsewhere candle's matmul and add.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let fast = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && w.rank() == 2
        && b.is_none_or(|b| b.dtype() == DType::F32 && b.is_contiguous());
    if !fast {
        let y = x.broadcast_matmul(&w.t()?)?;
        return match b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        };
    }
    let dims = x.dims().to_vec();
    let features = *dims.last().unwrap_or(&0);
    let rows = x.elem_count() / features.max(1);
    let x2 = if x.rank() == 2 {
        x.clone()
    } else {
        x.contiguous()?.reshape((rows, features))?
    };
    let zeros;
    let bias = match b {
        Some(b) => b,
        None => {
            zeros = Tensor::zeros(w.dim(0)?, DType::F32, w.device())?;
            &zeros
        }
    };
    let y = x2.apply_op3(w, bias, LinearOp)?;
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = w.dim(0)?;
    }
    y.reshape(out_dims)
}

#[cfg(test)]
mod linear_tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn linear_matches_candles_matmul_and_gradients_for_small_and_large_products() {
        // 4×6×3 runs on one thread, 200×300×100 (6M multiply-adds) on the pool.
        for (rows, inp, out) in [(4, 6, 3), (200, 300, 100)] {
            let v = |n: usize, s: f32| -> Vec<f32> {
                (0..n).map(|i| ((i * 31 % 17) as f32 - 8.0) * s).collect()
            };
            let x = Var::from_vec(v(2 * rows * inp, 0.1), (2, rows, inp), &Device::Cpu).unwrap();
            let w = Var::from_vec(v(out * inp, 0.05), (out, inp), &Device::Cpu).unwrap();
            let b = Var::from_vec(v(out, 0.2), out, &Device::Cpu).unwrap();
            let ours = linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
            let theirs = x
                .as_tensor()
                .broadcast_matmul(&w.as_tensor().t().unwrap())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            assert_eq!(ours.dims(), &[2, rows, out]);
            let close = |a: &Tensor, b: &Tensor| {
                let d = super::test_util::max_abs_diff(a, b);
                assert!(d < 1e-3, "{rows}×{inp}×{out}: {d}");
            };
            close(&ours, &theirs);
            let weights =
                Tensor::from_vec(v(2 * rows * out, 0.3), (2, rows, out), &Device::Cpu).unwrap();
            let g1 = (ours * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (theirs * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for var in [&x, &w, &b] {
                close(
                    g1.get(var.as_tensor()).unwrap(),
                    g2.get(var.as_tensor()).unwrap(),
                );
            }
        }
    }

    #[test]
    fn linear_add_matches_the_composed_sum_and_its_gradients() {
        let v = |n: usize, s: f32| -> Vec<f32> {
            (0..n).map(|i| ((i * 13 % 11) as f32 - 5.0) * s).collect()
        };
        let x = Var::from_vec(v(4 * 6, 0.1), (4, 6), &Device::Cpu).unwrap();
        let w = Var::from_vec(v(8 * 6, 0.05), (8, 6), &Device::Cpu).unwrap();
        let a = Var::from_vec(v(4 * 8, 0.2), (4, 8), &Device::Cpu).unwrap();
        let ours = linear_add(x.as_tensor(), w.as_tensor(), a.as_tensor()).unwrap();
        let theirs =
            (a.as_tensor() + x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap()).unwrap();
        let weights = Tensor::from_vec(v(32, 0.3), (4, 8), &Device::Cpu).unwrap();
        let g1 = (&ours * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (&theirs * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let max_diff = super::test_util::max_abs_diff;
        assert!(max_diff(&ours, &theirs) < 1e-5);
        for var in [&x, &w, &a] {
            let d = max_diff(
                g1.get(var.as_tensor()).unwrap(),
                g2.get(var.as_tensor()).unwrap(),
            );
            assert!(d < 1e-5, "{d}");
        }
    }
}

/// Helpers shared by the tests of this module.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::Tensor;

    /// The largest absolute difference between two tensors of one shape.
    pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }
}
