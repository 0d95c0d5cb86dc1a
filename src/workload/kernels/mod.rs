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
//! - [`lstm_cell`](lstm::lstm_cell): one LSTM step's gate arithmetic, with its backward (the
//!   step-by-step path of CPU inference; CPU training runs a layer as one
//!   [`lstm_layer`](lstm_seq::lstm_layer) op, unless `BENCHPLAN_CPU_LSTM=steps`).
//! - [`linear`](linear::linear): Linear layers as one gemm call, bias folded in.
//!
//!
//! On CUDA (issue 21), fused kernels with their backward where candle launches many small ones
//! (`cuda/fused.cu`, f32, built with the `cuda` feature): [`lstm_layer`](lstm_seq::lstm_layer)
//! (a layer's whole recurrence in one launch), [`attention`](attention::attention) (one block
//! per batch row and head), [`layer_norm`](layer_norm::layer_norm), a Linear layer's bias and
//! GELU as one epilogue ([`bias_act`](bias_act::bias_act)), and AdamW. Each also has
//! a Rust `cpu_fwd` with the same arithmetic, which the tests hold to candle's composed ops;
//! `benchplan check-kernels --device cuda` does the same on a GPU. Metal and half precision
//! keep candle's ops. `BENCHPLAN_CUDA_KERNELS=candle` turns the CUDA kernels off (for A/B
//! runs); every result row records which of these kernels its cell ran (`kernels`).
//!
//! One file per op; this one holds what they share (chunked parallel loops, storage access,
//! the record of which kernels ran).

mod adamw;
mod attention;
mod bias_act;
pub mod check;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod gelu;
mod layer_norm;
mod linear;
mod lstm;
mod lstm_seq;

pub use adamw::{adamw_update, AdamWStep};
pub use attention::{attention, attention_composed, attention_is_fused};
pub use bias_act::{bias_act, bias_act_composed, bias_act_is_fused};
pub use gelu::{erf_fast, gelu};
pub use layer_norm::{layer_norm, layer_norm_is_fused};
pub use linear::{linear, linear_add, linear_gelu};
pub use lstm::{lstm_cell, lstm_cell_composed, lstm_cell_is_fused};
pub use lstm_seq::{lstm_layer, lstm_layer_is_fused};

use std::collections::BTreeSet;
use std::sync::Mutex;

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

/// Shared memory a CUDA block may use without opting in to more; the fused kernels size their
/// blocks to stay under it and fall back to candle's ops where a shape would not.
pub(crate) const SHARED_BYTES: usize = 48 * 1024;

/// Whether benchplan's CUDA kernels may run for `t`: a CUDA tensor of f32 in a build with the
/// `cuda` feature, unless `BENCHPLAN_CUDA_KERNELS=candle` asks for candle's ops.
pub(crate) fn cuda_fused(t: &Tensor) -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    cfg!(feature = "cuda")
        && t.device().is_cuda()
        && t.dtype() == DType::F32
        && !*OFF.get_or_init(|| {
            std::env::var("BENCHPLAN_CUDA_KERNELS").is_ok_and(|v| v.eq_ignore_ascii_case("candle"))
        })
}

/// benchplan's kernels that ran since the last [`reset_taken`], by name and device.
static TAKEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// Records that `kernel` ran (each fused path calls this when taken).
pub(crate) fn note_taken(kernel: &'static str) {
    if let Ok(mut taken) = TAKEN.lock() {
        taken.insert(kernel);
    }
}

/// Forgets which kernels ran: called before a cell is prepared.
pub fn reset_taken() {
    if let Ok(mut taken) = TAKEN.lock() {
        taken.clear();
    }
}

/// Which of benchplan's own kernels ran since [`reset_taken`], sorted and comma-separated;
/// `candle ops` when none did (everything went through candle's own operations).
pub fn taken() -> String {
    let taken = TAKEN.lock().map(|t| t.clone()).unwrap_or_default();
    if taken.is_empty() {
        "candle ops".to_owned()
    } else {
        taken.into_iter().collect::<Vec<_>>().join(", ")
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
