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
