//! The command line: argument definitions and one function per subcommand. Errors come back
//! as `anyhow::Error`; `main` prints them and maps them to exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::diagnostic::FileErrors;
use crate::plan::validate::check_name;
use crate::plan::Plan;
use crate::results::layout::result_set_dir;
use crate::results::RunMetadata;
use crate::runner::events::Observer;
use crate::runner::progress::Progress;
use crate::runner::sink::ResultsSink;
use crate::scale::select::{select, SelectArgs};

/// Exit status: every cell ran and is `ok` (or `skipped`); for `check`, every plan is valid.
pub const EXIT_OK: u8 = 0;
/// Exit status: the run finished but some cells `failed`.
pub const EXIT_CELLS_FAILED: u8 = 1;
/// Exit status: bad input or another error; nothing was run, or the run could not go on.
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "benchplan",
    version,
    about = "Performance studies of ML workloads: TOML plan → matrix of cells → measured with candle → Parquet",
    after_help = "Exit status: 0 success, 1 some cells failed, 2 bad input or error."
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
    Run(RunArgs),
    /// Print the expanded matrix, one line per cell, without running anything
    #[command(
        after_help = "Example:\n  benchplan list plans/quickstart.toml --filter model=mlp-small"
    )]
    List(ListArgs),
    /// Validate plans; print every problem found, with file, line and column
    #[command(after_help = "Example:\n  benchplan check plans/*.toml")]
    Check(CheckArgs),
    /// Render the Markdown report of stored results (never runs a cell)
    #[command(
        after_help = "By default, one report per study: results/<study>/REPORT.md from the study's newest result set.\n\nExample:\n  benchplan report --study seed"
    )]
    Report(ReportArgs),
    /// Compare the result sets of two commits (or two paths): what got faster or slower beyond noise
    #[command(
        after_help = "Sides are git revisions (found through the results layout) or result-set paths;\nwith none, HEAD's parent against HEAD.\n\nExit status: 0 nothing regressed, 1 a regression (see --fail-on), 2 error.\n\nExamples:\n  benchplan diff\n  benchplan diff main HEAD --study seed --format markdown\n  benchplan diff results/seed/m/abc results/seed/m/def --threshold 10%"
    )]
    Diff(DiffArgs),
    /// Combine result sets (shards, machines) into one: duplicates resolved, conflicts reported
    #[command(
        after_help = "Rule for a cell with several rows on one machine: ok beats failed beats skipped; then the\nlater start wins. Rows of different studies, commits or plans are refused.\n\nExit status: 0 merged (and, with --plan, complete), 1 cells of the plan missing, 2 error.\n\nExample:\n  benchplan merge slurm/seed/shards --plan plans/seed.toml --into results"
    )]
    Merge(crate::scale::commands::MergeArgs),
    /// Show how a plan splits into N shards (table), or print the split as a CI matrix (github)
    #[command(
        after_help = "Examples:\n  benchplan shards plans/seed.toml --shards 4\n  echo \"matrix=$(benchplan shards plans/seed.toml --shards 4 --format github)\" >> \"$GITHUB_OUTPUT\""
    )]
    Shards(crate::scale::commands::ShardsArgs),
    /// Write a Slurm job array (one task per shard) and a dependent merge job; optionally submit
    #[command(
        after_help = "Writes array.sbatch, merge.sbatch and submit.sh into --out (default slurm/<study>).\n\nExample:\n  benchplan slurm plans/seed.toml --shards 4 --partition gpu --submit"
    )]
    Slurm(crate::scale::commands::SlurmArgs),
    /// Write a Kubernetes Indexed Job (one pod per shard), its volume claim and a merge Job
    #[command(
        name = "k8s",
        after_help = "Writes job.yaml, merge-job.yaml and fetch-pod.yaml into --out (default k8s/<study>).\n\nExample:\n  benchplan k8s plans/seed.toml --shards 4 --image registry.example/benchplan:abc123"
    )]
    Kubernetes(crate::scale::commands::KubernetesArgs),
    /// List the devices this build can use on this machine, and the backends it was built with
    #[command(after_help = "Example:\n  benchplan devices --format json")]
    Devices(DevicesArgs),
    /// Write a commented starter plan (a small study of this machine's devices) into plans/
    #[command(
        after_help = "Refuses to overwrite a file. Writes plans/plan.schema.json beside it when missing.\n\nExample:\n  benchplan init my-study && benchplan explain plans/my-study.toml"
    )]
    Init(InitArgs),
    /// Show how a plan's matrix expands: axes, zip groups, each exclude and include, counts, skips here
    #[command(after_help = "Example:\n  benchplan explain plans/seed.toml --format json")]
    Explain(ExplainArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  benchplan completions bash > ~/.local/share/bash-completion/completions/benchplan\n  benchplan completions zsh > ~/.zfunc/_benchplan\n  benchplan completions fish > ~/.config/fish/completions/benchplan.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the JSON Schema of plan files (for editors), or the plan reference as Markdown
    #[command(
        after_help = "The schema is generated from the types that parse plans; plans/plan.schema.json is this output.\n\nExamples:\n  benchplan schema > plans/plan.schema.json\n  benchplan schema --format markdown"
    )]
    Schema(SchemaArgs),
    /// Internal: run one cell of a plan and write its row to a file (the child process of every isolated cell of `run`)
    #[command(name = "__cell", hide = true)]
    Cell(CellArgs),
}

#[derive(Args, Debug)]
struct CellArgs {
    plan: PathBuf,
    cell_id: String,
    out: PathBuf,
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Study name; the plan is written to DIR/NAME.toml
    #[arg(default_value = "my-study")]
    name: String,
    /// Folder to write the plan into
    #[arg(long, value_name = "DIR", default_value = "plans")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The plan file
    plan: PathBuf,
    /// Output: text or json
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args, Debug)]
struct CompletionsArgs {
    /// The shell
    shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
struct SchemaArgs {
    /// Output: json (the schema) or markdown (the reference the README holds)
    #[arg(long, default_value = "json", value_parser = ["json", "markdown"])]
    format: String,
}

#[derive(Args, Debug)]
struct DevicesArgs {
    /// Output: table or json
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The old side: a git revision or a result-set path (default: HEAD~1)
    old: Option<String>,
    /// The new side: a git revision or a result-set path (default: HEAD)
    new: Option<String>,
    /// Folder that holds result sets
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// The study to compare, when a revision has results for several
    #[arg(long, value_name = "NAME")]
    study: Option<String>,
    /// The machine to compare, when a revision has results from several
    #[arg(long, value_name = "NAME")]
    machine: Option<String>,
    /// Compare result sets from different machines (such a diff measures the machines)
    #[arg(long)]
    allow_cross_machine: bool,
    /// Smallest change that counts, e.g. `5%` or `0.05`; an experiment's `diff_threshold` overrides it
    #[arg(long, value_name = "CHANGE", default_value = "5%")]
    threshold: String,
    /// Significance level for the adjusted p-values
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Multiple-comparison adjustment: holm (family-wise), bh (false discovery rate), none
    #[arg(long, default_value = "holm")]
    correction: String,
    /// Output: table, markdown (through templates/diff.md.j2) or json
    #[arg(long, default_value = "table")]
    format: String,
    /// Template for `--format markdown`
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// What makes the exit status 1: regressions, any (change), never
    #[arg(long, default_value = "regressions")]
    fail_on: String,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Folder that holds result sets
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Report only these studies (repeatable; default: every study with results)
    #[arg(long, value_name = "NAME")]
    study: Vec<String>,
    /// Report this result set instead: a cells.parquet file or its folder
    #[arg(long, value_name = "PATH", conflicts_with = "study")]
    set: Option<PathBuf>,
    /// Template to render (default: templates/report.md.j2 if present, else the built-in one)
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Where to write the report (default: REPORT.md beside the study's result sets; `-` for stdout)
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
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
struct ListArgs {
    /// The plan file
    plan: PathBuf,
    #[command(flatten)]
    select: SelectArgs,
    /// Where `--shard` looks for earlier durations (unless `--balance-from` says)
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Output: text, or json (one object per cell: id, experiment, workload, parameters)
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Plan files
    #[arg(required = true)]
    plans: Vec<PathBuf>,
    /// Results folder, for warnings about cells that took far longer than the others before
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
}

/// Parses the process arguments, runs the command, prints any error, returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::verbosity::set(cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::List(args) => list(args),
        Command::Check(args) => check(args),
        Command::Report(args) => report(args),
        Command::Diff(args) => diff(args),
        Command::Devices(args) => devices(args),
        Command::Merge(args) => crate::scale::commands::merge(args),
        Command::Shards(args) => crate::scale::commands::shards(args),
        Command::Slurm(args) => crate::scale::commands::slurm(args),
        Command::Kubernetes(args) => crate::scale::commands::kubernetes(args),
        Command::Cell(args) => cell(args),
        Command::Init(args) => init(args),
        Command::Explain(args) => explain(args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "benchplan", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Schema(args) => {
            if args.format == "markdown" {
                print!("{}", crate::plan::schema::reference_markdown());
            } else {
                print!("{}", crate::plan::schema::plan_schema_text());
            }
            Ok(EXIT_OK)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
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

fn load(path: &Path) -> Result<Plan> {
    shown(Plan::load(path)?)
}

/// [`load`] accepting devices this build lacks (their cells are skipped or left out).
fn load_lenient(path: &Path) -> Result<Plan> {
    shown(Plan::load_lenient(path)?)
}

/// The plan, after printing its warnings to stderr.
fn shown(plan: Plan) -> Result<Plan> {
    if !plan.warnings.is_empty() {
        eprint!("{}", plan.render_warnings());
    }
    Ok(plan)
}

fn run(args: RunArgs) -> Result<u8> {
    let plan = if args.skip_unavailable || args.select.devices == "available" {
        load_lenient(&args.plan)?
    } else {
        load(&args.plan)?
    };
    if let Some(machine) = &args.machine {
        check_name("machine id", machine).map_err(|e| anyhow::anyhow!(e.replace('\n', "; ")))?;
    }
    let meta = RunMetadata::collect(
        &args.plan,
        &plan.sha256,
        args.machine.as_deref(),
        &args.results,
    );
    let commit = crate::scale::select::this_commit(&meta);
    let selected = select(&plan, &args.select, &args.results, &commit)?;
    for note in &selected.notes {
        crate::note!("benchplan: {note}");
    }
    let cells = selected.cells;
    if cells.is_empty() {
        if args.select.shard.is_some() || args.select.devices != "all" {
            crate::note!("benchplan: no cell to run in this part of the plan");
            return Ok(EXIT_OK);
        }
        bail!(
            "no cell of `{}` matches the filters; `benchplan list` shows the cells",
            args.plan.display()
        );
    }
    if !args.skip_unavailable {
        check_devices_available(&cells)?;
    }
    let dir = result_set_dir(&args.results, &plan.name, &meta);
    let mut sink = ResultsSink::open(&dir, &plan.source)?;
    // Resume: a plain run measures only what this commit's set on this machine lacks as ok.
    // A dirty tree is not a commit's code, so its set is measured afresh every time.
    use crate::results::Status;
    let resumable = !meta.git_dirty && !args.force;
    let before = cells.len();
    let cells: Vec<_> = cells
        .into_iter()
        .filter(|c| match (args.retry_failed, sink.status_of(&c.id)) {
            (true, status) => status == Some(Status::Failed),
            (false, Some(Status::Ok)) => !resumable,
            (false, _) => true,
        })
        .collect();
    let kept = before - cells.len();
    if kept > 0 {
        let what = if args.retry_failed {
            "did not fail before"
        } else {
            "are already measured at this commit on this machine"
        };
        crate::note!(
            "benchplan: {kept} cell(s) {what}; their rows are kept (`--force` re-measures them)"
        );
    }
    if cells.is_empty() {
        crate::note!(
            "benchplan: nothing to run; results: {}",
            sink.cells_path().display()
        );
        return Ok(EXIT_OK);
    }
    let mut progress = Progress::new();
    crate::note!(
        "benchplan: running {} cell(s) of study `{}` on `{}` (commit {}); results in {}",
        cells.len(),
        plan.name,
        meta.machine,
        meta.commit_label(),
        dir.display()
    );
    let observers: &mut [&mut dyn Observer] = &mut [&mut sink, &mut progress];
    let options = crate::runner::RunOptions {
        skip_unavailable: args.skip_unavailable,
        isolate: !args.in_process,
    };
    let summary =
        crate::runner::run(&plan, &cells, &meta, options, observers).with_context(|| {
            format!(
                "the run stopped; results measured so far are in `{}`",
                dir.display()
            )
        })?;
    crate::note!("results: {}", sink.cells_path().display());
    Ok(if summary.failed > 0 {
        EXIT_CELLS_FAILED
    } else {
        EXIT_OK
    })
}

/// Refuses, before anything runs, a plan whose explicit devices (`cuda`, `metal`) this machine
/// cannot open. The portable `gpu` and `auto` never refuse: their cells are skipped or fall back.
fn check_devices_available(cells: &[crate::plan::Cell]) -> Result<()> {
    use crate::device::{DeviceKind, DeviceSpec};
    let mut seen = Vec::new();
    for cell in cells {
        // A command's program opens its own device; benchplan does not.
        if cell.workload == crate::plan::WorkloadKind::Command {
            continue;
        }
        let Ok(spec) = DeviceSpec::parse(cell.str_param("device")) else {
            continue;
        };
        if !matches!(spec.kind, DeviceKind::Cuda | DeviceKind::Metal) || seen.contains(&spec) {
            continue;
        }
        seen.push(spec);
        if let Err(e) = spec.open() {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            bail!(
                "device `{spec}` is not available on this machine ({first}); `benchplan devices` lists what is, and `--skip-unavailable` records its cells as skipped"
            );
        }
    }
    Ok(())
}

/// `benchplan __cell PLAN CELL_ID OUT`: one cell, its row written to OUT.
fn cell(args: CellArgs) -> Result<u8> {
    let plan = Plan::load_lenient(&args.plan)?;
    let cell = plan
        .cells()
        .find(|c| c.id == args.cell_id)
        .with_context(|| format!("`{}` has no cell `{}`", args.plan.display(), args.cell_id))?;
    let dir = args.out.parent().unwrap_or(Path::new("."));
    let meta = RunMetadata::collect(&args.plan, &plan.sha256, None, dir);
    let record = crate::runner::run_one(&plan, cell, &meta);
    crate::results::store::write_atomic(&args.out, &[record])?;
    Ok(EXIT_OK)
}

fn init(args: InitArgs) -> Result<u8> {
    let devices = crate::plan::init::local_devices();
    let path = crate::plan::init::write(&args.dir, &args.name, &devices)?;
    println!("{}", path.display());
    crate::note!(
        "wrote a starter plan for {} ({} cells); next:\n  benchplan explain {p}\n  benchplan check {p}\n  benchplan run {p}",
        devices.join(" and "),
        6 * devices.len(),
        p = path.display()
    );
    Ok(EXIT_OK)
}

fn explain(args: ExplainArgs) -> Result<u8> {
    let plan = load_lenient(&args.plan)?;
    let x = crate::plan::explain::explain(&plan);
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&x)?);
    } else {
        print!("{}", crate::plan::explain::render(&x));
    }
    Ok(EXIT_OK)
}

fn list(args: ListArgs) -> Result<u8> {
    let plan = load(&args.plan)?;
    let commit = if args.select.shard.is_some() {
        let meta = RunMetadata::collect(&args.plan, &plan.sha256, None, &args.results);
        crate::scale::select::this_commit(&meta)
    } else {
        String::new()
    };
    let selected = select(&plan, &args.select, &args.results, &commit)?;
    for note in &selected.notes {
        eprintln!("{note}");
    }
    let cells = selected.cells;
    if args.format == "json" {
        let rows: Vec<serde_json::Value> = cells
            .iter()
            .map(|c| {
                let params: serde_json::Map<String, serde_json::Value> = c
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                serde_json::json!({
                    "id": c.id,
                    "experiment": c.experiment,
                    "workload": c.workload.name(),
                    "key": c.key(),
                    "params": params,
                    "measure": c.measure.describe(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(EXIT_OK);
    }
    let exp_width = cells.iter().map(|c| c.experiment.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for cell in &cells {
        writeln!(
            out,
            "{}  {:<exp_width$}  {}",
            cell.id,
            cell.experiment,
            cell.key()
        )?;
    }
    writeln!(out, "{} cell(s)", cells.len())?;
    Ok(EXIT_OK)
}

/// Lists every program a plan would run, one line per cell, in a form a shell would read back
/// as the same argument vector (benchplan itself never uses a shell).
fn print_commands(plan: &crate::plan::Plan) {
    let programs: Vec<_> = plan
        .experiments
        .iter()
        .filter_map(|e| e.command.as_ref().map(|c| (e, c)))
        .collect();
    if programs.is_empty() {
        return;
    }
    let count: usize = programs.iter().map(|(e, _)| e.cells.len()).sum();
    let dir = plan.path.parent().filter(|p| !p.as_os_str().is_empty());
    println!(
        "this plan runs programs: {count} command(s), in `{}`:",
        dir.map_or(".".into(), |d| d.display().to_string())
    );
    for (e, template) in programs {
        for cell in &e.cells {
            match crate::plan::command::render(template, cell, &plan.name) {
                Ok(argv) => println!(
                    "  {}  {}",
                    cell.id,
                    argv.iter()
                        .map(|a| crate::format::shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Err(why) => println!("  {}  (cannot be formed: {why})", cell.id),
            }
        }
    }
}

fn check(args: CheckArgs) -> Result<u8> {
    let mut failed = 0;
    for path in &args.plans {
        match load(path) {
            Ok(plan) => {
                println!(
                    "ok: {}: {} experiment(s), {} cell(s)",
                    path.display(),
                    plan.experiments.len(),
                    plan.cells().count()
                );
                print_commands(&plan);
                for w in crate::plan::explain::machine_warnings(&plan, &args.results) {
                    eprintln!("warning: {}: {w}", path.display());
                }
            }
            Err(e) => {
                report_error(&e);
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
}

fn report(args: ReportArgs) -> Result<u8> {
    use crate::report::{machine_of, newest, result_sets, studies, ResultSet, TemplateSource};
    let template = TemplateSource::report(args.template.as_deref());
    if let Some(set) = &args.set {
        let set = ResultSet::at(set)?;
        let records = crate::results::store::read(&set.cells)?;
        let out = set.dir().join("REPORT.md");
        write_report(&set, &records, args.output.as_deref(), out, &template)?;
        return Ok(EXIT_OK);
    }
    let names = if args.study.is_empty() {
        studies(&args.results)?
    } else {
        args.study.clone()
    };
    if names.is_empty() {
        bail!(
            "no results under `{}`; run a plan first (`benchplan run PLAN`)",
            args.results.display()
        );
    }
    for study in &names {
        let sets = result_sets(&args.results, study)?;
        let mut machines: Vec<String> = sets.iter().map(machine_of).collect();
        machines.dedup();
        if machines.is_empty() {
            bail!(
                "study `{study}` has no result sets under `{}`",
                args.results.join(study).display()
            );
        }
        if args.output.is_some() && (names.len() > 1 || machines.len() > 1) {
            bail!("`--output` names one file, but there is a report per study and machine; pick one with `--study` and `--set`");
        }
        // One report per machine, from its newest result set, and an index of them.
        let mut index = Vec::new();
        for machine in &machines {
            let of_machine: Vec<ResultSet> = sets
                .iter()
                .filter(|s| machine_of(s) == *machine)
                .cloned()
                .collect();
            let Some((set, records)) = newest(&of_machine)? else {
                continue;
            };
            let out = args.results.join(study).join(machine).join("REPORT.md");
            let views = write_report(&set, &records, args.output.as_deref(), out, &template)?;
            index.push(index_row(machine, &views));
        }
        if args.output.is_none() {
            let description = sets.first().map(ResultSet::description).unwrap_or_default();
            let ctx = minijinja::context! { study => study, description => description, machines => index };
            let index_template = TemplateSource::choose(
                None,
                crate::report::INDEX_TEMPLATE_NAME,
                crate::report::INDEX_TEMPLATE,
            );
            let out = args.results.join(study).join("REPORT.md");
            std::fs::write(&out, crate::report::render_value(ctx, &index_template)?)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            crate::note!(
                "report: {} (index of {} machine(s))",
                out.display(),
                machines.len()
            );
        }
    }
    Ok(EXIT_OK)
}

/// The study index's row of one machine folder. A merged folder of several machines
/// (`2-machines-…`) lists each machine's hardware in `parts` and adds up their cells; the
/// single-machine fields name its first machine, for templates written before merges.
fn index_row(folder: &str, views: &[crate::report::Report]) -> minijinja::Value {
    let first = &views[0];
    let mut devices: Vec<String> = Vec::new();
    for d in views.iter().flat_map(|v| &v.devices) {
        let name = format!("{} ({})", d.device, d.name);
        if !devices.contains(&name) {
            devices.push(name);
        }
    }
    let parts: Vec<minijinja::Value> = views
        .iter()
        .map(|v| {
            minijinja::context! {
                machine => v.machine.id,
                cpu_model => v.machine.cpu_model,
                cpu_cores => v.machine.cpu_cores,
                os => v.machine.os,
                cells => v.cells,
            }
        })
        .collect();
    minijinja::context! {
        machine => folder,
        cpu_model => first.machine.cpu_model,
        cpu_cores => first.machine.cpu_cores,
        os => first.machine.os,
        parts => parts,
        devices => devices,
        commit => first.commit,
        run_started_at => views.iter().map(|v| v.run_started_at.as_str()).min().unwrap_or_default(),
        ok => views.iter().map(|v| v.ok).sum::<usize>(),
        failed => views.iter().map(|v| v.failed).sum::<usize>(),
        skipped => views.iter().map(|v| v.skipped).sum::<usize>(),
        report => format!("{folder}/REPORT.md"),
    }
}

/// Renders one result set's report to `output` (`-` for stdout) or `default_out`, with its
/// charts beside it. A set that holds rows of several machines (a merge) gets a section per
/// machine: figures of different machines are never put in one table.
fn write_report(
    set: &crate::report::ResultSet,
    records: &[crate::results::CellRecord],
    output: Option<&Path>,
    default_out: PathBuf,
    template: &crate::report::TemplateSource,
) -> Result<Vec<crate::report::Report>> {
    let mut machines: Vec<&str> = records.iter().map(|r| r.meta.machine.as_str()).collect();
    machines.sort_unstable();
    machines.dedup();
    if machines.is_empty() {
        bail!("`{}` holds no cells", set.cells.display());
    }
    // One machine (the usual case): the rows as they are; several: each machine's rows apart.
    let groups: Vec<Vec<crate::results::CellRecord>> = if machines.len() == 1 {
        Vec::new()
    } else {
        machines
            .iter()
            .map(|m| {
                records
                    .iter()
                    .filter(|r| r.meta.machine == *m)
                    .cloned()
                    .collect()
            })
            .collect()
    };
    let parts: Vec<&[crate::results::CellRecord]> = if groups.is_empty() {
        vec![records]
    } else {
        groups.iter().map(Vec::as_slice).collect()
    };
    let views = parts
        .iter()
        .map(|rows| {
            Ok(crate::report::Report::build(
                rows,
                &set.description(),
                &set.cells.display().to_string(),
                &set.prices(),
            )
            .with_context(|| format!("`{}` holds no cells", set.cells.display()))?
            .compare(rows, &set.comparisons()))
        })
        .collect::<Result<Vec<_>>>()?;
    let several = views.len() > 1;
    let preamble = |views: &[crate::report::Report]| {
        format!(
            "<!-- merged result set: one report per machine -->\nThis result set holds rows from {} machines; each has its own section below: {}.\n\n",
            views.len(),
            views
                .iter()
                .map(|v| format!("`{}` ({}, {} cells)", v.machine.id, v.machine.cpu_model, v.cells))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match output {
        Some(p) if p == Path::new("-") => {
            if several {
                print!("{}", preamble(&views));
            }
            for view in &views {
                print!("{}", crate::report::render(view, template)?);
            }
        }
        other => {
            let out = other.map(Path::to_path_buf).unwrap_or(default_out);
            // Charts go beside the report, named after it, so several reports can share a folder.
            let dir = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut text = if several {
                preamble(&views)
            } else {
                String::new()
            };
            for view in &views {
                let prefix = if several {
                    format!("{stem}-{}-", view.machine.id)
                } else {
                    format!("{stem}-")
                };
                let charts = crate::report::charts::draw_all(view, dir, &prefix)?;
                text.push_str(&crate::report::render_with_charts(view, &charts, template)?);
            }
            std::fs::write(&out, &text)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            crate::note!("report: {} (from {})", out.display(), set.cells.display());
        }
    }
    Ok(views)
}

/// `5%` or `0.05` as a fraction.
fn parse_fraction(text: &str) -> Result<f64> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => bail!("`{text}` is not a threshold; write e.g. `5%` or `0.05`"),
    }
}

fn diff(args: DiffArgs) -> Result<u8> {
    use crate::diff::{compare, output, resolve, Settings};
    use crate::stats::compare::Correction;
    let threshold = parse_fraction(&args.threshold)?;
    let correction = Correction::parse(&args.correction).with_context(|| {
        format!(
            "unknown correction `{}`; use holm, bh or none",
            args.correction
        )
    })?;
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("`--alpha {}` must be between 0 and 1", args.alpha);
    }
    let fail_on = args.fail_on.as_str();
    if !matches!(fail_on, "regressions" | "any" | "never") {
        bail!("unknown `--fail-on {fail_on}`; use regressions, any or never");
    }
    if !matches!(args.format.as_str(), "table" | "markdown" | "json") {
        bail!(
            "unknown `--format {}`; use table, markdown or json",
            args.format
        );
    }
    let choice = resolve::Choice {
        results: &args.results,
        study: args.study.as_deref(),
        machine: args.machine.as_deref(),
        allow_cross_machine: args.allow_cross_machine,
    };
    let (old, new) = resolve::resolve(args.old.as_deref(), args.new.as_deref(), &choice)?;
    let settings = Settings {
        threshold,
        experiment_thresholds: new.set.diff_thresholds(),
        alpha: args.alpha,
        correction,
        ..Settings::default()
    };
    let d = compare(
        &old.records,
        &new.records,
        &old.label,
        &new.label,
        &settings,
    );
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&d)?),
        "markdown" => {
            let template = crate::report::TemplateSource::choose(
                args.template.as_deref(),
                crate::report::DIFF_TEMPLATE_NAME,
                crate::report::DIFF_TEMPLATE,
            );
            print!(
                "{}",
                crate::report::render_value(minijinja::Value::from_serialize(&d), &template)?
            );
        }
        _ => {
            use std::io::IsTerminal;
            let colour = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print!("{}", output::table(&d, colour));
        }
    }
    let failed = match fail_on {
        "never" => false,
        "any" => d.has_change(),
        _ => d.has_regression(),
    };
    Ok(if failed { EXIT_CELLS_FAILED } else { EXIT_OK })
}

fn devices(args: DevicesArgs) -> Result<u8> {
    let meta = RunMetadata::collect(Path::new("."), "", None, Path::new("results"));
    let found = crate::device::available(&meta.cpu_model);
    let built = crate::device::built_backends();
    match args.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "devices": found, "built_with": built, "machine": meta.machine })
            )?
        ),
        "table" => {
            let width = found
                .iter()
                .map(|d| d.device.len())
                .max()
                .unwrap_or(6)
                .max(6);
            println!(
                "{:<width$}  {:<7}  {:>10}  name",
                "device", "backend", "memory"
            );
            for d in &found {
                let memory = d.memory_bytes.map_or("–".into(), crate::format::bytes);
                println!(
                    "{:<width$}  {:<7}  {:>10}  {}",
                    d.device, d.backend, memory, d.name
                );
            }
            println!("\nbuilt with: {}", built.join(", "));
            println!("machine id: {} ({})", meta.machine, meta.os);
            if !built.contains(&"cuda") && !built.contains(&"metal") {
                println!("no accelerator backend in this build: on NVIDIA, build with `cargo build --release --features cuda`; on macOS, Metal is built by default");
            }
        }
        other => bail!("unknown `--format {other}`; use table or json"),
    }
    Ok(EXIT_OK)
}
