//! `benchplan ab` through the real binary, on a scratch git repository whose benchmark program
//! reports scripted timings (read from a file each revision commits), so that the verdicts do
//! not depend on this machine's speed: each revision is checked out apart, its program runs
//! from its own tree, both sides are measured in the same rounds, and the paired diff finds the
//! cell that a commit (or an uncommitted change) made slower, and only that one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use benchplan::results::store;

use crate::common;

const PLAN: &str = r#"
version = 1
name = "abtest"

[measure]
warmup = 0
iterations = 40
rounds = 4

[[experiments]]
name = "work"
workload = "command"
command = ["python3", "../programs/bench.py", "{kernel}"]
[experiments.matrix]
kernel = ["a", "b", "c"]
"#;

/// Reports `ms` samples: the kernel's speed from `speeds.json` in its own tree, with a fixed
/// pattern of spread, so that every round of a side reads the same.
const PROGRAM: &str = r#"
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
base = json.load(open(os.path.join(here, "speeds.json")))[sys.argv[1]]
for i in range(int(os.environ["BENCHPLAN_ITERATIONS"])):
    print(json.dumps({"event": "sample", "ms": base * (1 + (i % 5) / 100)}), flush=True)
"#;

fn git(dir: &Path, args: &[&str]) {
    common::git(dir, args);
}

fn speeds(repo: &Path, a: f64, b: f64, c: f64) {
    std::fs::write(
        repo.join("programs/speeds.json"),
        format!(r#"{{"a": {a}, "b": {b}, "c": {c}}}"#),
    )
    .unwrap();
}

/// A repository with two commits: the second makes kernel `b` 1.5× slower.
fn repository(name: &str) -> PathBuf {
    let repo = std::env::temp_dir().join(format!("benchplan-ab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join("plans")).unwrap();
    std::fs::create_dir_all(repo.join("programs")).unwrap();
    std::fs::write(repo.join("plans/ab.toml"), PLAN).unwrap();
    std::fs::write(repo.join("programs/bench.py"), PROGRAM).unwrap();
    std::fs::write(repo.join(".gitignore"), "results/\n").unwrap();
    speeds(&repo, 1.0, 2.0, 3.0);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    speeds(&repo, 1.0, 3.0, 3.0);
    git(&repo, &["commit", "-q", "-am", "b slower"]);
    repo
}

fn ab(repo: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["ab", "plans/ab.toml", "--machine", "m", "--format", "json"])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

fn verdicts(diff: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = diff["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_commits_interleaved_find_the_cell_the_second_made_slower() {
    let repo = repository("commits");
    let (out, diff) = ab(&repo, &["--base", "HEAD~1", "--head", "HEAD"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a regression fails: {stderr}");
    assert_eq!(
        verdicts(&diff),
        [
            ("kernel=a".into(), "no_change".into()),
            ("kernel=b".into(), "slower".into()),
            ("kernel=c".into(), "no_change".into())
        ]
    );
    let b = diff["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "kernel=b")
        .unwrap();
    assert_eq!(b["method"], "paired rounds");
    assert!((b["ratio"].as_f64().unwrap() - 1.5).abs() < 1e-9, "{b}");

    // Both sides are result sets of their own commit, in the same four rounds, interleaved.
    let ab_root = repo.join("results/abtest/m/ab");
    let dirs: Vec<_> = std::fs::read_dir(&ab_root).unwrap().flatten().collect();
    assert_eq!(dirs.len(), 1);
    let dir = dirs[0].path();
    assert!(dir.join("diff.json").is_file());
    let base = store::read(&dir.join("base/cells.parquet")).unwrap();
    let head = store::read(&dir.join("head/cells.parquet")).unwrap();
    assert_eq!((base.len(), head.len()), (3, 3));
    assert_ne!(base[0].meta.git_commit, head[0].meta.git_commit);
    assert_eq!(base[0].meta.run_started_at, head[0].meta.run_started_at);
    for (o, n) in base.iter().zip(&head) {
        assert_eq!(o.round_sample_counts.len(), 4);
        assert_eq!(n.round_sample_counts.len(), 4);
        // Round r of a cell ran back to back on the two sides.
        for (po, pn) in o.round_positions.iter().zip(&n.round_positions) {
            assert_eq!(
                po / 2,
                pn / 2,
                "{:?} {:?}",
                o.round_positions,
                n.round_positions
            );
        }
    }
    // The worktrees are gone, and git forgot them.
    let list = Command::new("git")
        .args(["-C", repo.to_str().unwrap(), "worktree", "list"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1);
    let _ = std::fs::remove_dir_all(&repo);
}

#[test]
fn an_uncommitted_change_is_compared_with_a_revision_and_bad_revisions_are_named() {
    let repo = repository("working");
    speeds(&repo, 1.3, 3.0, 3.0);
    let (out, diff) = ab(&repo, &["--base", "HEAD"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        verdicts(&diff),
        [
            ("kernel=a".into(), "slower".into()),
            ("kernel=b".into(), "no_change".into()),
            ("kernel=c".into(), "no_change".into())
        ]
    );
    assert!(
        diff["new_label"].as_str().unwrap().ends_with("-dirty)"),
        "{}",
        diff["new_label"]
    );

    let (out, _) = ab(&repo, &["--base", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`no-such-branch` names no commit"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&repo);
}
