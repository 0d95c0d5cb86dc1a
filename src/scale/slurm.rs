//! Slurm: a job array whose task K runs shard K (`SLURM_ARRAY_TASK_ID`), and a merge job that
//! Slurm starts once every task succeeded (`--dependency=afterok`), which merges the shards and
//! renders the report. benchplan writes the scripts; Slurm schedules them.
//!
//! Files written into the job folder: `array.sbatch`, `merge.sbatch`, and `submit.sh`, which
//! submits both with the dependency and records the job ids in `jobs`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::job::JobSpec;
use super::Launch;
use crate::format::shell_quote;

/// Slurm settings beyond what the plan gives.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Let shards share nodes with other jobs (and each other). Off by default: timings taken
    /// beside other work measure that work too.
    pub shared: bool,
    /// Extra `#SBATCH` lines, as given (`--account=x`).
    pub extra: Vec<String>,
}

/// The scripts, by file name, in the order they are written.
pub fn scripts(
    job: &JobSpec,
    launch: &Launch,
    options: &SlurmOptions,
) -> Vec<(&'static str, String)> {
    let dir = &launch.job_dir;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut header = vec![format!("#SBATCH --chdir={}", launch.workdir.display())];
    if let Some(p) = &options.partition {
        header.push(format!("#SBATCH --partition={p}"));
    }
    for extra in &options.extra {
        header.push(format!("#SBATCH {extra}"));
    }
    let common = header.join("\n");

    let mut array = vec![
        "#!/bin/bash".to_owned(),
        format!(
            "# Written by benchplan {} for plan `{}` (study `{}`): {} shards as one job array.",
            env!("CARGO_PKG_VERSION"),
            launch.plan.display(),
            job.study,
            job.shards
        ),
        format!("# {}.", job.basis),
        format!(
            "# Cells per shard: {:?}; estimated seconds: {:?}.",
            job.cells_per_shard,
            job.estimated_s
                .iter()
                .map(|s| s.round() as u64)
                .collect::<Vec<_>>()
        ),
        format!("#SBATCH --job-name=benchplan-{}", job.study),
        format!("#SBATCH --array=0-{}", job.shards - 1),
        format!("#SBATCH --time={}", job.slurm_time()),
        format!("#SBATCH --output={}/logs/shard-%a.out", dir.display()),
    ];
    if !options.shared {
        array.push("#SBATCH --exclusive".to_owned());
    }
    if job.gpus > 0 {
        array.push(format!("#SBATCH --gres=gpu:{}", job.gpus));
    }
    array.push(common.clone());
    array.push(String::new());
    array.push("set -uo pipefail".to_owned());
    array.push(
        "shard=\"${SLURM_ARRAY_TASK_ID:?this script runs as a task of a Slurm job array}\""
            .to_owned(),
    );
    array.push(launch.shard_command(job.shards, "shard"));
    array.push("status=$?".to_owned());
    array.push(
        "# 1: the run finished and some cells failed. Those rows are results: the merge reports\n# them. Anything above is an error, and fails the task (and so cancels the merge).\nif [ \"$status\" -gt 1 ]; then exit \"$status\"; fi".to_owned(),
    );
    array.push(String::new());

    let merge = vec![
        "#!/bin/bash".to_owned(),
        format!(
            "# Written by benchplan {}: merges the {} shards of study `{}` and renders its report.",
            env!("CARGO_PKG_VERSION"),
            job.shards,
            job.study
        ),
        format!("#SBATCH --job-name=benchplan-{}-merge", job.study),
        "#SBATCH --time=00:30:00".to_owned(),
        format!("#SBATCH --output={}/logs/merge.out", dir.display()),
        common,
        String::new(),
        "set -euo pipefail".to_owned(),
        launch.merge_command(&dir.join("shards"), q),
        format!(
            "{} report --study {} --results {}",
            q(&launch.benchplan),
            shell_quote(&job.study),
            q(&launch.results)
        ),
        String::new(),
    ];

    let submit = format!(
        "#!/bin/sh
# Written by benchplan {}: submits the shards of study `{}` as a job array, and the merge to
# start once every shard succeeded; a shard that fails cancels the merge
# (--kill-on-invalid-dep). The job ids go to `jobs` (array, then merge).
set -eu
cd {}
mkdir -p logs shards
array=$(sbatch --parsable array.sbatch)
array=${{array%%;*}}
merge=$(sbatch --parsable --dependency=afterok:\"$array\" --kill-on-invalid-dep=yes merge.sbatch)
merge=${{merge%%;*}}
echo \"$array $merge\" > jobs
echo \"submitted: job array $array ({} shards), merge job $merge (after every shard succeeds)\"
echo \"watch: squeue -j $array,$merge   logs: {}/logs/\"
",
        env!("CARGO_PKG_VERSION"),
        job.study,
        q(dir),
        job.shards,
        dir.display()
    );
    vec![
        ("array.sbatch", array.join("\n")),
        ("merge.sbatch", merge.join("\n")),
        ("submit.sh", submit),
    ]
}

/// Writes the scripts into the job folder; returns their paths.
pub fn write(job: &JobSpec, launch: &Launch, options: &SlurmOptions) -> Result<Vec<PathBuf>> {
    let dir = &launch.job_dir;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut paths = Vec::new();
    for (name, text) in scripts(job, launch, options) {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Runs `submit.sh` (which calls `sbatch`), passing its output through; returns the job ids.
pub fn submit(job_dir: &Path) -> Result<(String, String)> {
    let script = job_dir.join("submit.sh");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .output()
        .with_context(|| format!("cannot run `{}`", script.display()))?;
    crate::errout!("{}", String::from_utf8_lossy(&out.stderr));
    crate::out!("{}", String::from_utf8_lossy(&out.stdout))?;
    if !out.status.success() {
        bail!(
            "submitting failed ({}); is `sbatch` on the PATH and the cluster up? The scripts stay in `{}`",
            out.status,
            job_dir.display()
        );
    }
    let ids = std::fs::read_to_string(job_dir.join("jobs")).unwrap_or_default();
    let mut it = ids.split_whitespace().map(str::to_owned);
    Ok((it.next().unwrap_or_default(), it.next().unwrap_or_default()))
}
