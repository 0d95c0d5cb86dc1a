//! Fused CPU kernels where candle's CPU backend is slow: element-wise ops there run on one
//! thread, one pass per op, and `gelu_erf` calls libm's scalar `erff` per element. On a
//! 16-core machine that made an MLP step ~24× slower than PyTorch (issue 7), with the matrix
//! products a small part of it.
//!
//! - [`gelu`](gelu::gelu): exact (erf) GELU as one parallel pass with a vectorizable erf, and its
//!   derivative as one parallel pass in the backward, so training through it stays correct
//!   (a test compares its gradients with candle's `gelu_erf`).
//! - [`adamw_update`](adamw::adamw_update): the AdamW update of one parameter as three fused parallel in-place
//!   passes instead of a dozen single-threaded ones with temporaries.
//!
//! Only contiguous f32 tensors on the CPU take these paths; every other case (GPUs, half
//! precision) goes through candle's own ops, which are fast there.
//! - [`lstm_cell`](lstm::lstm_cell): one LSTM step's gate arithmetic, with its backward.
//! - [`linear`](linear::linear): Linear layers as one gemm call, bias folded in.
//!
//! One file per op; this one holds what they share (chunked parallel loops, storage access).

mod adamw;
mod gelu;
mod linear;
mod lstm;

pub use adamw::{adamw_update, AdamWStep};
pub use gelu::{erf_fast, gelu};
pub use linear::{linear, linear_add};
pub use lstm::{lstm_cell, lstm_cell_composed, lstm_cell_is_fused};

use candle_core::{CpuStorage, DType, Layout, Result, Tensor};
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs little next to the work.
pub(super) const CHUNK: usize = 16 * 1024;

/// Runs `f` over matching chunks of `out` and `input`: on rayon's pool when there is more than
/// one chunk, inline otherwise. Waking the pool costs microseconds, which measured 1.6× slower
/// than candle's single-threaded op for batch-1 inference on 16 cores (55b2723).
/// `f` gets a chunk of `out` and the index of its first element, to read inputs alongside.
pub(super) fn chunked(out: &mut [f32], f: impl Fn(&mut [f32], usize) + Sync) {
    if out.len() <= CHUNK {
        f(out, 0);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, o)| f(o, i * CHUNK));
    }
}

/// The contiguous f32 elements of a CPU storage, or an error naming `op`.
pub(super) fn f32_slice<'s>(s: &'s CpuStorage, l: &Layout, op: &str) -> Result<&'s [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

pub(super) fn f32_slice_mut<'s>(
    s: &'s mut CpuStorage,
    l: &Layout,
    op: &str,
) -> Result<&'s mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// Whether `t` takes the fused CPU kernels: contiguous f32 on the CPU.
pub(super) fn takes_fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
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
