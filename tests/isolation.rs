//! `run` (cells isolated by default): a cell that panics, aborts, segfaults or hangs fails alone, with what
//! happened, and the run goes on to the next cell.

#![cfg(unix)]

use std::process::Command;
use std::time::Instant;

use benchplan::results::{store, Status};

#[test]
fn crashing_and_hanging_cells_fail_alone_under_isolation() {
    let dir = std::env::temp_dir().join(format!("benchplan-isolate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        r#"
version = 1
name = "faults"

[measure]
warmup = 1
iterations = 5
timeout = "1s"
# One round: a fault fires at a set iteration of one process.
rounds = 1

[[experiments]]
name = "noop"
workload = "noop"
[experiments.matrix]
fault = ["none", "panic", "abort", "segfault", "hang"]
"#,
    )
    .unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["run", "plan.toml", "--machine", "m"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("5 cells: 1 ok, 4 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(start.elapsed().as_secs() < 60, "the hung cell was killed");
    let rows = store::read(&dir.join("results/faults/m/nogit/cells.parquet")).unwrap();
    let reason = |fault: &str| {
        let r = rows
            .iter()
            .find(|r| r.params.get("fault").map(ToString::to_string).as_deref() == Some(fault))
            .unwrap();
        (r.status, r.reason.clone().unwrap_or_default())
    };
    assert_eq!(reason("none").0, Status::Ok);
    assert!(
        reason("panic").1.contains("injected panic"),
        "{:?}",
        reason("panic")
    );
    assert!(
        reason("abort").1.contains("SIGABRT"),
        "{:?}",
        reason("abort")
    );
    assert!(
        reason("segfault").1.contains("SIGSEGV"),
        "{:?}",
        reason("segfault")
    );
    assert!(
        reason("hang").1.starts_with("timed out"),
        "{:?}",
        reason("hang")
    );
    for f in ["panic", "abort", "segfault", "hang"] {
        assert_eq!(reason(f).0, Status::Failed, "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
