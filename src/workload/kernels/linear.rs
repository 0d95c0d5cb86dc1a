//! Linear layers through one gemm call (bias folded in), single-threaded below a size where
//! waking the thread pool costs more than the product.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use super::bias_act::{bias_act, bias_act_is_fused};
use super::f32_slice;

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
    gemm_strided(
        &mut c,
        (a, a_rs, a_cs),
        (b, b_rs, b_cs),
        (m, k, n),
        bias.is_some(),
    );
    c
}

/// `c ← c + a·b` (or `c ← a·b` without `accumulate`) for row-major contiguous `a` `[m, k]`,
/// `b` `[k, n]` and `c` `[m, n]`: one gemm call on caller-owned buffers, for loops that run
/// many small products (an LSTM's steps) without a tensor per product.
pub(super) fn gemm_rows(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    gemm_rows_by(c, a, (b, n as isize, 1), (m, k, n), accumulate)
}

/// [`gemm_rows`] with `b` given by its row and column strides (`(w, 1, k)` reads a row-major
/// `[n, k]` matrix `w` as `wᵀ`, which the gemm crate multiplies faster than a copied `wᵀ`
/// on these shapes: measured, issue 21).
pub(super) fn gemm_rows_by(
    c: &mut [f32],
    a: &[f32],
    (b, b_rs, b_cs): (&[f32], isize, isize),
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(a.len() >= m * k && c.len() >= m * n);
    gemm_strided(
        c,
        (a, k as isize, 1),
        (b, b_rs, b_cs),
        (m, k, n),
        accumulate,
    );
}

/// `c ← c + a·b` (or `c ← a·b`) for strided `a` and `b` into row-major `c` `[m, n]`: one gemm
/// call, threaded only at [`PARALLEL_MACS`] and above.
fn gemm_strided(
    c: &mut [f32],
    (a, a_rs, a_cs): (&[f32], isize, isize),
    (b, b_rs, b_cs): (&[f32], isize, isize),
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    let reach = |len: usize, rows: usize, cols: usize, rs: isize, cs: isize| {
        rows == 0 || cols == 0 || (rows - 1) * (rs as usize) + (cols - 1) * (cs as usize) < len
    };
    assert!(
        c.len() >= m * n && reach(a.len(), m, k, a_rs, a_cs) && reach(b.len(), k, n, b_rs, b_cs)
    );
    let parallelism = if m * n * k >= PARALLEL_MACS {
        gemm::Parallelism::Rayon(candle_core::utils::get_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assertion above: every element the sizes and strides reach is in its slice.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
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
        super::note_taken("linear (cpu)");
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
        // A batch of rows as one 2-d product (one GEMM), not a broadcast batched one.
        if x.rank() > 2 && w.rank() == 2 && x.is_contiguous() {
            let mut dims = x.dims().to_vec();
            let features = dims.pop().unwrap_or(1);
            let y = linear(
                &x.reshape((x.elem_count() / features.max(1), features))?,
                w,
                b,
            )?;
            dims.push(w.dim(0)?);
            return y.reshape(dims);
        }
        let y = x.broadcast_matmul(&w.t()?)?;
        return match b {
            Some(b) if bias_act_is_fused(&y, b) => bias_act(&y, b, false),
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        };
    }
    super::note_taken("linear (cpu)");
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

/// `gelu(x·Wᵀ + b)` over the last dimension of `x`: on CUDA the product, then the bias and
/// GELU as one kernel ([`bias_act`]); elsewhere [`linear`] then [`gelu`](super::gelu) (on the
/// CPU the bias is already folded into the gemm call there).
pub fn linear_gelu(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let epilogue = match b {
        Some(b) if !x.device().is_cpu() && w.rank() == 2 && x.rank() >= 2 => b,
        _ => return super::gelu(&linear(x, w, b)?),
    };
    let mut dims = x.dims().to_vec();
    let features = dims.pop().unwrap_or(1);
    let x2 = x
        .contiguous()?
        .reshape((x.elem_count() / features.max(1), features))?;
    let y = x2.matmul(&w.t()?)?;
    let z = if bias_act_is_fused(&y, epilogue) {
        bias_act(&y, epilogue, true)?
    } else {
        super::gelu(&y.broadcast_add(epilogue)?)?
    };
    dims.push(w.dim(0)?);
    z.reshape(dims)
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
                let d = super::super::test_util::max_abs_diff(a, b);
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
        let max_diff = super::super::test_util::max_abs_diff;
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
