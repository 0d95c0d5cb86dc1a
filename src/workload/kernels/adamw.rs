//! The AdamW update of one parameter as three fused, parallel, in-place passes.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};

use super::{chunked, f32_slice, f32_slice_mut, takes_fast_path};

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

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        use super::cuda;
        let dev = cuda::device(s2);
        let g = cuda::view(s2, l2, self.name())?;
        let n = l1.shape().elem_count();
        let mut m = cuda::view_mut(s1, l1, self.name())?;
        let (ni, square) = (n as i32, self.square as i32);
        cuda::launch!(
            dev,
            "adamw_moment",
            cuda::elementwise(n),
            &mut m,
            &g,
            &ni,
            &self.beta,
            &square
        )
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

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<()> {
        use super::cuda;
        let dev = cuda::device(s2);
        let m = cuda::view(s2, l2, self.name())?;
        let v = cuda::view(s3, l3, self.name())?;
        let n = l1.shape().elem_count();
        let mut p = cuda::view_mut(s1, l1, self.name())?;
        let s = self.0;
        let (ni, decay) = (n as i32, 1.0 - s.lr * s.weight_decay);
        cuda::launch!(
            dev,
            "adamw_apply",
            cuda::elementwise(n),
            &mut p,
            &m,
            &v,
            &ni,
            &s.lr,
            &decay,
            &s.eps,
            &s.correction1,
            &s.correction2
        )
    }
}

/// Updates `param`, `m` and `v` in place from `grad` when all four are contiguous f32 tensors
/// of one shape on the CPU, or on CUDA with benchplan's kernels on; returns `false` (touching
/// nothing) otherwise, for the caller's general path.
pub fn adamw_update(
    param: &Tensor,
    m: &Tensor,
    v: &Tensor,
    grad: &Tensor,
    step: AdamWStep,
) -> Result<bool> {
    let all = [param, m, v, grad];
    if !all.iter().all(|t| {
        (takes_fast_path(t) || super::cuda_fused(t) && t.is_contiguous())
            && t.shape() == param.shape()
    }) {
        return Ok(false);
    }
    super::note_taken(if param.device().is_cuda() {
        "adamw (cuda)"
    } else {
        "adamw (cpu)"
    });
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
