//! What a backend of this build cannot do, known before a cell runs, so that such a cell is
//! `skipped` with the reason on every machine alike, rather than depending on how a backend
//! words its error (a Mac's Accelerate says "does not support f16 matmul", which the matcher
//! of error text did not know, and 9 f16 CPU cells of the seed study would have been `failed`
//! there). The error-text matcher (`runner::is_unsupported`) stays as the fallback for what
//! this table does not list; its known wordings are tested one per backend.

use candle_core::Device;

/// Whether this build's CPU backend is Apple's Accelerate (candle's `accelerate` feature,
/// which benchplan enables on macOS).
const CPU_IS_ACCELERATE: bool = cfg!(target_os = "macos");

/// Why `device` cannot run a cell of this `dtype` (whose every workload multiplies matrices
/// in it), or `None` when it can as far as is known.
pub fn lacks(device: &Device, dtype: Option<&str>) -> Option<String> {
    lacks_on(device.is_cpu(), CPU_IS_ACCELERATE, dtype)
}

fn lacks_on(cpu: bool, accelerate: bool, dtype: Option<&str>) -> Option<String> {
    match (cpu, accelerate, dtype) {
        // candle's Accelerate path multiplies f32 and f64 only (candle-core 0.11
        // `cpu_backend::MatMul::f`, feature `accelerate`).
        (true, true, Some(d @ ("f16" | "bf16"))) => Some(format!(
            "candle's Accelerate CPU backend has no {d} matrix product (f32 and f64 only)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerate_lacks_half_precision_products_and_gemm_has_them() {
        assert!(lacks_on(true, true, Some("f16"))
            .unwrap()
            .contains("no f16 matrix product"));
        assert!(lacks_on(true, true, Some("bf16")).is_some());
        assert_eq!(lacks_on(true, true, Some("f32")), None);
        assert_eq!(lacks_on(true, false, Some("f16")), None);
        assert_eq!(lacks_on(false, true, Some("f16")), None);
    }
}
