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
#[inline(always)]
pub fn erf_fast(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_600_1e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329e-3);
    q = x2.mul_add(q, -1.426_474e-2);
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
        let max_diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
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
