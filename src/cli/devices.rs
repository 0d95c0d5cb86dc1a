//! `devices`: what this build can use on this machine.

use std::path::Path;

use clap::Args;

use super::values::TableFormat;
use super::Outcome;
use crate::device;
use crate::exit::ExitStatus;
use crate::results::RunMetadata;

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Output
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
}

pub fn devices(args: DevicesArgs) -> Outcome {
    let meta = RunMetadata::collect(Path::new("."), "", None, Path::new("results"));
    let found = device::available(&meta.cpu_model);
    let built = device::built_backends();
    match args.format {
        TableFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "devices": found, "built_with": built, "machine": meta.machine })
            )?
        )?,
        TableFormat::Table => crate::out!(
            "{}",
            device::render_table(&found, &built, &meta.machine, &meta.os)
        )?,
    }
    Ok(ExitStatus::Success)
}

#[derive(Args, Debug)]
pub struct CheckKernelsArgs {
    /// The device to check on: `cpu` (the kernels' Rust twins), `cuda`, `cuda:1`, `gpu`
    #[arg(long, default_value = "gpu")]
    device: String,
    /// Output
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
}

/// `check-kernels`: benchplan's fused kernels against candle's composed ops on one device,
/// outputs and gradients; exit 1 when one differs beyond its tolerance.
pub fn check_kernels(args: CheckKernelsArgs) -> Outcome {
    use crate::workload::kernels::check::{check_all, GRADIENT_TOLERANCE, VALUE_TOLERANCE};
    let spec = device::DeviceSpec::parse(&args.device)
        .and_then(|s| s.resolve())
        .map_err(|e| anyhow::anyhow!("--device {}: {e}", args.device))?;
    let dev = spec
        .open()
        .map_err(|e| anyhow::anyhow!("--device {}: cannot open `{spec}`: {e}", args.device))?;
    let checks = check_all(&dev)?;
    let failed = checks.iter().filter(|c| !c.passed()).count();
    match args.format {
        TableFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "device": spec.to_string(),
                "value_tolerance": VALUE_TOLERANCE,
                "gradient_tolerance": GRADIENT_TOLERANCE,
                "checks": checks,
            }))?
        )?,
        TableFormat::Table => {
            crate::outln!(
                "benchplan's kernels against candle's composed ops on `{spec}` (largest difference relative to the largest value; tolerance {VALUE_TOLERANCE:e} outputs, {GRADIENT_TOLERANCE:e} gradients)"
            )?;
            crate::outln!(
                "{:<14} {:<44} {:<9} {:>12} {:>12}  verdict",
                "kernel",
                "shape",
                "path",
                "output",
                "gradients"
            )?;
            for c in &checks {
                crate::outln!(
                    "{:<14} {:<44} {:<9} {:>12.2e} {:>12.2e}  {}",
                    c.kernel,
                    c.shape,
                    if c.fused { "fused" } else { "composed" },
                    c.value_error,
                    c.gradient_error,
                    match (c.passed(), c.fused) {
                        (false, _) => "DIFFERS",
                        (true, true) => "ok",
                        (true, false) => "ok (not fused on this device)",
                    }
                )?;
            }
        }
    }
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
