//! What `merge`, `shards`, `slurm` and `k8s` do, from a request (the command line's flags,
//! resolved) to the files written and the lines printed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::job::JobSpec;
use super::merge::{self, Input};
use super::select::{self, DeviceChoice};
use super::{kubernetes, slurm, Launch};
use crate::exit::ExitStatus;
use crate::plan::filter::Filter;
use crate::plan::Plan;
use crate::results::catalog::find_sets;
use crate::results::layout::{CELLS_FILE, PLAN_COPY};
use crate::results::store;

/// What `merge` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct MergeRequest {
    /// Result sets: cells files, set folders, or folders searched for sets.
    pub inputs: Vec<PathBuf>,
    /// Results folder the merged set goes into (as `<study>/<machine>/<commit>/`).
    pub into: PathBuf,
    /// Check the merged set against this plan: every cell must be there.
    pub plan: Option<PathBuf>,
    /// With `plan`: expect only the cells these filters select.
    pub filters: Vec<String>,
    /// Machine folder of the merged set (default: the machine id, or `N-machines-HASH`).
    pub machine: Option<String>,
}

/// How the job generators (`shards`, `slurm`, `k8s`) split a plan, and what every shard's
/// `run` gets.
#[derive(Debug, Clone, Default)]
pub struct Sharding {
    pub plan: PathBuf,
    /// How many shards.
    pub shards: usize,
    /// Earlier durations are read from it, and the merged set goes into it.
    pub results: PathBuf,
    /// `KEY=VALUE` filters.
    pub filters: Vec<String>,
    /// Each shard's `--devices`.
    pub devices: DeviceChoice,
    /// Each shard's run records cells on devices its node lacks as skipped.
    pub skip_unavailable: bool,
    /// Balance by this machine's earlier durations.
    pub balance_machine: Option<String>,
    /// Time limit per shard, as the user wrote it (`90m`).
    pub time_limit: Option<String>,
}

/// What `slurm` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct SlurmRequest {
    pub sharding: Sharding,
    /// Folder for the scripts, the logs and each shard's result set (default `slurm/<study>`).
    pub out: Option<PathBuf>,
    /// Submit at once (runs the written `submit.sh`).
    pub submit: bool,
    pub partition: Option<String>,
    /// Extra `#SBATCH` options for both jobs.
    pub sbatch: Vec<String>,
    /// Let shards share nodes (default: `--exclusive`).
    pub shared: bool,
    /// The benchplan executable the jobs run (default: this one).
    pub benchplan: Option<PathBuf>,
}

/// What `k8s` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct KubernetesRequest {
    pub sharding: Sharding,
    /// Container image with `benchplan` on its PATH and the repository in `workdir`.
    pub image: String,
    /// Folder for the manifests (default `k8s/<study>`).
    pub out: Option<PathBuf>,
    /// The repository's folder inside the image.
    pub workdir: PathBuf,
    /// An existing PersistentVolumeClaim (default: one is made).
    pub claim: Option<String>,
    /// Size of the claim made.
    pub storage: String,
    /// Shards running at once (default: all).
    pub parallelism: Option<usize>,
    /// Let shards share nodes.
    pub shared: bool,
    pub namespace: Option<String>,
    /// The commit the image holds (default: this repository's HEAD).
    pub commit: Option<String>,
}

/// The plan, its cells after `--filter`, and the job shape.
pub fn plan_job(args: &Sharding) -> Result<(Plan, JobSpec)> {
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

fn run_args(args: &Sharding) -> Vec<String> {
    let mut out = Vec::new();
    for f in &args.filters {
        out.push("--filter".to_owned());
        out.push(f.clone());
    }
    if args.devices == DeviceChoice::Available {
        out.push("--devices".to_owned());
        out.push("available".to_owned());
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

/// `benchplan slurm`: writes (and with `--submit`, submits) the job array and its merge job.
pub fn slurm(args: &SlurmRequest) -> Result<ExitStatus> {
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
        check_coverage: s.devices == DeviceChoice::All,
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
    Ok(ExitStatus::Success)
}

/// `benchplan k8s`: writes the Indexed Job, its volume claim, the merge Job and a fetch pod.
pub fn kubernetes(args: &KubernetesRequest) -> Result<ExitStatus> {
    let (plan, job) = plan_job(&args.sharding)?;
    let s = &args.sharding;
    let commit = match &args.commit {
        Some(c) => {
            crate::results::metadata::check_commit("--commit", c).map_err(anyhow::Error::msg)?;
            c.clone()
        }
        None => {
            let meta = crate::results::RunMetadata::collect(&s.plan, "", None, &s.results);
            if meta.git_dirty {
                crate::errln!("warning: the working tree has changes; an image built from it is not commit {}", short(&meta.git_commit));
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
        check_coverage: s.devices == DeviceChoice::All,
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
        crate::outln!("{}", p.display())?;
    }
    crate::note!(
        "k8s: {} shards of study `{}`; apply with: kubectl apply -f {}",
        job.shards,
        job.study,
        dir.join("job.yaml").display()
    );
    Ok(ExitStatus::Success)
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
        for set in sets {
            let records = set.read()?;
            inputs.push(Input {
                path: set.cells,
                records,
            });
        }
    }
    Ok(inputs)
}

/// `benchplan merge`: the sets as one, under `--into`; conflicts and missing cells reported.
pub fn merge(args: &MergeRequest) -> Result<ExitStatus> {
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
        crate::errln!(
            "{} cell(s) had more than one row on the same machine; kept by the rule ok > failed > skipped, then the later start:",
            merged.conflicts.len()
        );
        for c in &merged.conflicts {
            crate::errln!("  {} on `{}` ({})", c.cell_id, c.machine, c.key);
            crate::errln!("    kept:    {}", c.kept);
            for d in &c.dropped {
                crate::errln!("    dropped: {d}");
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
            crate::errln!(
                "{} of the plan's {} cell(s) have no row in any input:",
                missing.len(),
                cells.len()
            );
            for c in missing.iter().take(20) {
                crate::errln!("  {}  {}  {}", c.id, c.experiment, c.key());
            }
            if missing.len() > 20 {
                crate::errln!("  … and {} more", missing.len() - 20);
            }
            return Ok(ExitStatus::Failure);
        }
        crate::note!(
            "every one of the plan's {} cell(s) is in the merged set",
            cells.len()
        );
    }
    crate::outln!("{}", target.display())?;
    Ok(ExitStatus::Success)
}
