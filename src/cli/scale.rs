//! Scaling out: `merge`, `shards`, `slurm` and `k8s`, turned into the requests of
//! [`crate::scale::commands`].

use std::path::PathBuf;

use clap::Args;

use super::values::{DevicesArg, ShardsFormat};
use super::Outcome;
use crate::exit::ExitStatus;
use crate::scale::commands::{
    self as scaling, KubernetesRequest, MergeRequest, Sharding, SlurmRequest,
};
use crate::scale::matrix;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Result sets to merge: `cells.parquet` files, set folders, or folders searched for sets
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Results folder the merged set goes into (as `<study>/<machine>/<commit>/`); a set already
    /// there is merged too
    #[arg(long, value_name = "DIR", default_value = "results")]
    into: PathBuf,
    /// Check the merged set against this plan: every cell must be there (exit 1 if not)
    #[arg(long, value_name = "PLAN")]
    plan: Option<PathBuf>,
    /// With `--plan`: expect only the cells these filters select
    #[arg(long = "filter", value_name = "KEY=VALUE", requires = "plan")]
    filters: Vec<String>,
    /// Machine folder of the merged set (default: the machine id, or `N-machines-HASH` for rows of several)
    #[arg(long, value_name = "NAME")]
    machine: Option<String>,
}

/// Flags of the engines' generators: how many shards, and what every shard's `run` gets.
#[derive(Args, Debug)]
pub struct ShardingArgs {
    /// The plan file
    plan: PathBuf,
    /// How many shards
    #[arg(long, value_name = "N")]
    shards: usize,
    /// Results folder: earlier durations are read from it, and the merged set goes into it
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Run only cells whose parameter KEY equals VALUE (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Each shard's run: `available` leaves out the cells of devices its node lacks
    #[arg(long, value_name = "WHICH", value_enum, default_value_t = DevicesArg::All)]
    devices: DevicesArg,
    /// Each shard's run records cells on devices its node lacks as skipped
    #[arg(long)]
    skip_unavailable: bool,
    /// Balance the shards by this machine's earlier durations (its label, or a part of it naming
    /// one machine): the cluster's nodes, when results hold several machines (default: the
    /// machine whose results know the most cells)
    #[arg(long, value_name = "MACHINE")]
    balance_machine: Option<String>,
    /// Time limit per shard, e.g. `90m` or `2h` (default: derived from earlier durations or the
    /// plan's budgets; see `benchplan shards`)
    #[arg(long, value_name = "DURATION")]
    time_limit: Option<String>,
}

impl From<ShardingArgs> for Sharding {
    fn from(a: ShardingArgs) -> Sharding {
        Sharding {
            plan: a.plan,
            shards: a.shards,
            results: a.results,
            filters: a.filters,
            devices: a.devices.into(),
            skip_unavailable: a.skip_unavailable,
            balance_machine: a.balance_machine,
            time_limit: a.time_limit,
        }
    }
}

#[derive(Args, Debug)]
pub struct ShardsArgs {
    #[command(flatten)]
    sharding: ShardingArgs,
    /// Output
    #[arg(long, value_enum, default_value_t = ShardsFormat::Table)]
    format: ShardsFormat,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    #[command(flatten)]
    sharding: ShardingArgs,
    /// Folder for the scripts, the logs and each shard's result set
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Submit at once (runs the written `submit.sh`, which calls `sbatch`)
    #[arg(long)]
    submit: bool,
    /// Slurm partition
    #[arg(long)]
    partition: Option<String>,
    /// Extra `#SBATCH` option for both jobs, e.g. `--sbatch=--account=ml` (repeatable)
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// Let shards share nodes (default: `--exclusive`, so no shard is timed beside other work)
    #[arg(long)]
    shared: bool,
    /// The benchplan executable the jobs run (default: this one)
    #[arg(long, value_name = "PATH")]
    benchplan: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KubernetesArgs {
    #[command(flatten)]
    sharding: ShardingArgs,
    /// Container image with `benchplan` on its PATH and the repository in `--workdir`
    #[arg(long)]
    image: String,
    /// Folder for the manifests (default: `k8s/<study>`)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The repository's folder inside the image
    #[arg(long, value_name = "DIR", default_value = "/benchplan")]
    workdir: PathBuf,
    /// Use this existing PersistentVolumeClaim (default: one is made, ReadWriteMany)
    #[arg(long, value_name = "NAME")]
    claim: Option<String>,
    /// Size of the claim made
    #[arg(long, default_value = "10Gi")]
    storage: String,
    /// Shards running at once (default: all)
    #[arg(long)]
    parallelism: Option<usize>,
    /// Let shards share nodes (default: one shard per node)
    #[arg(long)]
    shared: bool,
    /// Namespace of every object
    #[arg(long)]
    namespace: Option<String>,
    /// The commit the image holds (default: this repository's HEAD)
    #[arg(long)]
    commit: Option<String>,
}

pub fn merge(a: MergeArgs) -> Outcome {
    scaling::merge(&MergeRequest {
        inputs: a.inputs,
        into: a.into,
        plan: a.plan,
        filters: a.filters,
        machine: a.machine,
    })
}

pub fn shards(a: ShardsArgs) -> Outcome {
    let (_, job) = scaling::plan_job(&a.sharding.into())?;
    match a.format {
        ShardsFormat::Github => crate::outln!("{}", serde_json::to_string(&matrix::github(&job))?)?,
        ShardsFormat::Json => {
            crate::outln!("{}", serde_json::to_string_pretty(&matrix::github(&job))?)?
        }
        ShardsFormat::Table => crate::out!("{}", matrix::table(&job))?,
    }
    Ok(ExitStatus::Success)
}

pub fn slurm(a: SlurmArgs) -> Outcome {
    scaling::slurm(&SlurmRequest {
        sharding: a.sharding.into(),
        out: a.out,
        submit: a.submit,
        partition: a.partition,
        sbatch: a.sbatch,
        shared: a.shared,
        benchplan: a.benchplan,
    })
}

pub fn kubernetes(a: KubernetesArgs) -> Outcome {
    scaling::kubernetes(&KubernetesRequest {
        sharding: a.sharding.into(),
        image: a.image,
        out: a.out,
        workdir: a.workdir,
        claim: a.claim,
        storage: a.storage,
        parallelism: a.parallelism,
        shared: a.shared,
        namespace: a.namespace,
        commit: a.commit,
    })
}
