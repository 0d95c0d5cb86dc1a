//! Multi-head self-attention as one op with its backward: from the in-projection's output
//! `qkv` `[B, T, 3D]` (q | k | v, heads of `D / heads` columns each, as PyTorch's
//! `nn.MultiheadAttention`) to the context `[B, T, D]`, softmax(q·kᵀ·scale)·v per head. On CUDA
//! one block per (batch row, head) holds the head's whole score matrix in shared memory
//! (`attention_fwd`, `attention_bwd` in cuda/fused.cu); candle's ops take about ten kernels
//! and three copies for the same. The `cpu_fwd`s are the same arithmetic in Rust, the
//! reference the tests hold the composed ops to.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};

use super::f32_slice;

/// Threads per CUDA block: eight warps share a head's rows.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
const THREADS: usize = 256;

/// Shared memory of the backward (the larger of the two): q, k, v and ∂L/∂context of one head
/// (rows padded by one float against bank conflicts) and its score matrix.
fn backward_shared_bytes(steps: usize, head_dim: usize) -> usize {
    4 * (4 * steps * (head_dim + 1) + steps * steps)
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn forward_shared_bytes(steps: usize, head_dim: usize) -> usize {
    4 * (3 * steps * (head_dim + 1) + steps * steps)
}

/// Whether [`attention`] runs fused for `qkv` `[B, T, 3D]` with `heads` heads: f32 on CUDA,
/// and one head's working set fits a block's shared memory (T = 60, D = 128, 4 heads: 46 KB).
pub fn attention_is_fused(qkv: &Tensor, heads: usize) -> bool {
    let Ok((_, steps, three_d)) = qkv.dims3() else {
        return false;
    };
    super::cuda_fused(qkv)
        && qkv.dtype() == DType::F32
        && three_d % (3 * heads) == 0
        && backward_shared_bytes(steps, three_d / 3 / heads) <= super::SHARED_BYTES
}

/// The attention context `[B, T, D]` of `qkv` `[B, T, 3D]`, differentiable; the caller checks
/// [`attention_is_fused`] first.
pub fn attention(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    let out = qkv.contiguous()?.apply_op1(Attention { heads })?;
    super::note_taken(if out.device().is_cuda() {
        "attention (cuda)"
    } else {
        "attention (cpu)"
    });
    Ok(out)
}

struct Attention {
    heads: usize,
}

/// Dimensions of one call: batch, steps, model width, head size, score scale.
fn dims(shape: &Shape, heads: usize) -> Result<(usize, usize, usize, usize, f32)> {
    let (b, t, three_d) = shape.dims3()?;
    let d = three_d / 3;
    let hd = d / heads;
    Ok((b, t, d, hd, 1.0 / (hd as f32).sqrt()))
}

/// One head's softmax(q·kᵀ·scale) `[T, T]`, row-major, from `qkv` of one batch row.
fn probabilities(x: &[f32], t: usize, d: usize, hd: usize, head: usize, scale: f32) -> Vec<f32> {
    let q = |r: usize, e: usize| x[r * 3 * d + head * hd + e];
    let k = |r: usize, e: usize| x[r * 3 * d + d + head * hd + e];
    let mut p = vec![0f32; t * t];
    for r in 0..t {
        let row = &mut p[r * t..][..t];
        for (c, s) in row.iter_mut().enumerate() {
            *s = (0..hd).map(|e| q(r, e) * k(c, e)).sum::<f32>() * scale;
        }
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for s in row.iter_mut() {
            *s = (*s - m).exp();
            sum += *s;
        }
        row.iter_mut().for_each(|s| *s /= sum);
    }
    p
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "benchplan-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s, l, self.name())?;
        let (b, t, d, hd, scale) = dims(l.shape(), self.heads)?;
        let mut out = vec![0f32; b * t * d];
        for bi in 0..b {
            let x = &qkv[bi * t * 3 * d..][..t * 3 * d];
            for head in 0..self.heads {
                let p = probabilities(x, t, d, hd, head, scale);
                for r in 0..t {
                    for e in 0..hd {
                        out[(bi * t + r) * d + head * hd + e] = (0..t)
                            .map(|c| p[r * t + c] * x[c * 3 * d + 2 * d + head * hd + e])
                            .sum();
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, d))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let (b, t, d, hd, scale) = dims(l.shape(), self.heads)?;
        let qkv = cuda::view(s, l, self.name())?;
        let dev = cuda::device(s);
        let out = cuda::output(&dev, b * t * d)?;
        let cfg = cuda::config(b * self.heads, THREADS, forward_shared_bytes(t, hd));
        let (ti, nh, hdi) = (t as i32, self.heads as i32, hd as i32);
        cuda::launch!(
            dev,
            "attention_fwd",
            cfg,
            &qkv,
            &out,
            &ti,
            &nh,
            &hdi,
            &scale
        )?;
        Ok((cuda::storage(out, &dev), Shape::from((b, t, d))))
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(qkv.apply_op2_no_bwd(
            &grad.contiguous()?,
            &AttentionBackward { heads: self.heads },
        )?))
    }
}

/// ∂L/∂qkv from qkv and ∂L/∂context, the probabilities recomputed.
struct AttentionBackward {
    heads: usize,
}

impl CustomOp2 for AttentionBackward {
    fn name(&self) -> &'static str {
        "benchplan-attention-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s1, l1, self.name())?;
        let dout = f32_slice(s2, l2, self.name())?;
        let (b, t, d, hd, scale) = dims(l1.shape(), self.heads)?;
        let mut dqkv = vec![0f32; b * t * 3 * d];
        for bi in 0..b {
            let x = &qkv[bi * t * 3 * d..][..t * 3 * d];
            let g = &dout[bi * t * d..][..t * d];
            let dx = &mut dqkv[bi * t * 3 * d..][..t * 3 * d];
            for head in 0..self.heads {
                let at = |r: usize, part: usize, e: usize| r * 3 * d + part * d + head * hd + e;
                let go = |r: usize, e: usize| g[r * d + head * hd + e];
                let p = probabilities(x, t, d, hd, head, scale);
                for c in 0..t {
                    for e in 0..hd {
                        dx[at(c, 2, e)] = (0..t).map(|r| p[r * t + c] * go(r, e)).sum();
                    }
                }
                let mut ds = vec![0f32; t * t];
                for r in 0..t {
                    let dp: Vec<f32> = (0..t)
                        .map(|c| (0..hd).map(|e| go(r, e) * x[at(c, 2, e)]).sum())
                        .collect();
                    let dot: f32 = (0..t).map(|c| dp[c] * p[r * t + c]).sum();
                    for c in 0..t {
                        ds[r * t + c] = p[r * t + c] * (dp[c] - dot);
                    }
                }
                for r in 0..t {
                    for e in 0..hd {
                        dx[at(r, 0, e)] =
                            scale * (0..t).map(|c| ds[r * t + c] * x[at(c, 1, e)]).sum::<f32>();
                        dx[at(r, 1, e)] =
                            scale * (0..t).map(|c| ds[c * t + r] * x[at(c, 0, e)]).sum::<f32>();
                    }
                }
            }
        }
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
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
        let (b, t, d, hd, scale) = dims(l1.shape(), self.heads)?;
        let qkv = cuda::view(s1, l1, self.name())?;
        let dout = cuda::view(s2, l2, self.name())?;
        let dev = cuda::device(s1);
        let out = cuda::output(&dev, b * t * 3 * d)?;
        let cfg = cuda::config(b * self.heads, THREADS, backward_shared_bytes(t, hd));
        let (ti, nh, hdi) = (t as i32, self.heads as i32, hd as i32);
        cuda::launch!(
            dev,
            "attention_bwd",
            cfg,
            &qkv,
            &dout,
            &out,
            &ti,
            &nh,
            &hdi,
            &scale
        )?;
        Ok((cuda::storage(out, &dev), l1.shape().clone()))
    }
}

/// The same attention from candle's ops (the transformer's composed path).
pub fn attention_composed(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, three_d) = qkv.dims3()?;
    let d = three_d / 3;
    let hd = d / heads;
    let split = |i: usize| -> Result<Tensor> {
        qkv.narrow(2, i * d, d)?
            .reshape((b, t, heads, hd))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?); // [b, heads, t, hd]
    let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
    let weights = candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?;
    weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_fused_attention_matches_the_composed_one_and_its_gradients() {
        let (b, t, d, heads) = (2, 5, 8, 2);
        let values: Vec<f32> = (0..b * t * 3 * d)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.07)
            .collect();
        let qkv = Var::from_vec(values, (b, t, 3 * d), &Device::Cpu).unwrap();
        let w: Vec<f32> = (0..b * t * d)
            .map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.2)
            .collect();
        let w = Tensor::from_vec(w, (b, t, d), &Device::Cpu).unwrap();
        let loss = |x: &Tensor| (x * &w).unwrap().sum_all().unwrap();
        let fused = attention(qkv.as_tensor(), heads).unwrap();
        let reference = attention_composed(qkv.as_tensor(), heads).unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            let d = super::super::test_util::max_abs_diff(a, b);
            assert!(d < 1e-5, "{d}");
        };
        close(&fused, &reference);
        let g1 = loss(&fused).backward().unwrap();
        let g2 = loss(&reference).backward().unwrap();
        close(g1.get(&qkv).unwrap(), g2.get(&qkv).unwrap());
    }

    #[test]
    fn the_canonical_transformer_fits_one_block() {
        assert!(backward_shared_bytes(60, 32) <= super::super::SHARED_BYTES);
        assert!(backward_shared_bytes(200, 32) > super::super::SHARED_BYTES);
    }
}
