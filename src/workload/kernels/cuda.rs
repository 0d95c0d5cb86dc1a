//! Loading and launching benchplan's CUDA kernels (`cuda/fused.cu`, compiled to PTX by
//! build.rs): what the ops in lstm_seq.rs, attention.rs, layer_norm.rs and adamw.rs share on
//! the GPU. Compiled only with the `cuda` feature.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, CudaViewMut, LaunchConfig};
use candle_core::{CudaDevice, CudaStorage, Layout, Result};

/// The PTX of every kernel in `cuda/fused.cu`, loaded once per device as one module.
pub const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/fused.ptx"));

/// The name benchplan's module is loaded under, once per device.
pub const MODULE: &str = "benchplan_fused";

/// Launches the kernel `$name` of benchplan's module on `$dev` with `$cfg`, pushing each
/// argument (a reference to a device buffer or to a local scalar) in order. Evaluates to a
/// `candle_core::Result<()>`.
macro_rules! launch {
    ($dev:expr, $name:expr, $cfg:expr, $($arg:expr),+ $(,)?) => {{
        use candle_core::cuda_backend::cudarc::driver::PushKernelArg as _;
        use candle_core::cuda_backend::WrapErr as _;
        let func = $dev.get_or_load_custom_func(
            $name,
            $crate::workload::kernels::cuda::MODULE,
            $crate::workload::kernels::cuda::PTX,
        )?;
        let mut args = func.builder();
        $( args.arg($arg); )+
        // SAFETY: each call site passes the buffers and sizes its kernel's signature in
        // cuda/fused.cu declares, with buffers of the sizes it indexes.
        unsafe { args.launch($cfg) }.w().map(|_| ())
    }};
}
pub(crate) use launch;

/// The device of a storage.
pub fn device(s: &CudaStorage) -> CudaDevice {
    s.device().clone()
}

/// The contiguous f32 elements of a CUDA storage, or an error naming `op`.
pub fn view<'s>(s: &'s CudaStorage, l: &Layout, op: &str) -> Result<CudaView<'s, f32>> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(s.as_cuda_slice::<f32>()?.slice(a..b)),
        None => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// The contiguous f32 elements of a CUDA storage to update in place.
pub fn view_mut<'s>(s: &'s mut CudaStorage, l: &Layout, op: &str) -> Result<CudaViewMut<'s, f32>> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(s.as_cuda_slice_mut::<f32>()?.slice_mut(a..b)),
        None => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// `n` f32 on `dev` that the kernel about to run writes in full.
pub fn output(dev: &CudaDevice, n: usize) -> Result<CudaSlice<f32>> {
    // SAFETY: every caller launches a kernel that writes all `n` elements before any read.
    unsafe { dev.alloc::<f32>(n) }
}

/// Wraps a kernel's output as a storage.
pub fn storage(slice: CudaSlice<f32>, dev: &CudaDevice) -> CudaStorage {
    CudaStorage::wrap_cuda_slice(slice, dev.clone())
}

/// A launch of `blocks` blocks of `threads` threads with `shared` bytes of shared memory.
pub fn config(blocks: usize, threads: usize, shared: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (threads as u32, 1, 1),
        shared_mem_bytes: shared as u32,
    }
}

/// One thread per element, 256 to a block.
pub fn elementwise(n: usize) -> LaunchConfig {
    config(n.div_ceil(256), 256, 0)
}

/// What a kernel that keeps a whole weight matrix on chip needs to know of its GPU.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Shared memory one block may use after opting in (227 KB on Hopper, 163 KB on A100).
    pub shared_optin: usize,
    /// Streaming multiprocessors: blocks that can each hold one copy of the weights at once.
    pub sms: usize,
}

/// The device's [`Limits`], read from the driver once per device (the LSTM's forward asks at
/// every call, inside a timed step).
pub fn limits(dev: &CudaDevice) -> Result<Limits> {
    use candle_core::cuda_backend::cudarc::driver::sys::CUdevice_attribute as A;
    use candle_core::cuda_backend::WrapErr;
    static KNOWN: std::sync::Mutex<Vec<(candle_core::cuda_backend::DeviceId, Limits)>> =
        std::sync::Mutex::new(Vec::new());
    let mut known = KNOWN
        .lock()
        .map_err(|_| candle_core::Error::Msg("device limits poisoned".into()))?;
    if let Some((_, l)) = known.iter().find(|(id, _)| *id == dev.id()) {
        return Ok(*l);
    }
    let ctx = dev.cuda_stream().context().clone();
    let shared = ctx
        .attribute(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
        .w()?;
    let sms = ctx
        .attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .w()?;
    let limits = Limits {
        shared_optin: shared.max(0) as usize,
        sms: sms.max(1) as usize,
    };
    known.push((dev.id(), limits));
    Ok(limits)
}

/// A kernel loaded outside candle's cache, and the dynamic shared memory it is allowed so far.
struct OptinFunc {
    func: candle_core::cuda_backend::cudarc::driver::CudaFunction,
    allowed: usize,
}

/// Kernels loaded outside candle's cache, so that they can opt in to more than 48 KB of
/// shared memory (candle's loader gives no access to the function's attributes).
type OptinKey = (candle_core::cuda_backend::DeviceId, String);
static OPTIN: std::sync::Mutex<Option<std::collections::HashMap<OptinKey, OptinFunc>>> =
    std::sync::Mutex::new(None);

/// The kernel `name`, allowed `shared` bytes of dynamic shared memory (the attribute is set
/// only when a launch needs more than before, not at every launch).
pub fn optin_func(
    dev: &CudaDevice,
    name: &str,
    shared: usize,
) -> Result<candle_core::cuda_backend::cudarc::driver::CudaFunction> {
    use candle_core::cuda_backend::cudarc::driver::sys::CUfunction_attribute as F;
    use candle_core::cuda_backend::cudarc::nvrtc::Ptx;
    use candle_core::cuda_backend::WrapErr;
    let mut cache = OPTIN
        .lock()
        .map_err(|_| candle_core::Error::Msg("kernel cache poisoned".into()))?;
    let cache = cache.get_or_insert_with(Default::default);
    let key = (dev.id(), name.to_owned());
    if !cache.contains_key(&key) {
        let ctx = dev.cuda_stream().context().clone();
        let module = ctx.load_module(Ptx::from_src(PTX)).w()?;
        let func = module.load_function(name).w()?;
        cache.insert(key.clone(), OptinFunc { func, allowed: 0 });
    }
    let Some(entry) = cache.get_mut(&key) else {
        candle_core::bail!("kernel {name} missing from its cache");
    };
    if shared > entry.allowed {
        entry
            .func
            .set_attribute(
                F::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared as i32,
            )
            .w()?;
        entry.allowed = shared;
    }
    Ok(entry.func.clone())
}

/// [`launch!`] for a kernel from [`optin_func`].
macro_rules! launch_optin {
    ($dev:expr, $name:expr, $cfg:expr, $($arg:expr),+ $(,)?) => {{
        use candle_core::cuda_backend::cudarc::driver::PushKernelArg as _;
        use candle_core::cuda_backend::WrapErr as _;
        let cfg = $cfg;
        let func = $crate::workload::kernels::cuda::optin_func(
            &$dev,
            $name,
            cfg.shared_mem_bytes as usize,
        )?;
        let stream = $dev.cuda_stream();
        let mut args = stream.launch_builder(&func);
        $( args.arg($arg); )+
        // SAFETY: as in `launch!`.
        unsafe { args.launch(cfg) }.w().map(|_| ())
    }};
}
pub(crate) use launch_optin;
