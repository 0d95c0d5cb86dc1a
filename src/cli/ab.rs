//! `ab`: two revisions of a plan's cells, interleaved in the same rounds on this machine, and
//! the paired diff of them.

use std::path::PathBuf;

use clap::Args;

use super::reports::VerdictArgs;
use super::Outcome;
use crate::ab::{run_ab, AbRequest};
use crate::exit::ExitStatus;

/// Which cells, where their results go, and the machine they are filed under: the flags `ab`
/// and `calibrate` share.
#[derive(Args, Debug)]
pub struct CellsArgs {
    /// Only cells whose parameter KEY equals VALUE (repeatable; one key repeated = any of its values)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Folder that holds result sets (`ab` keeps its sets under <study>/<machine>/ab/, `calibrate`
    /// writes <study>/<machine>/calibration.json)
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Machine id naming the result folder (default: derived from OS, CPU model and core count)
    #[arg(long, value_name = "NAME", env = "BENCHPLAN_MACHINE")]
    machine: Option<String>,
}

#[derive(Args, Debug)]
pub struct AbArgs {
    /// The plan file (in this working tree; the same path is read from each revision)
    plan: PathBuf,
    /// The old revision (a commit, branch or tag)
    #[arg(long, value_name = "REV")]
    base: String,
    /// The new revision (default: the working tree as it is, uncommitted changes included)
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// The base revision's benchplan build, for its built-in (non-`command`) cells
    #[arg(long, value_name = "FILE")]
    base_bin: Option<PathBuf>,
    /// The head revision's benchplan build (default: this one)
    #[arg(long, value_name = "FILE")]
    head_bin: Option<PathBuf>,
    #[command(flatten)]
    cells: CellsArgs,
    /// Run built-in cells in this process (both revisions then run this build's code)
    #[arg(long)]
    in_process: bool,
    #[command(flatten)]
    verdicts: VerdictArgs,
}

pub fn ab(args: AbArgs) -> Outcome {
    let settings = args.verdicts.settings()?;
    let request = AbRequest {
        plan: args.plan,
        base: args.base,
        head: args.head,
        base_bin: args.base_bin,
        head_bin: args.head_bin,
        filters: args.cells.filters,
        results: args.cells.results,
        machine: args.cells.machine,
        in_process: args.in_process,
        use_calibration: !args.verdicts.no_calibration,
    };
    let outcome = run_ab(&request, &settings)?;
    crate::note!("A/B results and diff.json: {}", outcome.dir.display());
    let shown = args.verdicts.show(&outcome.diff)?;
    Ok(if outcome.failed > 0 && shown == ExitStatus::Success {
        ExitStatus::Failure
    } else {
        shown
    })
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The plan file
    plan: PathBuf,
    #[command(flatten)]
    cells: CellsArgs,
    /// Measure nothing: split the rounds of this stored result set (even against odd) instead
    #[arg(long, value_name = "SET")]
    from: Option<PathBuf>,
    /// Random re-splits of the halves' rounds for the false-alarm rate
    #[arg(long, default_value_t = 200)]
    splits: usize,
    /// Run built-in cells in this process
    #[arg(long)]
    in_process: bool,
    /// Significance level of the diffs it simulates
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Threshold of the diffs it simulates, e.g. `5%`
    #[arg(long, value_name = "CHANGE", default_value = "5%")]
    threshold: String,
    /// Output: a table, or the stored calibration as JSON
    #[arg(long, value_enum, default_value_t = super::values::TextFormat::Text)]
    format: super::values::TextFormat,
}

pub fn calibrate(args: CalibrateArgs) -> Outcome {
    let settings = crate::diff::Settings::from_flags(
        &args.threshold,
        args.alpha,
        crate::stats::compare::Correction::Holm,
        Default::default(),
    )?;
    let request = crate::ab::calibrate::CalibrateRequest {
        plan: args.plan,
        filters: args.cells.filters,
        results: args.cells.results,
        machine: args.cells.machine,
        from: args.from,
        splits: args.splits,
        in_process: args.in_process,
    };
    let (path, cal) = crate::ab::calibrate::run_calibration(&request, &settings)?;
    match args.format {
        super::values::TextFormat::Json => {
            crate::outln!("{}", serde_json::to_string_pretty(&cal)?)?
        }
        super::values::TextFormat::Text => crate::out!("{}", crate::ab::calibrate::table(&cal))?,
    }
    crate::note!("calibration: {}", path.display());
    Ok(ExitStatus::Success)
}
