//! A Linear layer's epilogue on CUDA: the bias added to the matrix product's output, and GELU
//! when one follows, as one kernel (`bias_act_fwd` in cuda/fused.cu) with its backward.
//!
//! candle adds a bias with a broadcast kernel that first copies its shapes and strides to the
//! device, and runs GELU as a second kernel: per hidden layer of an MLP that is a product and
//! two launches and a copy, where this makes it a product and one launch. Small-batch
//! inference on a GPU is bound by exactly that per-operation cost (issue 21: ~12 µs per op on
//! the H200). The CPU keeps its own path (the bias folded into the gemm call, see linear.rs);
//! the `cpu_fwd` here is the twin that the tests and `benchplan check-kernels` compare with
//! candle's ops.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::f32_slice;
use super::gelu::{gelu_f32, gelu_grad_f32};

/// `act(x + b)` for `x` `[rows, n]` and `b` `[n]`.
struct BiasAct {
    gelu: bool,
}

/// The shape checks both directions share: (elements, features).
fn dims(x: &Layout, b: &Layout, op: &str) -> Result<(usize, usize)> {
    let (_, n) = x.shape().dims2()?;
    if b.shape().dims() != [n] {
        candle_core::bail!("{op}: a bias of {n} features, not {:?}", b.shape().dims());
    }
    Ok((x.shape().elem_count(), n))
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        if self.gelu {
            "benchplan-bias-gelu"
        } else {
            "benchplan-bias"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, n) = dims(l1, l2, self.name())?;
        let x = f32_slice(s1, l1, self.name())?;
        let b = f32_slice(s2, l2, self.name())?;
        let mut y = Vec::with_capacity(x.len());
        for row in x.chunks_exact(n) {
            y.extend(row.iter().zip(b).map(|(&x, &b)| {
                let v = x + b;
                if self.gelu {
                    gelu_f32(v)
                } else {
                    v
                }
            }));
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
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let (total, n) = dims(l1, l2, self.name())?;
        let x = cuda::view(s1, l1, self.name())?;
        let b = cuda::view(s2, l2, self.name())?;
        let dev = cuda::device(s1);
        let y = cuda::output(&dev, total)?;
        let (ti, ni, gi) = (total as i32, n as i32, self.gelu as i32);
        cuda::launch!(
            dev,
            "bias_act_fwd",
            cuda::elementwise(total),
            &x,
            &b,
            &y,
            &ti,
            &ni,
            &gi
        )?;
        Ok((cuda::storage(y, &dev), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dz = if self.gelu {
            x.apply_op3_no_bwd(b, &grad.contiguous()?, &BiasGeluBackward)?
        } else {
            grad.clone()
        };
        let db = dz.sum(0)?;
        Ok((Some(dz), Some(db)))
    }
}

/// `g · gelu'(x + b)`: the gradient of the GELU's input, from `x`, `b` and the output's
/// gradient `g`.
struct BiasGeluBackward;

impl CustomOp3 for BiasGeluBackward {
    fn name(&self) -> &'static str {
        "benchplan-bias-gelu-backward"
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
        let (_, n) = dims(l1, l2, self.name())?;
        let x = f32_slice(s1, l1, self.name())?;
        let b = f32_slice(s2, l2, self.name())?;
        let g = f32_slice(s3, l3, self.name())?;
        let dz = x
            .iter()
            .zip(g)
            .enumerate()
            .map(|(i, (&x, &g))| g * gelu_grad_f32(x + b[i % n]))
            .collect();
        Ok((CpuStorage::F32(dz), l1.shape().clone()))
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
        let (total, n) = dims(l1, l2, self.name())?;
        let x = cuda::view(s1, l1, self.name())?;
        let b = cuda::view(s2, l2, self.name())?;
        let g = cuda::view(s3, l3, self.name())?;
        let dev = cuda::device(s1);
        let dz = cuda::output(&dev, total)?;
        let (ti, ni) = (total as i32, n as i32);
        cuda::launch!(
            dev,
            "bias_gelu_bwd",
            cuda::elementwise(total),
            &x,
            &b,
            &g,
            &dz,
            &ti,
            &ni
        )?;
        Ok((cuda::storage(dz, &dev), l1.shape().clone()))
    }
}

/// Whether [`bias_act`] runs as one kernel for this product and bias: f32 on CUDA (unless
/// `BENCHPLAN_CUDA_KERNELS=candle`), a 2-d product and a 1-d bias.
pub fn bias_act_is_fused(y: &Tensor, b: &Tensor) -> bool {
    super::cuda_fused(y) && b.dtype() == y.dtype() && y.rank() == 2 && b.rank() == 1
}

/// `act(y + b)` for a matrix product's output `y` `[rows, n]` and a bias `b` `[n]`, with GELU
/// as `act` when `gelu`, else the identity; differentiable in both. The caller checks
/// [`bias_act_is_fused`] (or runs on the CPU, where this is the reference loop).
pub fn bias_act(y: &Tensor, b: &Tensor, gelu: bool) -> Result<Tensor> {
    let out = y
        .contiguous()?
        .apply_op2(&b.contiguous()?, BiasAct { gelu })?;
    if out.device().is_cuda() {
        super::note_taken(if gelu {
            "bias-gelu (cuda)"
        } else {
            "bias (cuda)"
        });
    }
    Ok(out)
}

/// The same epilogue from candle's ops: the reference.
pub fn bias_act_composed(y: &Tensor, b: &Tensor, gelu: bool) -> Result<Tensor> {
    let z = y.broadcast_add(b)?;
    if gelu {
        z.gelu_erf()
    } else {
        Ok(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_epilogue_matches_candles_ops_and_their_gradients() {
        let v = |n: usize, s: f32| -> Vec<f32> {
            (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) * s).collect()
        };
        let dev = Device::Cpu;
        let y = Var::from_vec(v(5 * 7, 0.3), (5, 7), &dev).unwrap();
        let b = Var::from_vec(v(7, 0.2), 7, &dev).unwrap();
        let up = Tensor::from_vec(v(5 * 7, 0.1), (5, 7), &dev).unwrap();
        for gelu in [false, true] {
            let ours = bias_act(y.as_tensor(), b.as_tensor(), gelu).unwrap();
            let theirs = bias_act_composed(y.as_tensor(), b.as_tensor(), gelu).unwrap();
            let max_diff = super::super::test_util::max_abs_diff;
            assert!(max_diff(&ours, &theirs) < 1e-5, "gelu {gelu}");
            let g1 = (&ours * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (&theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for var in [&y, &b] {
                let d = max_diff(
                    g1.get(var.as_tensor()).unwrap(),
                    g2.get(var.as_tensor()).unwrap(),
                );
                assert!(d < 1e-5, "gelu {gelu}: gradient differs by {d}");
            }
        }
    }

    #[test]
    fn a_bias_of_the_wrong_length_is_an_error_not_a_panic() {
        let dev = Device::Cpu;
        let y = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(5, candle_core::DType::F32, &dev).unwrap();
        let err = bias_act(&y, &b, true).unwrap_err().to_string();
        assert!(err.contains("bias of 4 features"), "{err}");
    }
}
