//! Layer normalization over the last dimension as one op with its backward (candle's fused
//! `layer_norm` has none, so training composed it from ~8 ops). On CUDA one warp per row
//! (`layer_norm_fwd`, `layer_norm_bwd` in cuda/fused.cu); the `cpu_fwd`s are the same
//! arithmetic in Rust, the reference the tests hold the composed op to.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::f32_slice;

/// Whether [`layer_norm`] runs fused for `x`: f32 on CUDA.
pub fn layer_norm_is_fused(x: &Tensor) -> bool {
    super::cuda_fused(x) && x.dtype() == DType::F32
}

/// (x − mean) / √(var + eps) · weight + bias over the last dimension, differentiable in all
/// three; the caller checks [`layer_norm_is_fused`] first.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    let out = x.contiguous()?.apply_op3(weight, bias, LayerNorm { eps })?;
    super::note_taken(if out.device().is_cuda() {
        "layer-norm (cuda)"
    } else {
        "layer-norm (cpu)"
    });
    Ok(out)
}

struct LayerNorm {
    eps: f32,
}

/// Mean and 1/σ of one row.
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "benchplan-layer-norm"
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
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let b = f32_slice(s3, l3, self.name())?;
        let n = w.len();
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let (mean, rstd) = moments(xr, self.eps);
            for c in 0..n {
                yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
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
        let x = cuda::view(s1, l1, self.name())?;
        let w = cuda::view(s2, l2, self.name())?;
        let b = cuda::view(s3, l3, self.name())?;
        let dev = cuda::device(s1);
        let n = l2.shape().elem_count();
        let rows = l1.shape().elem_count() / n;
        let y = cuda::output(&dev, rows * n)?;
        // One warp per row, eight rows to a block.
        let cfg = cuda::config(rows.div_ceil(8), 256, 0);
        let (r, ni) = (rows as i32, n as i32);
        cuda::launch!(
            dev,
            "layer_norm_fwd",
            cfg,
            &x,
            &w,
            &b,
            &y,
            &r,
            &ni,
            &self.eps
        )?;
        Ok((cuda::storage(y, &dev), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = weight.elem_count();
        let grad = grad.contiguous()?;
        // [2, rows·n]: ∂L/∂x, then dy ⊙ x̂ (summed over rows into ∂L/∂weight).
        let both = x.apply_op3_no_bwd(weight, &grad, &LayerNormBackward { eps: self.eps })?;
        let dx = both.get(0)?.reshape(x.shape())?;
        let rows = x.elem_count() / n;
        let dw = both.get(1)?.reshape((rows, n))?.sum(0)?;
        let db = grad.reshape((rows, n))?.sum(0)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// From x, the weight and ∂L/∂y to `[2, rows·n]` = (∂L/∂x | dy ⊙ x̂), mean and 1/σ recomputed.
struct LayerNormBackward {
    eps: f32,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "benchplan-layer-norm-backward"
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
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let dy = f32_slice(s3, l3, self.name())?;
        let n = w.len();
        let total = x.len();
        let mut out = vec![0f32; 2 * total];
        let (dx, dyx) = out.split_at_mut(total);
        for (row, (xr, gr)) in x.chunks_exact(n).zip(dy.chunks_exact(n)).enumerate() {
            let (mean, rstd) = moments(xr, self.eps);
            let xh: Vec<f32> = xr.iter().map(|v| (v - mean) * rstd).collect();
            let sg = (0..n).map(|c| gr[c] * w[c]).sum::<f32>() / n as f32;
            let sgx = (0..n).map(|c| gr[c] * w[c] * xh[c]).sum::<f32>() / n as f32;
            for c in 0..n {
                dx[row * n + c] = rstd * (gr[c] * w[c] - sg - xh[c] * sgx);
                dyx[row * n + c] = gr[c] * xh[c];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((2, total))))
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
        let x = cuda::view(s1, l1, self.name())?;
        let w = cuda::view(s2, l2, self.name())?;
        let dy = cuda::view(s3, l3, self.name())?;
        let dev = cuda::device(s1);
        let n = l2.shape().elem_count();
        let total = l1.shape().elem_count();
        let rows = total / n;
        let out = cuda::output(&dev, 2 * total)?;
        {
            let (dx, dyx) = (out.slice(0..total), out.slice(total..2 * total));
            let cfg = cuda::config(rows.div_ceil(8), 256, 0);
            let (r, ni) = (rows as i32, n as i32);
            cuda::launch!(
                dev,
                "layer_norm_bwd",
                cfg,
                &x,
                &w,
                &dy,
                &dx,
                &dyx,
                &r,
                &ni,
                &self.eps
            )?;
        }
        Ok((cuda::storage(out, &dev), Shape::from((2, total))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_fused_layer_norm_matches_the_composed_one_and_its_gradients() {
        let (rows, n) = (6, 8);
        let dev = Device::Cpu;
        let vals = |k: usize, s: f32| -> Vec<f32> {
            (0..k).map(|i| ((i * 37 % 23) as f32 - 11.0) * s).collect()
        };
        let x = Var::from_vec(vals(rows * n, 0.13), (2, 3, n), &dev).unwrap();
        let w = Var::from_vec(vals(n, 0.05).iter().map(|v| 1.0 + v).collect(), n, &dev).unwrap();
        let b = Var::from_vec(vals(n, 0.02), n, &dev).unwrap();
        let up = Tensor::from_vec(vals(rows * n, 0.3), (2, 3, n), &dev).unwrap();
        let loss = |y: &Tensor| (y * &up).unwrap().sum_all().unwrap();
        let fused = layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5).unwrap();
        let reference =
            candle_nn::ops::layer_norm_slow(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5)
                .unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let d = super::super::test_util::max_abs_diff(a, b);
            assert!(d < 1e-4, "{d}");
        };
        close(&fused, &reference);
        let g1 = loss(&fused).backward().unwrap();
        let g2 = loss(&reference).backward().unwrap();
        for v in [&x, &w, &b] {
            close(g1.get(v).unwrap(), g2.get(v).unwrap());
        }
    }
}
