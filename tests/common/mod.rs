//! Result records with scripted samples, shared by the tests that need results without
//! running anything (reports, diffs), so they never depend on this machine's speed.

#![allow(dead_code)] // not every helper is used in every build (cfg(unix) modules)

use std::collections::BTreeMap;

use benchplan::plan::ParamValue;
use benchplan::results::{CellRecord, RunMetadata, Status};

/// Metadata of a run on the test machine `machine`.
pub fn meta(machine: &str) -> RunMetadata {
    RunMetadata {
        git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
        git_dirty: false,
        plan_path: "plans/snap.toml".into(),
        plan_sha256: "ab".repeat(32),
        hostname: "snapshot-host".into(),
        machine: machine.into(),
        os: "linux 6.1.0 (Test OS)".into(),
        arch: "x86_64".into(),
        cpu_model: "Test CPU".into(),
        cpu_cores: 2,
        candle_version: "0.9.2".into(),
        cpu_backend: "gemm crate (pure Rust), AVX2+FMA, 2 threads".into(),
        benchplan_version: "0.1.0".into(),
        run_started_at: "2026-11-26T12:00:00Z".into(),
    }
}

/// An `ok` CPU record of `params` with the given samples and id; every optional figure empty,
/// for the caller to fill in.
pub fn record(
    experiment: &str,
    workload: &str,
    id: String,
    params: &[(&str, ParamValue)],
    samples_ms: Vec<f64>,
    meta: RunMetadata,
) -> CellRecord {
    let params: BTreeMap<String, ParamValue> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let key = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    CellRecord {
        study: "snap".into(),
        experiment: experiment.into(),
        workload: workload.into(),
        cell_id: id,
        cell_key: key,
        params,
        device_kind: "cpu".into(),
        device_name: "Test CPU".into(),
        status: Status::Ok,
        warmup_samples_ms: samples_ms
            .first()
            .map(|x| vec![x * 1.5])
            .unwrap_or_default(),
        samples_ms,
        measure_settings: "warmup=3 iterations=20".into(),
        cell_started_at: "2026-11-26T12:00:01Z".into(),
        cell_wall_s: 1.0,
        meta,
        // Every optional figure empty, one round: as `CellRecord::blank` has them.
        ..CellRecord::blank()
    }
}

/// Runs git in `dir` as a throwaway committer (no signing); its stdout, trimmed. Fails the test
/// with git's message when git fails.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
