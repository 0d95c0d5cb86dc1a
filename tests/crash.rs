//! Crash safety through the real binary: a run killed with SIGKILL at arbitrary moments, then
//! resumed, again and again, ends with exactly the plan's cells, each once, and its result set
//! is readable after every kill. A second run pointed at a set being written is refused.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benchplan::results::{store, Status};

fn plan(seeds: usize, iterations: &str) -> String {
    let seeds = (0..seeds)
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
version = 1
name = "crash"

[measure]
warmup = 0
iterations = "{iterations}"
min_iterations = 1

[[experiments]]
name = "mm"
workload = "matmul"
[experiments.matrix]
n = [48]
seed = [{seeds}]
"#
    )
}

fn scratch(name: &str, plan_text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("benchplan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.toml"), plan_text).unwrap();
    dir
}

fn benchplan(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_benchplan"));
    c.args(args)
        .current_dir(dir)
        .env_remove("BENCHPLAN_MACHINE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn cells_file(dir: &Path) -> PathBuf {
    dir.join("results/crash/m/nogit/cells.parquet")
}

/// A deterministic sequence of pauses (xorshift), so a failure can be replayed.
fn pauses(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(50 + x % 350)
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_then_resume_loses_and_duplicates_nothing() {
    let dir = scratch("kill", &plan(60, "30ms"));
    let listed = benchplan(&dir, &["list", "plan.toml"]).output().unwrap();
    let expected: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.len() == 16)
        .map(str::to_owned)
        .collect();
    assert_eq!(expected.len(), 60);

    let mut kills = 0;
    for pause in pauses(10) {
        let mut child = benchplan(&dir, &["run", "plan.toml", "--machine", "m"])
            .spawn()
            .unwrap();
        std::thread::sleep(pause);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        // After any kill the set reads back whole (or does not exist yet).
        let file = cells_file(&dir);
        if file.exists() {
            let rows =
                store::read(&file).unwrap_or_else(|e| panic!("unreadable after a kill: {e:#}"));
            let ids: BTreeSet<_> = rows.iter().map(|r| r.cell_id.clone()).collect();
            assert_eq!(ids.len(), rows.len(), "a cell appears twice");
            assert!(ids.is_subset(&expected));
        }
    }
    assert!(
        kills >= 3,
        "the pauses should interrupt most runs, got {kills} kills"
    );

    let done = benchplan(&dir, &["run", "plan.toml", "--machine", "m"])
        .output()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let rows = store::read(&cells_file(&dir)).unwrap();
    let ids: BTreeSet<_> = rows.iter().map(|r| r.cell_id.clone()).collect();
    assert_eq!(rows.len(), 60, "exactly the plan's cells");
    assert_eq!(ids, expected);
    assert!(rows.iter().all(|r| r.status == Status::Ok));
    assert!(
        !cells_file(&dir).with_file_name("pending").exists()
            || std::fs::read_dir(cells_file(&dir).with_file_name("pending"))
                .unwrap()
                .next()
                .is_none(),
        "a finished run leaves no pending rows"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_run_on_the_same_set_is_refused_naming_the_lock_and_its_owner() {
    let dir = scratch("lock", &plan(2, "3s"));
    let mut first = benchplan(&dir, &["run", "plan.toml", "--machine", "m"])
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (its lock file names it).
    let lock = cells_file(&dir).with_file_name(".lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |t| t.is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = benchplan(&dir, &["run", "plan.toml", "--machine", "m"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another run is writing this result set"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    assert!(stderr.contains(".lock"), "{stderr}");
    first.kill().unwrap();
    first.wait().unwrap();
    // The kernel released the dead run's lock: a new run takes it and finishes the set.
    let third = benchplan(&dir, &["run", "plan.toml", "--machine", "m"])
        .output()
        .unwrap();
    assert_eq!(
        third.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
