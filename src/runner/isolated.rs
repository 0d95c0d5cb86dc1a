//! Isolation (the default for `run`; `--in-process` turns it off): each cell in a child process of its own, so that nothing a cell does —
//! a panic, a segfault in a native kernel, the OOM killer, a kernel that never returns — can
//! take the run down or outlast the cell's timeout.
//!
//! The child is this same binary (`benchplan __cell PLAN CELL_ID OUT`), which runs the one
//! cell exactly as an in-process run would and writes its row to `OUT`. The parent waits up to
//! the cell's timeout (plus a grace for the child's own set-up and exit), kills the child's
//! process group after that, and turns a death by signal into a `failed` row that names it.
//! What it costs per cell (a process start, loading the plan, opening the device) is measured
//! in the book (docs/src/reliability.md).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::plan::{Cell, Plan};
use crate::results::metadata::rfc3339;
use crate::results::{store, CellRecord, RunMetadata};

/// Time a child may take beyond the cell's timeout: its own start, plan loading and exit.
const GRACE: Duration = Duration::from_secs(10);

/// Runs `cell` in a child process and returns its row (with this run's metadata).
pub fn run_cell(plan: &Plan, cell: &Cell, meta: &RunMetadata) -> CellRecord {
    let started = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let out_dir =
        std::env::temp_dir().join(format!("benchplan-cell-{}-{}", std::process::id(), cell.id));
    let _ = std::fs::create_dir_all(&out_dir);
    let out = out_dir.join("cell.parquet");
    let _ = std::fs::remove_file(&out);
    let outcome = spawn_and_wait(plan, cell, meta, &out);
    let record = match outcome {
        Ok(()) => store::read(&out)
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .map(|mut r| {
                r.meta = meta.clone();
                r
            })
            .unwrap_or_else(|| {
                failed(
                    plan,
                    cell,
                    meta,
                    "the cell's process ended without writing its row".into(),
                )
            }),
        Err(reason) => failed(plan, cell, meta, reason),
    };
    let _ = std::fs::remove_dir_all(&out_dir);
    CellRecord {
        cell_started_at: started_at,
        cell_wall_s: started.elapsed().as_secs_f64(),
        ..record
    }
}

fn spawn_and_wait(plan: &Plan, cell: &Cell, meta: &RunMetadata, out: &Path) -> Result<(), String> {
    let stderr_file = out.with_file_name("stderr.txt");
    let stderr = std::fs::File::create(&stderr_file)
        .map_err(|e| format!("cannot create `{}`: {e}", stderr_file.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find benchplan itself: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg("__cell")
        .arg(&plan.path)
        .arg(&cell.id)
        .arg(out)
        // The child need not ask git again, and must record the same commit.
        .env("BENCHPLAN_GIT_COMMIT", &meta.git_commit)
        .env(
            "BENCHPLAN_GIT_DIRTY",
            if meta.git_dirty { "1" } else { "0" },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    super::child::die_with_parent(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the cell's process: {e}"))?;
    let deadline = Instant::now() + cell.measure.timeout + GRACE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                super::child::signal_group(&child, libc::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "timed out: the cell's process was still running {} after its timeout and was killed",
                    crate::plan::measure::format_duration(GRACE)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("lost the cell's process: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    // The child's stderr went to a file, not a pipe that a chatty child could fill and block on.
    let stderr = std::fs::read_to_string(stderr_file).unwrap_or_default();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    Err(format!(
        "{}{}",
        super::child::how_it_ended("the cell's process", signal, status.code()),
        if tail.is_empty() {
            String::new()
        } else {
            format!("; last output: {tail}")
        }
    ))
}

/// A `failed` row for a cell whose process gave none.
fn failed(plan: &Plan, cell: &Cell, meta: &RunMetadata, reason: String) -> CellRecord {
    super::failed_record(
        plan,
        cell,
        meta,
        reason,
        "unknown (the cell's process died)",
    )
}
