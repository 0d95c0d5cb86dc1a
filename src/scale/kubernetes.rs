//! Kubernetes: an Indexed Job (`completionMode: Indexed`) whose pod K runs shard K, the index
//! coming from `JOB_COMPLETION_INDEX`, with the GPUs the plan's devices need; a volume claim
//! the shards write into; a Job that merges the shards and renders the report; and a pod to
//! copy the results out with `kubectl cp`.
//!
//! Kubernetes has no "after these pods" between Jobs, so the merge is applied once the shards'
//! Job is complete (`kubectl wait --for=condition=complete`), as the book (docs/src/cluster.md) shows.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::job::JobSpec;
use super::yaml::to_yaml;
use super::Launch;
use crate::format::shell_quote;

/// Settings a cluster needs that a plan cannot know.
#[derive(Debug, Clone)]
pub struct KubernetesOptions {
    /// An image holding `benchplan` on its PATH and the repository at `Launch::workdir`.
    pub image: String,
    /// An existing claim to use; without one, a ReadWriteMany claim of `storage` is made.
    pub claim: Option<String>,
    pub storage: String,
    /// Shards running at once (default: all).
    pub parallelism: Option<usize>,
    /// Let several shards share a node. Off by default: one shard per node, so that no shard
    /// times its cells beside another's.
    pub shared: bool,
    /// The commit the image was built from: containers have no `.git` to ask.
    pub commit: String,
    pub namespace: Option<String>,
}

/// A name Kubernetes accepts (RFC 1123 label: lowercase letters, digits, `-`; at most 63).
pub fn dns_name(text: &str) -> String {
    let mut name: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(52);
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        "study".to_owned()
    } else {
        name
    }
}

fn metadata(name: &str, study: &str, options: &KubernetesOptions) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {"app.kubernetes.io/name": "benchplan", "benchplan/study": dns_name(study)}
    });
    if let Some(ns) = &options.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn container(name: &str, script: String, launch: &Launch, options: &KubernetesOptions) -> Value {
    json!({
        "name": name,
        "image": options.image,
        "workingDir": launch.workdir.display().to_string(),
        "command": ["sh", "-c", script],
        "env": [{"name": "BENCHPLAN_GIT_COMMIT", "value": options.commit}],
        "volumeMounts": [{"name": "results", "mountPath": launch.results.display().to_string()}]
    })
}

fn volumes(claim: &str) -> Value {
    json!([{"name": "results", "persistentVolumeClaim": {"claimName": claim}}])
}

/// The manifests, by file name: `job.yaml` (claim and shards), `merge-job.yaml`, `fetch-pod.yaml`.
pub fn manifests(
    job: &JobSpec,
    launch: &Launch,
    options: &KubernetesOptions,
) -> Vec<(&'static str, String)> {
    let base = format!("benchplan-{}", dns_name(&job.study));
    let claim = options
        .claim
        .clone()
        .unwrap_or_else(|| format!("{base}-results"));
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let shards_dir = launch.job_dir.join("shards");

    // Exit status 1 means some cells failed: their rows are results, and the merge reports them.
    let script = format!(
        "{}; s=$?; [ \"$s\" -le 1 ] || exit \"$s\"",
        launch.shard_command(job.shards, "JOB_COMPLETION_INDEX")
    );
    let mut shard = container("shard", script, launch, options);
    let mut limits = serde_json::Map::new();
    if job.gpus > 0 {
        limits.insert("nvidia.com/gpu".into(), json!(job.gpus));
    }
    if !limits.is_empty() {
        shard["resources"] = json!({ "limits": limits });
    }
    let parallelism = options
        .parallelism
        .unwrap_or(job.shards)
        .clamp(1, job.shards);
    let waves = job.shards.div_ceil(parallelism) as u64;
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "containers": [shard],
        "volumes": volumes(&claim)
    });
    if !options.shared {
        pod_spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"benchplan/job": base}},
            "topologyKey": "kubernetes.io/hostname"
        }]}});
    }
    let indexed = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&base, &job.study, options),
        "spec": {
            "completionMode": "Indexed",
            "completions": job.shards,
            "parallelism": parallelism,
            "backoffLimit": job.shards,
            "activeDeadlineSeconds": job.time_limit_s * waves,
            "template": {
                "metadata": {"labels": {"benchplan/job": base}},
                "spec": pod_spec
            }
        }
    });
    let claim_doc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(&claim, &job.study, options),
        "spec": {
            // Shards on different nodes write at the same time.
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": options.storage}}
        }
    });
    let header = format!(
        "# Written by benchplan {} for plan `{}` (study `{}`): {} shards as one Indexed Job.\n# {}.\n# Cells per shard: {:?}.\n",
        env!("CARGO_PKG_VERSION"),
        launch.plan.display(),
        job.study,
        job.shards,
        job.basis,
        job.cells_per_shard
    );
    let mut job_yaml = header;
    if options.claim.is_none() {
        job_yaml.push_str(&to_yaml(&claim_doc));
        job_yaml.push_str("---\n");
    }
    job_yaml.push_str(&to_yaml(&indexed));

    let merge_script = format!(
        "{} && {} report --study {} --results {}",
        launch.merge_command(&shards_dir, q),
        q(&launch.benchplan),
        shell_quote(&job.study),
        q(&launch.results)
    );
    let merge = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&format!("{base}-merge"), &job.study, options),
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [container("merge", merge_script, launch, options)],
                "volumes": volumes(&claim)
            }}
        }
    });
    let fetch = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(&format!("{base}-fetch"), &job.study, options),
        "spec": {
            "restartPolicy": "Never",
            "containers": [container("fetch", "sleep 3600".into(), launch, options)],
            "volumes": volumes(&claim)
        }
    });
    vec![
        ("job.yaml", job_yaml),
        (
            "merge-job.yaml",
            format!(
                "# Apply once `{base}` is complete: merges its shards into {} and renders the report.\n{}",
                launch.results.display(),
                to_yaml(&merge)
            ),
        ),
        (
            "fetch-pod.yaml",
            format!(
                "# A pod that holds the results volume, to copy it out:\n#   kubectl cp {base}-fetch:{} ./results\n{}",
                launch.results.display(),
                to_yaml(&fetch)
            ),
        ),
    ]
}

/// Writes the manifests into `dir`; returns their paths.
pub fn write(dir: &Path, manifests: &[(&'static str, String)]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    manifests
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc_1123_labels() {
        assert_eq!(dns_name("vs_PyTorch.2"), "vs-pytorch-2");
        assert_eq!(dns_name("__"), "study");
        assert!(dns_name(&"x".repeat(80)).len() <= 52);
    }
}
