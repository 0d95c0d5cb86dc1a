//! `run`, `list` and the hidden `__worker`: their flags, turned into a [`RunRequest`] or a
//! [`Selection`].

use std::path::PathBuf;

use clap::Args;

use super::values::{DevicesArg, TextFormat};
use super::Outcome;
use crate::exit::ExitStatus;
use crate::plan::listing;
use crate::results::RunMetadata;
use crate::runner::plan_run::{load_plan, run_plan, RunRequest};
use crate::scale::select::{select, this_commit, Selection};
use crate::scale::shard::ShardSpec;

/// The selection flags `run` and `list` share.
#[derive(Args, Debug, Clone)]
pub struct SelectArgs {
    /// Only cells whose parameter KEY equals VALUE (repeatable; one key repeated = any of its values)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Only the K-th of N disjoint parts of the cells (K from 0), balanced by earlier durations
    #[arg(long, value_name = "K/N")]
    pub shard: Option<ShardSpec>,
    /// Where `--shard` finds earlier durations: a results folder or a result set; `none` splits by
    /// cell id (default: the `--results` folder, leaving out this commit's sets)
    #[arg(long, value_name = "PATH")]
    pub balance_from: Option<PathBuf>,
    /// Balance `--shard` by this machine's earlier durations (its label from `benchplan devices`
    /// or a result folder, or a part of it naming one machine), e.g. the cluster's nodes
    /// (default: the machine whose results know the most cells)
    #[arg(long, value_name = "MACHINE")]
    pub balance_machine: Option<String>,
    /// Which cells by device: `available` leaves out those of devices this machine lacks, for
    /// studies that span machines with different hardware
    #[arg(long, value_name = "WHICH", value_enum, default_value_t = DevicesArg::All)]
    pub devices: DevicesArg,
}

impl From<SelectArgs> for Selection {
    fn from(a: SelectArgs) -> Selection {
        Selection {
            filters: a.filters,
            shard: a.shard,
            balance_from: a.balance_from,
            balance_machine: a.balance_machine,
            devices: a.devices.into(),
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file
    plan: PathBuf,
    #[command(flatten)]
    select: SelectArgs,
    /// Folder that holds result sets
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Machine id naming the result folder (default: derived from OS, CPU model and core count)
    #[arg(long, value_name = "NAME", env = "BENCHPLAN_MACHINE")]
    machine: Option<String>,
    /// Record cells on devices this build or machine lacks as skipped, instead of refusing the run
    #[arg(long)]
    skip_unavailable: bool,
    /// Re-measure cells that this commit's result set on this machine already has as ok
    #[arg(long, conflicts_with = "retry_failed")]
    force: bool,
    /// Run only the cells that failed before
    #[arg(long)]
    retry_failed: bool,
    /// Run every cell in this process instead of a child process per cell (the default, which
    /// makes a crash, an out-of-memory kill or a hung kernel fail that cell only, and enforces
    /// timeouts): saves ~25 ms per cell, and shows live medians while a cell runs
    #[arg(long)]
    in_process: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The plan file
    plan: PathBuf,
    #[command(flatten)]
    select: SelectArgs,
    /// Where `--shard` looks for earlier durations (unless `--balance-from` says)
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Output: text, or json (one object per cell: id, experiment, workload, parameters)
    #[arg(long, value_enum, default_value_t = TextFormat::Text)]
    format: TextFormat,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    plan: PathBuf,
    dir: PathBuf,
}

pub fn run(args: RunArgs) -> Outcome {
    run_plan(&RunRequest {
        plan: args.plan,
        selection: args.select.into(),
        results: args.results,
        machine: args.machine,
        skip_unavailable: args.skip_unavailable,
        force: args.force,
        retry_failed: args.retry_failed,
        in_process: args.in_process,
    })
}

pub fn list(args: ListArgs) -> Outcome {
    let plan = load_plan(&args.plan, false)?;
    // Only a shard needs the commit (its durations leave this commit's sets out).
    let commit = match args.select.shard {
        Some(_) => this_commit(&RunMetadata::collect(
            &args.plan,
            &plan.sha256,
            None,
            &args.results,
        )),
        None => String::new(),
    };
    let selected = select(&plan, &args.select.into(), &args.results, &commit)?;
    for note in &selected.notes {
        crate::errln!("{note}");
    }
    match args.format {
        TextFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&listing::cells_json(&selected.cells))?
        )?,
        TextFormat::Text => crate::out!("{}", listing::cells_text(&selected.cells))?,
    }
    Ok(ExitStatus::Success)
}

pub fn worker(args: WorkerArgs) -> Outcome {
    crate::runner::worker::serve(&args.plan, &args.dir)?;
    Ok(ExitStatus::Success)
}
