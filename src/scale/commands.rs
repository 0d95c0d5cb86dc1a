//! The command-line side of scaling out: `merge`, `shards`, `slurm` and `k8s`, their flags and
//! what they print.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::job::JobSpec;
use super::merge::{self, Input};
use super::shard::find_sets;
use super::{kubernetes, matrix, select, slurm, Launch};
use crate::plan::filter::Filter;
use crate::plan::Plan;
use crate::results::layout::{CELLS_FILE, PLAN_COPY};
use crate::results::store;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Result sets to merge: `cells.parquet` files, set folders, or folders searched for sets
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Results folder the merged set goes into (as `<study>/<machine>/<commit>/`); a set already
    /// there is merged too
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub into: PathBuf,
    /// Check the merged set against this plan: every cell must be there (exit 1 if not)
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// With `--plan`: expect only the cells these filters select
    #[arg(long = "filter", value_name = "KEY=VALUE", requires = "plan")]
    pub filters: Vec<String>,
    /// Machine folder of the merged set (default: the machine id, or `N-machines-HASH` for rows of several)
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
}

/// Flags of the engines' generators: how many shards, and what every shard's `run` gets.
#[derive(Args, Debug)]
pub struct ShardingArgs {
    /// The plan file
    pub plan: PathBuf,
    /// How many shards
    #[arg(long, value_name = "N")]
    pub shards: usize,
    /// Results folder: earlier durations are read from it, and the merged set goes into it
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Run only cells whose parameter KEY equals VALUE (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Each shard's run: `available` leaves out the cells of devices its node lacks
    #[arg(long, value_name = "WHICH", default_value = "all", value_parser = ["all", "available"])]
    pub devices: String,
    /// Each shard's run records cells on devices its node lacks as skipped
    #[arg(long)]
    pub skip_unavailable: bool,
    /// Balance the shards by this machine's earlier durations (its label, or a part of it naming
    /// one machine): the cluster's nodes, when results hold several machines (default: the
    /// machine whose results know the most cells)
    #[arg(long, value_name = "MACHINE")]
    pub balance_machine: Option<String>,
    /// Time limit per shard, e.g. `90m` or `2h` (default: derived from earlier durations or the
    /// plan's budgets; see `benchplan shards`)
    #[arg(long, value_name = "DURATION")]
    pub time_limit: Option<String>,
}

#[derive(Args, Debug)]
pub struct ShardsArgs {
    #[command(flatten)]
    pub sharding: ShardingArgs,
    /// Output: table, json, or github (one line, for `strategy.matrix: ${{ fromJSON(...) }}`)
    #[arg(long, default_value = "table", value_parser = ["table", "json", "github"])]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    #[command(flatten)]
    pub sharding: ShardingArgs,
    /// Folder for the scripts, the logs and each shard's result set
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Submit at once (runs the written `submit.sh`, which calls `sbatch`)
    #[arg(long)]
    pub submit: bool,
    /// Slurm partition
    #[arg(long)]
    pub partition: Option<String>,
    /// Extra `#SBATCH` option for both jobs, e.g. `--sbatch=--account=ml` (repeatable)
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Let shards share nodes (default: `--exclusive`, so no shard is timed beside other work)
    #[arg(long)]
    pub shared: bool,
    /// The benchplan executable the jobs run (default: this one)
    #[arg(long, value_name = "PATH")]
    pub benchplan: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KubernetesArgs {
    #[command(flatten)]
    pub sharding: ShardingArgs,
    /// Container image with `benchplan` on its PATH and the repository in `--workdir`
    #[arg(long)]
    pub image: String,
    /// Folder for the manifests (default: `k8s/<study>`)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The repository's folder inside the image
    #[arg(long, value_name = "DIR", default_value = "/benchplan")]
    pub workdir: PathBuf,
    /// Use this existing PersistentVolumeClaim (default: one is made, ReadWriteMany)
    #[arg(long, value_name = "NAME")]
    pub claim: Option<String>,
    /// Size of the claim made
    #[arg(long, default_value = "10Gi")]
    pub storage: String,
    /// Shards running at once (default: all)
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Let shards share nodes (default: one shard per node)
    #[arg(long)]
    pub shared: bool,
    /// Namespace of every object
    #[arg(long)]
    pub namespace: Option<String>,
    /// The commit the image holds (default: this repository's HEAD)
    #[arg(long)]
    pub commit: Option<String>,
}

/// The plan, its cells after `--filter`, and the job shape.
fn plan_job(args: &ShardingArgs) -> Result<(Plan, JobSpec)> {
    if args.shards == 0 {
        bail!("`--shards 0`: there must be at least one shard");
    }
    let plan = Plan::load_lenient(&args.plan)?;
    let cells = Filter::parse(&args.filters)?.apply(plan.cells().cloned().collect())?;
    if cells.is_empty() {
        bail!("no cell of `{}` matches the filters", args.plan.display());
    }
    if args.shards > cells.len() {
        bail!(
            "`--shards {}` is more than the {} cell(s) to run; use at most {}",
            args.shards,
            cells.len(),
            cells.len()
        );
    }
    let meta = crate::results::RunMetadata::collect(&args.plan, "", None, &args.results);
    let durations = select::durations(
        &plan.name,
        None,
        args.balance_machine.as_deref(),
        &args.results,
        &select::this_commit(&meta),
    )?;
    let mut job = JobSpec::new(&plan.name, &cells, args.shards, &durations);
    if let Some(text) = &args.time_limit {
        let Some(limit) = crate::plan::measure::parse_duration(text) else {
            bail!("`--time-limit {text}` is not a duration; write e.g. `90m`, `2h` or `3600s`");
        };
        job.time_limit_s = limit.as_secs().max(60);
        job.basis
            .push_str(&format!("; limit set by --time-limit {text}"));
    }
    Ok((plan, job))
}

/// The first 12 hex digits, as result folders name commits.
pub fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

fn run_args(args: &ShardingArgs) -> Vec<String> {
    let mut out = Vec::new();
    for f in &args.filters {
        out.push("--filter".to_owned());
        out.push(f.clone());
    }
    if args.devices != "all" {
        out.push("--devices".to_owned());
        out.push(args.devices.clone());
    }
    if args.skip_unavailable {
        out.push("--skip-unavailable".to_owned());
    }
    // Every shard must split by the same machine's times as the generator did.
    if let Some(m) = &args.balance_machine {
        out.push("--balance-machine".to_owned());
        out.push(m.clone());
    }
    out
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot make `{}` absolute", p.display()))
}

/// `benchplan shards`: the split, for people (table) or CI (json, github).
pub fn shards(args: ShardsArgs) -> Result<u8> {
    let (_, job) = plan_job(&args.sharding)?;
    match args.format.as_str() {
        "github" => println!("{}", serde_json::to_string(&matrix::github(&job))?),
        "json" => println!("{}", serde_json::to_string_pretty(&matrix::github(&job))?),
        _ => print!("{}", matrix::table(&job)),
    }
    Ok(0)
}

/// `benchplan slurm`: writes (and with `--submit`, submits) the job array and its merge job.
pub fn slurm(args: SlurmArgs) -> Result<u8> {
    let (plan, job) = plan_job(&args.sharding)?;
    let s = &args.sharding;
    let job_dir = absolute(
        &args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("slurm").join(&plan.name)),
    )?;
    let benchplan = match &args.benchplan {
        Some(p) => absolute(p)?,
        None => std::env::current_exe().context("cannot find this executable's path")?,
    };
    let launch = Launch {
        benchplan,
        plan: absolute(&s.plan)?,
        workdir: std::env::current_dir()?,
        results: absolute(&s.results)?,
        job_dir: job_dir.clone(),
        run_args: run_args(s),
        filters: s.filters.clone(),
        check_coverage: s.devices == "all",
    };
    let options = slurm::SlurmOptions {
        partition: args.partition.clone(),
        shared: args.shared,
        extra: args.sbatch.clone(),
    };
    let paths = slurm::write(&job, &launch, &options)?;
    crate::note!(
        "slurm: {} shards of study `{}` ({} cells; limit {} per shard{}); written: {}",
        job.shards,
        job.study,
        job.cells_per_shard.iter().sum::<usize>(),
        job.slurm_time(),
        if job.gpus > 0 {
            format!(", {} GPU(s) each", job.gpus)
        } else {
            String::new()
        },
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.submit {
        slurm::submit(&job_dir)?;
    } else {
        crate::note!("submit with: sh {}", job_dir.join("submit.sh").display());
    }
    Ok(0)
}

/// `benchplan k8s`: writes the Indexed Job, its volume claim, the merge Job and a fetch pod.
pub fn kubernetes(args: KubernetesArgs) -> Result<u8> {
    let (plan, job) = plan_job(&args.sharding)?;
    let s = &args.sharding;
    let commit = match &args.commit {
        Some(c) => c.clone(),
        None => {
            let meta = crate::results::RunMetadata::collect(&s.plan, "", None, &s.results);
            if meta.git_dirty {
                eprintln!("warning: the working tree has changes; an image built from it is not commit {}", short(&meta.git_commit));
            }
            meta.git_commit
        }
    };
    // Paths as the container sees them: the repository at `workdir`, results on the volume.
    let results = PathBuf::from("/results");
    let plan_in_image = if s.plan.is_absolute() {
        s.plan.clone()
    } else {
        args.workdir.join(&s.plan)
    };
    let launch = Launch {
        benchplan: PathBuf::from("benchplan"),
        plan: plan_in_image,
        workdir: args.workdir.clone(),
        job_dir: results
            .join("jobs")
            .join(format!("{}-{}", plan.name, short(&commit))),
        results,
        run_args: run_args(s),
        filters: s.filters.clone(),
        check_coverage: s.devices == "all",
    };
    let options = kubernetes::KubernetesOptions {
        image: args.image.clone(),
        claim: args.claim.clone(),
        storage: args.storage.clone(),
        parallelism: args.parallelism,
        shared: args.shared,
        commit,
        namespace: args.namespace.clone(),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("k8s").join(&plan.name));
    let paths = kubernetes::write(&dir, &kubernetes::manifests(&job, &launch, &options))?;
    for p in &paths {
        println!("{}", p.display());
    }
    crate::note!(
        "k8s: {} shards of study `{}`; apply with: kubectl apply -f {}",
        job.shards,
        job.study,
        dir.join("job.yaml").display()
    );
    Ok(0)
}

/// Every set under the inputs, read.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if !path.exists() {
            bail!("`{}` does not exist", path.display());
        }
        let sets = find_sets(path, "")?;
        if sets.is_empty() {
            bail!("no result set (`{CELLS_FILE}`) under `{}`", path.display());
        }
        for cells in sets {
            let records = store::read(&cells)?;
            inputs.push(Input {
                path: cells,
                records,
            });
        }
    }
    Ok(inputs)
}

/// `benchplan merge`: the sets as one, under `--into`; conflicts and missing cells reported.
pub fn merge(args: MergeArgs) -> Result<u8> {
    let mut inputs = read_inputs(&args.inputs)?;
    let (study, commit_label, machines) = merge::identity(&inputs)?;
    let machine = args
        .machine
        .clone()
        .unwrap_or_else(|| merge::machine_folder(&machines));
    crate::plan::validate::check_name("machine id", &machine)
        .map_err(|e| anyhow::anyhow!(e.replace('\n', "; ")))?;
    let dir = args.into.join(&study).join(&machine).join(&commit_label);
    // Held while the set is read and rewritten: no run writes into it meanwhile.
    let _lock = crate::results::lock::RunLock::acquire(&dir)?;
    let target = dir.join(CELLS_FILE);
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let target_is_input = inputs
        .iter()
        .any(|i| canonical(&i.path) == canonical(&target));
    if !target_is_input && (target.exists() || dir.join(store::PENDING_DIR).exists()) {
        let records = store::read(&target)?;
        crate::note!(
            "merge: `{}` already holds {} row(s); merging into it",
            target.display(),
            records.len()
        );
        inputs.insert(
            0,
            Input {
                path: target.clone(),
                records,
            },
        );
    }
    let merged = merge::merge(&inputs)?;
    if !dir.join(PLAN_COPY).exists() {
        if let Some(copy) = inputs
            .iter()
            .map(|i| i.path.parent().unwrap_or(Path::new(".")).join(PLAN_COPY))
            .find(|p| p.is_file())
        {
            std::fs::copy(&copy, dir.join(PLAN_COPY))
                .with_context(|| format!("cannot copy `{}`", copy.display()))?;
        }
    }
    store::replace_set(&target, &merged.records)?;
    let count = |s: crate::results::Status| merged.records.iter().filter(|r| r.status == s).count();
    use crate::results::Status;
    crate::note!(
        "merged {} row(s) from {} set(s) into `{}`: {} cell(s) on {} machine(s): {} ok, {} failed, {} skipped",
        merged.rows_read,
        inputs.len(),
        target.display(),
        merged.records.len(),
        merged.machines.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped)
    );
    if !merged.conflicts.is_empty() {
        eprintln!(
            "{} cell(s) had more than one row on the same machine; kept by the rule ok > failed > skipped, then the later start:",
            merged.conflicts.len()
        );
        for c in &merged.conflicts {
            eprintln!("  {} on `{}` ({})", c.cell_id, c.machine, c.key);
            eprintln!("    kept:    {}", c.kept);
            for d in &c.dropped {
                eprintln!("    dropped: {d}");
            }
        }
    }
    if let Some(plan_path) = &args.plan {
        let plan = Plan::load_lenient(plan_path)?;
        if plan.name != merged.study {
            bail!(
                "`{}` is study `{}`, but the merged rows are of study `{}`",
                plan_path.display(),
                plan.name,
                merged.study
            );
        }
        let cells = Filter::parse(&args.filters)?.apply(plan.cells().cloned().collect())?;
        let missing = merge::missing(&merged, &cells);
        if !missing.is_empty() {
            eprintln!(
                "{} of the plan's {} cell(s) have no row in any input:",
                missing.len(),
                cells.len()
            );
            for c in missing.iter().take(20) {
                eprintln!("  {}  {}  {}", c.id, c.experiment, c.key());
            }
            if missing.len() > 20 {
                eprintln!("  … and {} more", missing.len() - 20);
            }
            return Ok(crate::cli::EXIT_CELLS_FAILED);
        }
        crate::note!(
            "every one of the plan's {} cell(s) is in the merged set",
            cells.len()
        );
    }
    println!("{}", target.display());
    Ok(crate::cli::EXIT_OK)
}
