//! Exact (erf) GELU as one parallel pass, with its derivative as one pass in the backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::{chunked, f32_slice, takes_fast_path};

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
pub(super) fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_fast(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// d/dx [x·Φ(x)] = Φ(x) + x·φ(x).
#[inline(always)]
pub(super) fn gelu_grad_f32(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let cdf = 0.5 * (1.0 + erf_fast(x * std::f32::consts::FRAC_1_SQRT_2));
    cdf + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
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

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let x = cuda::view(s, l, self.name())?;
        let dev = cuda::device(s);
        let n = l.shape().elem_count();
        let y = cuda::output(&dev, n)?;
        let ni = n as i32;
        cuda::launch!(dev, "gelu_fwd", cuda::elementwise(n), &x, &y, &ni)?;
        Ok((cuda::storage(y, &dev), l.shape().clone()))
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

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let x = cuda::view(s1, l1, self.name())?;
        let g = cuda::view(s2, l2, self.name())?;
        let dev = cuda::device(s1);
        let n = l1.shape().elem_count();
        let dx = cuda::output(&dev, n)?;
        let ni = n as i32;
        cuda::launch!(dev, "gelu_bwd", cuda::elementwise(n), &x, &g, &dx, &ni)?;
        Ok((cuda::storage(dx, &dev), l1.shape().clone()))
    }
}

/// Exact GELU, x·Φ(x), with a gradient: fused and parallel for contiguous f32 CPU tensors,
/// one kernel each way on CUDA (f32), candle's `gelu_erf` otherwise.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if takes_fast_path(x) {
        super::note_taken("gelu (cpu)");
        x.apply_op1(Gelu)
    } else if super::cuda_fused(x) {
        super::note_taken("gelu (cuda)");
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
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
        let max_diff = super::super::test_util::max_abs_diff;
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
