//! The command line: the clap types and the dispatch, nothing else. Each command group has a
//! file that turns its flags into the library's requests and calls the library; what a command
//! does lives in its module (`runner`, `report`, `diff`, `scale`, `plan`, `device`), where tests
//! reach it. Errors come back as `anyhow::Error`; [`main`] prints them and exits 2.

mod ab;
mod authoring;
mod devices;
mod reports;
mod run;
mod scale;
mod values;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::diagnostic::FileErrors;
use crate::exit::ExitStatus;

#[derive(Parser, Debug)]
#[command(
    name = "benchplan",
    version,
    about = "Performance studies of ML workloads: TOML plan → matrix of cells → measured with candle → Parquet",
    after_help = "Exit status: 0 success, 1 some cells failed (run), a regression (diff) or missing cells (merge --plan), 2 bad input or error."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Say less on stderr: errors, failed cells and the summary only
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Say more on stderr: each cell's measurement settings and wall time
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a plan's cells and store their results under the results folder
    #[command(
        after_help = "Example:\n  benchplan run plans/quickstart.toml --filter workload=matmul"
    )]
    Run(run::RunArgs),
    /// Print the expanded matrix, one line per cell, without running anything
    #[command(
        after_help = "Example:\n  benchplan list plans/quickstart.toml --filter model=mlp-small"
    )]
    List(run::ListArgs),
    /// Validate plans; print every problem found, with file, line and column
    #[command(after_help = "Example:\n  benchplan check plans/*.toml")]
    Check(authoring::CheckArgs),
    /// Render the Markdown report of stored results (never runs a cell)
    #[command(
        after_help = "By default, one report per study: results/<study>/REPORT.md from the study's newest result set.\n\nExample:\n  benchplan report --study seed"
    )]
    Report(reports::ReportArgs),
    /// Compare the result sets of two commits (or two paths): what got faster or slower beyond noise
    #[command(
        after_help = "Sides are git revisions (found through the results layout) or result-set paths;\nwith none, HEAD's parent against HEAD.\n\nExit status: 0 nothing regressed, 1 a regression (see --fail-on), 2 error.\n\nExamples:\n  benchplan diff\n  benchplan diff main HEAD --study seed --format markdown\n  benchplan diff results/seed/m/abc results/seed/m/def --threshold 10%"
    )]
    Diff(reports::DiffArgs),
    /// Compare two revisions on this machine: their cells interleaved in the same rounds, then a paired diff
    #[command(
        after_help = "Checks each revision out into a git worktree and runs the cells the two plans share alternately\ninside the same rounds: `command` programs from each revision's tree, built-in cells with each\nrevision's benchplan build where --base-bin/--head-bin give one. Both result sets and diff.json are\nkept under <results>/<study>/<machine>/ab/<base>-vs-<head>/.\n\nExit status: 0 nothing regressed, 1 a regression (see --fail-on) or a failed cell, 2 error.\n\nExamples:\n  benchplan ab plans/noise.toml --base HEAD~1\n  benchplan ab plans/quickstart.toml --base main --head HEAD --base-bin /tmp/main/benchplan"
    )]
    Ab(ab::AbArgs),
    /// Measure a plan's cells A/A on this machine: each cell's noise, false alarms, the smallest change it can detect
    #[command(
        after_help = "Runs the cells twice, interleaved in the same rounds (or, with --from, splits a stored run's\nrounds in two), and stores per cell the spread between rounds, the false-alarm rate of the\ndefault diff over random re-splits, and the smallest change found with 80% power, as\n<results>/<study>/<machine>/calibration.json. `diff` and `ab` then judge each cell against the\nlarger of its threshold and what it can detect (--no-calibration ignores it).\n\nExamples:\n  benchplan calibrate plans/noise.toml\n  benchplan calibrate plans/noise.toml --from results/noise/m/0123456789ab"
    )]
    Calibrate(ab::CalibrateArgs),
    /// Combine result sets (shards, machines) into one: duplicates resolved, conflicts reported
    #[command(
        after_help = "Rule for a cell with several rows on one machine: ok beats failed beats skipped; then the\nlater start wins. Rows of different studies, commits or plans are refused.\n\nExit status: 0 merged (and, with --plan, complete), 1 cells of the plan missing, 2 error.\n\nExample:\n  benchplan merge slurm/seed/shards --plan plans/seed.toml --into results"
    )]
    Merge(scale::MergeArgs),
    /// Show how a plan splits into N shards (table), or print the split as a CI matrix (github)
    #[command(
        after_help = "Examples:\n  benchplan shards plans/seed.toml --shards 4\n  echo \"matrix=$(benchplan shards plans/seed.toml --shards 4 --format github)\" >> \"$GITHUB_OUTPUT\""
    )]
    Shards(scale::ShardsArgs),
    /// Write a Slurm job array (one task per shard) and a dependent merge job; optionally submit
    #[command(
        after_help = "Writes array.sbatch, merge.sbatch and submit.sh into --out (default slurm/<study>).\n\nExample:\n  benchplan slurm plans/seed.toml --shards 4 --partition gpu --submit"
    )]
    Slurm(scale::SlurmArgs),
    /// Write a Kubernetes Indexed Job (one pod per shard), its volume claim and a merge Job
    #[command(
        name = "k8s",
        after_help = "Writes job.yaml, merge-job.yaml and fetch-pod.yaml into --out (default k8s/<study>).\n\nExample:\n  benchplan k8s plans/seed.toml --shards 4 --image registry.example/benchplan:abc123"
    )]
    Kubernetes(scale::KubernetesArgs),
    /// List the devices this build can use on this machine, and the backends it was built with
    #[command(after_help = "Example:\n  benchplan devices --format json")]
    Devices(devices::DevicesArgs),
    /// Check benchplan's fused kernels (LSTM recurrence, attention, layer norm, AdamW) against candle's ops on a device
    #[command(
        name = "check-kernels",
        after_help = "Compares outputs and gradients at the canonical models' shapes. Exit status: 0 all agree,\n1 one differs beyond its tolerance, 2 error.\n\nExamples:\n  benchplan check-kernels --device cuda\n  benchplan check-kernels --device cpu --format json"
    )]
    CheckKernels(devices::CheckKernelsArgs),
    /// Write a commented starter plan (a small study of this machine's devices) into plans/
    #[command(
        after_help = "Refuses to overwrite a file. Writes plans/plan.schema.json beside it when missing.\n\nExample:\n  benchplan init my-study && benchplan explain plans/my-study.toml"
    )]
    Init(authoring::InitArgs),
    /// Show how a plan's matrix expands: axes, zip groups, each exclude and include, counts, skips here
    #[command(after_help = "Example:\n  benchplan explain plans/seed.toml --format json")]
    Explain(authoring::ExplainArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  benchplan completions bash > ~/.local/share/bash-completion/completions/benchplan\n  benchplan completions zsh > ~/.zfunc/_benchplan\n  benchplan completions fish > ~/.config/fish/completions/benchplan.fish"
    )]
    Completions(authoring::CompletionsArgs),
    /// Print the JSON Schema of plan files (for editors), or the plan reference as Markdown
    #[command(
        after_help = "The schema is generated from the types that parse plans; plans/plan.schema.json is this output.\n\nExamples:\n  benchplan schema > plans/plan.schema.json\n  benchplan schema --format markdown"
    )]
    Schema(authoring::SchemaArgs),
    /// Internal: run the cells named on stdin, one round each, writing their rows into a folder (the worker process of every round of an isolated `run`)
    #[command(name = "__worker", hide = true)]
    Worker(run::WorkerArgs),
}

/// Parses the process arguments, runs the command, prints any error, returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::verbosity::set(cli.quiet, cli.verbose);
    // Every command that stores or finds results derives a folder from it: check it once.
    if let Ok(commit) = std::env::var("BENCHPLAN_GIT_COMMIT") {
        if !commit.trim().is_empty() {
            if let Err(e) =
                crate::results::metadata::check_commit("BENCHPLAN_GIT_COMMIT", commit.trim())
            {
                report_error(&anyhow::anyhow!(e));
                return ExitStatus::Error.into();
            }
        }
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::List(args) => run::list(args),
        Command::Worker(args) => run::worker(args),
        Command::Check(args) => authoring::check(args),
        Command::Init(args) => authoring::init(args),
        Command::Explain(args) => authoring::explain(args),
        Command::Schema(args) => authoring::schema(args),
        Command::Completions(args) => authoring::completions::<Cli>(args),
        Command::Report(args) => reports::report(args),
        Command::Diff(args) => reports::diff(args),
        Command::Ab(args) => ab::ab(args),
        Command::Calibrate(args) => ab::calibrate(args),
        Command::Merge(args) => scale::merge(args),
        Command::Shards(args) => scale::shards(args),
        Command::Slurm(args) => scale::slurm(args),
        Command::Kubernetes(args) => scale::kubernetes(args),
        Command::Devices(args) => devices::devices(args),
        Command::CheckKernels(args) => devices::check_kernels(args),
    };
    let status = result.unwrap_or_else(|e| {
        report_error(&e);
        ExitStatus::Error
    });
    // Standard error could not be written (`2>/dev/full`): what the command said was lost, so
    // it did not succeed, though whatever it measured and saved is kept.
    if crate::console::stderr_failed() && status == ExitStatus::Success {
        return ExitStatus::Error.into();
    }
    status.into()
}

/// Prints an error: plan diagnostics as they render, anything else as a cause chain.
pub fn report_error(e: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    if let Some(file_errors) = e.downcast_ref::<FileErrors>() {
        let _ = write!(stderr, "{file_errors}");
    } else {
        let _ = writeln!(stderr, "error: {e:#}");
    }
}

/// What every command function returns.
type Outcome = Result<ExitStatus>;
