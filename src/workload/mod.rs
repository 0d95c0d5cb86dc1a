//! Workloads: what one timed iteration of a cell does. Each kind prepares its inputs and model
//! once (untimed) and returns a [`Bench`] whose `iterate` the runner times.
//!
//! Everything goes through a `candle_core::Device`, so the same code runs on CPU, CUDA and Metal.

pub mod capability;
pub mod dataload;
pub mod infer;
pub mod inputs;
pub mod kernels;
pub mod matmul;
pub mod models;
pub mod noop;
pub mod optim;
pub mod pipeline;
pub mod train;
pub mod weights;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

use crate::plan::{Cell, Plan, WorkloadKind};
use crate::rng::Rng;

/// One prepared cell, ready to be timed.
pub trait Bench {
    /// Runs one iteration. The runner synchronizes the device around it.
    fn iterate(&mut self) -> candle_core::Result<()>;

    /// Called once between warm-up and the timed iterations.
    fn begin_timed(&mut self) {}

    /// Per-stage samples (milliseconds) of the timed iterations, for staged workloads.
    fn stages(&self) -> Vec<(String, Vec<f64>)> {
        Vec::new()
    }
}

/// Facts about a prepared cell that turn times into derived figures, and what the cell costs
/// besides time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchInfo {
    /// Floating-point operations of one iteration, where the count is exact (matmul).
    pub flops_per_iteration: Option<f64>,
    /// Samples one iteration processes (the batch), for samples/s.
    pub samples_per_iteration: Option<u64>,
    /// Scalars in the model's weights, as built.
    pub param_count: Option<u64>,
    /// Bytes the model's weights occupy as built (dtype and quantization included).
    pub weight_bytes: Option<u64>,
    /// Bytes of the optimizer's state (AdamW's two moments).
    pub optimizer_state_bytes: Option<u64>,
    /// Peak host bytes allocated during one forward pass above the level before it
    /// (training: with the graph kept for backward). CPU cells only.
    pub activation_bytes: Option<u64>,
    /// Relative L2 distance of the predictions from those of the f32 baseline of the same
    /// cell on the same inputs; for cells that change precision, quantization or kernels.
    pub prediction_error: Option<f64>,
    /// Which of benchplan's own kernels the timed iterations ran ([`kernels::taken`]).
    pub kernels: Option<String>,
}

pub struct Prepared {
    pub bench: Box<dyn Bench>,
    pub info: BenchInfo,
}

/// Refuses a model whose weights (and, in training, gradients and AdamW's two moments) cannot
/// fit the device, or whose f32 weights cannot fit the host where they are drawn, before any
/// of it is allocated: drawing 160 GB of weights to learn that a GPU has 80 took minutes.
fn check_model_fits(cell: &Cell, plan: &Plan, device: &Device) -> Result<()> {
    let Some(spec) = cell
        .get("model")
        .and_then(|m| m.as_str())
        .and_then(|m| plan.model(m))
    else {
        return Ok(());
    };
    let params = spec.parameter_count();
    let training = matches!(cell.workload, WorkloadKind::Train | WorkloadKind::Pipeline);
    let dtype = dtype_of(cell).map_or(4, |d| d.size_in_bytes()) as u128;
    let copies = if training { 4 } else { 1 };
    let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
    let needs = |what: &str, bytes: u128, has: Option<u64>| -> Result<()> {
        match has {
            Some(has) if bytes > has as u128 => bail!(
                "model `{}` has {params} parameters: {what} need {:.1} GiB, more than the {:.1} GiB {}; use a smaller model, or a larger device",
                cell.str_param("model"),
                gib(bytes),
                gib(has as u128),
                if what.starts_with("its f32") { "of this machine's memory".to_owned() } else { format!("of `{}`", cell.str_param("device")) }
            ),
            _ => Ok(()),
        }
    };
    needs(
        "its f32 weights, drawn on the host",
        params * 4,
        crate::device::host_memory_bytes(),
    )?;
    let on_device = if device.is_cpu() {
        crate::device::host_memory_bytes()
    } else {
        crate::device::device_total_bytes(device)
    };
    needs(
        if training {
            "weights, gradients and optimizer state"
        } else {
            "its weights"
        },
        params * dtype * copies,
        on_device,
    )
}

/// Prepares `cell` on `device`: builds inputs and model, untimed.
pub fn prepare(cell: &Cell, plan: &Plan, device: &Device) -> Result<Prepared> {
    check_model_fits(cell, plan, device)?;
    match cell.workload {
        WorkloadKind::Matmul => matmul::prepare(cell, device),
        WorkloadKind::Train => train::prepare(cell, plan, device),
        WorkloadKind::Infer => infer::prepare(cell, plan, device),
        WorkloadKind::Dataload => dataload::prepare(cell, plan, device),
        WorkloadKind::Pipeline => pipeline::prepare(cell, plan, device),
        WorkloadKind::Noop => noop::prepare(cell),
        WorkloadKind::Command => {
            bail!("`command` cells run an external program; the runner starts it, not prepare")
        }
    }
}

/// The cell's `dtype` parameter as a candle dtype.
pub fn dtype_of(cell: &Cell) -> Result<DType> {
    Ok(match cell.str_param("dtype") {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => bail!("unsupported dtype `{other}`"),
    })
}

/// The cell's seed.
pub fn seed_of(cell: &Cell) -> u64 {
    cell.get("seed").and_then(|v| v.as_int()).unwrap_or(0) as u64
}

/// A tensor of N(0, 1) values from the seeded stream `name`, in `dtype` on `device`.
/// Drawn on the CPU in f32 and converted, so every device and dtype sees the same values.
pub fn normal_tensor(
    shape: &[usize],
    seed: u64,
    name: &str,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let n = shape.iter().product();
    let values = Rng::for_stream(seed, name).normal_vec(n, 0.0, 1.0);
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

/// Looks up the cell's model in the plan (the plan checks guarantee it exists).
pub fn model_of<'p>(cell: &Cell, plan: &'p Plan) -> Result<&'p crate::plan::ModelSpec> {
    let name = cell.str_param("model");
    match plan.model(name) {
        Some(m) => Ok(m),
        None => bail!("model `{name}` is not declared in the plan"),
    }
}

/// The cost side of an optimization: the relative L2 distance between `model`'s predictions on
/// `input` and those of the f32, float-weight, composed-kernel model built from the same
/// `weights`, on the same input in f32.
pub fn error_against_f32_baseline(
    spec: &crate::plan::ModelSpec,
    weights: &std::collections::HashMap<String, Tensor>,
    model: &dyn models::Model,
    input: &Tensor,
    device: &Device,
) -> Result<f64> {
    let baseline = models::build(
        spec,
        weights::to_inference(weights, DType::F32, device)?,
        models::Build::TRAINING,
    )?;
    let x32 = input.to_dtype(DType::F32)?;
    relative_l2(&model.forward(input)?, &baseline.forward(&x32)?)
}

/// ‖a − b‖ / ‖b‖ over all elements, computed in f32 on the CPU.
pub fn relative_l2(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a = a
        .to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?
        .flatten_all()?;
    let b = b
        .to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?
        .flatten_all()?;
    let diff = (&a - &b)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    let norm = b.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    Ok(if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        diff.sqrt()
    })
}
