//! Scaling out on engines people already run, without a scheduler of benchplan's own: split a
//! plan into shards ([`shard`]), describe the shards as a Slurm job array ([`slurm`]), a
//! Kubernetes indexed Job ([`kubernetes`]) or a CI matrix ([`matrix`]), and put the result sets
//! back together ([`merge`]).

pub mod commands;
pub mod job;
pub mod kubernetes;
pub mod matrix;
pub mod merge;
pub mod select;
pub mod shard;
pub mod slurm;
pub mod yaml;

use std::path::{Path, PathBuf};

/// Where things are as a shard sees them: on a cluster's shared file system, the paths of
/// this machine; inside a container, the image's.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The benchplan executable.
    pub benchplan: PathBuf,
    pub plan: PathBuf,
    /// The folder commands run in (the repository, so that git names the commit).
    pub workdir: PathBuf,
    /// The results root the merged set goes into, and earlier durations come from.
    pub results: PathBuf,
    /// The folder of this job's files: scripts, logs, each shard's result set.
    pub job_dir: PathBuf,
    /// Arguments every shard's `run` gets besides its shard (`--filter`, `--skip-unavailable`…).
    pub run_args: Vec<String>,
    /// The `--filter`s among them, which the merge needs to know which cells to expect.
    pub filters: Vec<String>,
    /// Whether the merge can check that every cell of the plan came back. Not when shards
    /// keep only the cells of their machine's devices (`--devices available`).
    pub check_coverage: bool,
}

impl Launch {
    /// A shard's `run` command line, its index read from the shell variable `index_var`, its
    /// result set under `<job_dir>/shards/<index>`.
    pub fn shard_command(&self, shards: usize, index_var: &str) -> String {
        let q = |p: &Path| crate::format::shell_quote(&p.display().to_string());
        let mut words = vec![
            q(&self.benchplan),
            "run".into(),
            q(&self.plan),
            "--shard".into(),
            format!("\"${index_var}/{shards}\""),
            "--results".into(),
            format!("{}/\"${index_var}\"", q(&self.job_dir.join("shards"))),
            "--balance-from".into(),
            q(&self.results),
        ];
        words.extend(self.run_args.iter().map(|a| crate::format::shell_quote(a)));
        words.join(" ")
    }

    /// The merge command line: the shards' sets into the results root, checked against the plan.
    pub fn merge_command(&self, shards: &Path, quote: impl Fn(&Path) -> String) -> String {
        let mut words = vec![
            quote(&self.benchplan),
            "merge".to_owned(),
            quote(shards),
            "--into".to_owned(),
            quote(&self.results),
        ];
        if self.check_coverage {
            words.push("--plan".to_owned());
            words.push(quote(&self.plan));
            for f in &self.filters {
                words.push("--filter".to_owned());
                words.push(crate::format::shell_quote(f));
            }
        }
        words.join(" ")
    }
}
