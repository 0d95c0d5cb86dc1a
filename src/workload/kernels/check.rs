//! `benchplan check-kernels`: each of benchplan's fused kernels against the same computation
//! composed from candle's ops, on a chosen device, at the canonical models' shapes: the
//! largest difference of the outputs and of every gradient, relative to the reference's
//! largest magnitude. On CUDA this checks the kernels of cuda/fused.cu; on the CPU their Rust
//! twins (the ops' `cpu_fwd`), which the unit tests also run. A fused path a device does not
//! take (Metal, say) is reported as such, not as a pass.

use candle_core::{DType, Device, Result, Tensor, Var};

use super::{
    adamw_update, attention, attention_composed, attention_is_fused, bias_act, bias_act_composed,
    bias_act_is_fused, layer_norm, layer_norm_is_fused, lstm_cell_composed, lstm_layer,
    lstm_layer_is_fused, AdamWStep,
};
use crate::workload::normal_tensor;

/// Largest relative difference of outputs, and of gradients, that passes. f32 sums over 60
/// time steps or 128 features in another order differ by a few ulps of the largest term.
pub const VALUE_TOLERANCE: f64 = 1e-4;
pub const GRADIENT_TOLERANCE: f64 = 1e-3;

/// One comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelCheck {
    pub kernel: String,
    pub shape: String,
    /// Whether the device took the fused path (false: both sides are candle's ops).
    pub fused: bool,
    pub value_error: f64,
    pub gradient_error: f64,
}

impl KernelCheck {
    pub fn passed(&self) -> bool {
        self.value_error <= VALUE_TOLERANCE && self.gradient_error <= GRADIENT_TOLERANCE
    }
}

/// max|a − b| / max|b|, over all elements.
fn relative_error(a: &Tensor, b: &Tensor) -> Result<f64> {
    let diff = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()? as f64;
    let scale = b.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()? as f64;
    Ok(diff / scale.max(1e-12))
}

fn random(shape: &[usize], name: &str, scale: f64, device: &Device) -> Result<Var> {
    let t = normal_tensor(shape, 21, name, DType::F32, device)
        .map_err(|e| candle_core::Error::Msg(format!("{e:#}")))?;
    Var::from_tensor(&(t * scale)?)
}

/// The largest gradient error over `vars` between two losses' gradients.
fn gradient_error(fused: &Tensor, reference: &Tensor, vars: &[&Var]) -> Result<f64> {
    let (g1, g2) = (fused.backward()?, reference.backward()?);
    let mut worst = 0f64;
    for v in vars {
        match (g1.get(v), g2.get(v)) {
            (Some(a), Some(b)) => worst = worst.max(relative_error(a, b)?),
            _ => candle_core::bail!("a gradient is missing"),
        }
    }
    Ok(worst)
}

/// One LSTM layer: the fused recurrence against the step-by-step composed one.
fn lstm(steps: usize, batch: usize, hidden: usize, device: &Device) -> Result<KernelCheck> {
    let xproj = random(&[steps, batch, 4 * hidden], "xproj", 0.5, device)?;
    let w_hh = random(&[4 * hidden, hidden], "w_hh", 0.09, device)?;
    let up = random(&[steps, batch, hidden], "up", 1.0, device)?;
    let fused = lstm_layer_is_fused(&xproj, &w_hh, hidden) || device.is_cpu();
    let a = lstm_layer(&xproj, &w_hh, hidden)?;
    let mut h: Option<Tensor> = None;
    let mut c = Tensor::zeros((batch, hidden), DType::F32, device)?;
    let mut hs = Vec::with_capacity(steps);
    for t in 0..steps {
        let x = xproj.get(t)?;
        let gates = match &h {
            Some(h) => (x + h.matmul(&w_hh.t()?)?)?,
            None => x,
        };
        let (hn, cn) = lstm_cell_composed(&gates, &c, hidden)?;
        hs.push(hn.clone());
        h = Some(hn);
        c = cn;
    }
    let b = Tensor::stack(&hs, 0)?;
    // Inference (no gradient to compute) takes the op's h-only output.
    let inference = lstm_layer(
        &xproj.as_tensor().detach(),
        &w_hh.as_tensor().detach(),
        hidden,
    )?;
    let loss = |x: &Tensor| (x * up.as_tensor())?.sum_all();
    Ok(KernelCheck {
        kernel: "lstm-sequence".into(),
        shape: format!("steps {steps}, batch {batch}, hidden {hidden}"),
        fused,
        value_error: relative_error(&a, &b)?.max(relative_error(&inference, &b)?),
        gradient_error: gradient_error(&loss(&a)?, &loss(&b)?, &[&xproj, &w_hh])?,
    })
}

fn attention_check(
    batch: usize,
    steps: usize,
    d: usize,
    heads: usize,
    device: &Device,
) -> Result<KernelCheck> {
    let qkv = random(&[batch, steps, 3 * d], "qkv", 1.0, device)?;
    let up = random(&[batch, steps, d], "up", 1.0, device)?;
    let fused = attention_is_fused(&qkv, heads) || device.is_cpu();
    let a = attention(&qkv, heads)?;
    let b = attention_composed(&qkv, heads)?;
    let loss = |x: &Tensor| (x * up.as_tensor())?.sum_all();
    Ok(KernelCheck {
        kernel: "attention".into(),
        shape: format!("batch {batch}, steps {steps}, d_model {d}, heads {heads}"),
        fused,
        value_error: relative_error(&a, &b)?,
        gradient_error: gradient_error(&loss(&a)?, &loss(&b)?, &[&qkv])?,
    })
}

fn layer_norm_check(rows: usize, n: usize, device: &Device) -> Result<KernelCheck> {
    let x = random(&[rows, n], "x", 2.0, device)?;
    let w = Var::from_tensor(&(random(&[n], "w", 0.1, device)?.as_tensor() + 1.0)?)?;
    let b = random(&[n], "b", 0.1, device)?;
    let up = random(&[rows, n], "up", 1.0, device)?;
    let fused = layer_norm_is_fused(&x) || device.is_cpu();
    let y1 = layer_norm(&x, &w, &b, 1e-5)?;
    let y2 = candle_nn::ops::layer_norm_slow(&x, &w, &b, 1e-5)?;
    let loss = |y: &Tensor| (y * up.as_tensor())?.sum_all();
    Ok(KernelCheck {
        kernel: "layer-norm".into(),
        shape: format!("rows {rows}, features {n}"),
        fused,
        value_error: relative_error(&y1, &y2)?,
        gradient_error: gradient_error(&loss(&y1)?, &loss(&y2)?, &[&x, &w, &b])?,
    })
}

fn gelu_check(n: usize, device: &Device) -> Result<KernelCheck> {
    let x = random(&[n], "x", 2.0, device)?;
    let up = random(&[n], "up", 1.0, device)?;
    let fused = super::cuda_fused(&x) || device.is_cpu();
    let a = super::gelu(&x)?;
    let b = x.gelu_erf()?;
    let loss = |y: &Tensor| (y * up.as_tensor())?.sum_all();
    Ok(KernelCheck {
        kernel: "gelu".into(),
        shape: format!("{n} values"),
        fused,
        value_error: relative_error(&a, &b)?,
        gradient_error: gradient_error(&loss(&a)?, &loss(&b)?, &[&x])?,
    })
}

/// A Linear layer's epilogue (the bias, and GELU when `gelu`) against candle's broadcast add
/// and `gelu_erf`.
fn bias_act_check(rows: usize, n: usize, gelu: bool, device: &Device) -> Result<KernelCheck> {
    let y = random(&[rows, n], "y", 2.0, device)?;
    let b = random(&[n], "b", 0.5, device)?;
    let up = random(&[rows, n], "up", 1.0, device)?;
    let fused = bias_act_is_fused(&y, &b) || device.is_cpu();
    let a = if fused {
        bias_act(&y, &b, gelu)?
    } else {
        bias_act_composed(&y, &b, gelu)?
    };
    let r = bias_act_composed(&y, &b, gelu)?;
    let loss = |x: &Tensor| (x * up.as_tensor())?.sum_all();
    Ok(KernelCheck {
        kernel: if gelu { "bias-gelu" } else { "bias" }.into(),
        shape: format!("rows {rows}, features {n}"),
        fused,
        value_error: relative_error(&a, &r)?,
        gradient_error: gradient_error(&loss(&a)?, &loss(&r)?, &[&y, &b])?,
    })
}

/// Three AdamW steps in place against the same update from candle's ops.
fn adamw_check(n: usize, device: &Device) -> Result<KernelCheck> {
    let p0 = random(&[n], "p", 1.0, device)?.as_tensor().clone();
    let grads: Vec<Tensor> = (0..3)
        .map(|i| {
            Ok(random(&[n], &format!("g{i}"), 1.0, device)?
                .as_tensor()
                .clone())
        })
        .collect::<Result<_>>()?;
    let (lr, b1, b2, eps, wd) = (1e-3f32, 0.9f32, 0.999f32, 1e-8f32, 0.01f32);
    let fused_p = p0.copy()?;
    let (m, v) = (p0.zeros_like()?, p0.zeros_like()?);
    let (mut rp, mut rm, mut rv) = (p0.copy()?, p0.zeros_like()?, p0.zeros_like()?);
    let mut fused = true;
    for (t, g) in grads.iter().enumerate() {
        let step = AdamWStep {
            lr,
            beta1: b1,
            beta2: b2,
            eps,
            weight_decay: wd,
            correction1: 1.0 - b1.powi(t as i32 + 1),
            correction2: 1.0 - b2.powi(t as i32 + 1),
        };
        fused &= adamw_update(&fused_p, &m, &v, g, step)?;
        rm = ((&rm * b1 as f64)? + (g * (1.0 - b1) as f64)?)?;
        rv = ((&rv * b2 as f64)? + (g.sqr()? * (1.0 - b2) as f64)?)?;
        let m_hat = (&rm / step.correction1 as f64)?;
        let v_hat = (&rv / step.correction2 as f64)?;
        rp = ((&rp * (1.0 - lr * wd) as f64)?
            - ((m_hat / (v_hat.sqrt()? + eps as f64)?)? * lr as f64)?)?;
    }
    Ok(KernelCheck {
        kernel: "adamw".into(),
        shape: format!("{n} parameters, 3 steps"),
        fused,
        value_error: if fused {
            relative_error(&fused_p, &rp)?
        } else {
            0.0
        },
        gradient_error: 0.0,
    })
}

/// Every check, at the canonical transformer's and LSTM's shapes (and the batch sizes that
/// take each of the LSTM kernel's blockings, one with a partly filled last block).
pub fn check_all(device: &Device) -> Result<Vec<KernelCheck>> {
    let mut out = Vec::new();
    for batch in [1, 32, 50, 128, 200, 300] {
        out.push(lstm(60, batch, 128, device)?);
    }
    // Hidden 64 keeps all of W_hhᵀ in registers; 256 takes the kernel that reads it from L2.
    out.push(lstm(60, 8, 64, device)?);
    out.push(lstm(20, 4, 256, device)?);
    out.push(attention_check(4, 60, 128, 4, device)?);
    out.push(attention_check(2, 17, 64, 2, device)?);
    out.push(layer_norm_check(4 * 60, 128, device)?);
    out.push(layer_norm_check(7, 100, device)?);
    out.push(gelu_check(32 * 60 * 512, device)?);
    out.push(bias_act_check(32, 256, true, device)?);
    out.push(bias_act_check(7, 100, false, device)?);
    out.push(adamw_check(65_536 + 3, device)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_twins_of_the_fused_kernels_match_candles_ops() {
        // Smaller than check_all's shapes: the Rust twins are plain loops.
        let dev = Device::Cpu;
        let checks = [
            lstm(12, 3, 16, &dev).unwrap(),
            attention_check(2, 9, 16, 2, &dev).unwrap(),
            layer_norm_check(5, 24, &dev).unwrap(),
            gelu_check(3000, &dev).unwrap(),
            bias_act_check(9, 13, true, &dev).unwrap(),
            bias_act_check(9, 13, false, &dev).unwrap(),
            adamw_check(1000, &dev).unwrap(),
        ];
        for c in &checks {
            assert!(c.fused, "{c:?}");
            assert!(c.passed(), "{c:?}");
        }
    }
}
