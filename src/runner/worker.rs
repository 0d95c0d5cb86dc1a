//! One worker process per round: under isolation (`run`'s default), a round's cells run in turn
//! in one child process (`benchplan __worker PLAN DIR`), so that a process starts once per round
//! rather than once per cell and round (on a GPU, a device context is created once per round).
//! The parent hands the worker one cell at a time on its stdin, waits for `done` on its stdout
//! up to the cell's timeout, and reads the row the worker wrote. A worker that crashes, aborts,
//! is killed or hangs fails only the cell it was running: the parent records why (the signal is
//! named), kills its process group, and starts a fresh worker for the next cell.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::plan::{Cell, Plan};
use crate::results::metadata::rfc3339;
use crate::results::{store, CellRecord, RunMetadata};

/// Time a cell may take beyond its timeout: a worker's own start and plan loading.
const GRACE: Duration = Duration::from_secs(10);

/// A running worker.
pub struct Worker {
    /// `None` once handed to the reaper (on drop).
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    dir: PathBuf,
    next: u64,
}

impl Worker {
    fn start(exe: Option<&Path>, plan: &Plan, meta: &RunMetadata) -> Result<Worker, String> {
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n == 0 {
            remove_orphaned_folders(&std::env::temp_dir());
        }
        let dir = std::env::temp_dir().join(format!("benchplan-worker-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        // The plan as this run read it: a worker started for a later round must not read the
        // file again, which the user may be editing while the run goes on.
        std::fs::write(dir.join(PLAN_AS_READ), &plan.source)
            .map_err(|e| format!("cannot write the plan for the worker: {e}"))?;
        let stderr = std::fs::File::create(dir.join("stderr.txt"))
            .map_err(|e| format!("cannot create the worker's stderr file: {e}"))?;
        let exe = match exe {
            Some(exe) => exe.to_owned(),
            None => {
                std::env::current_exe().map_err(|e| format!("cannot find benchplan itself: {e}"))?
            }
        };
        let mut command = Command::new(exe);
        command
            .arg("__worker")
            .arg(&plan.path)
            .arg(&dir)
            // The worker need not ask git again, and must record the same commit.
            .env("BENCHPLAN_GIT_COMMIT", &meta.git_commit)
            .env(
                "BENCHPLAN_GIT_DIRTY",
                if meta.git_dirty { "1" } else { "0" },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A file, not a pipe that a chatty cell could fill and block on.
            .stderr(Stdio::from(stderr));
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        super::child::die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start a worker process: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the worker has no stdout")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Worker {
            child: Some(child),
            stdin,
            lines,
            dir,
            next: 0,
        })
    }

    /// Runs `cell` (one round's settings) in the worker and returns its row; `Err` says how the
    /// worker ended or that it hung, and the worker must then be dropped.
    fn run(&mut self, cell: &Cell) -> Result<CellRecord, String> {
        let seq = self.next;
        self.next += 1;
        let out = self.dir.join(format!("{seq}.parquet"));
        let stdin = self.stdin.as_mut().ok_or("the worker's stdin is closed")?;
        writeln!(stdin, "{seq} {}", cell.id)
            .and_then(|()| stdin.flush())
            .map_err(|_| self.ended())?;
        let deadline = Instant::now() + cell.measure.timeout + GRACE;
        let done = format!("done {seq}");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == done => break,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(child) = &mut self.child {
                        super::child::signal_group(child, libc::SIGKILL);
                        let _ = child.wait();
                    }
                    return Err(format!(
                        "timed out: the cell's process was still running {} after its timeout and was killed",
                        crate::plan::measure::format_duration(GRACE)
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.ended()),
            }
        }
        let row = store::read(&out)
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .ok_or_else(|| "the cell's process ended without writing its row".to_owned());
        let _ = std::fs::remove_file(&out);
        row
    }

    /// How the worker ended, with the last lines it wrote on stderr.
    fn ended(&mut self) -> String {
        let status = match &mut self.child {
            Some(child) => child.wait(),
            None => Err(std::io::Error::other("no worker process")),
        };
        let stderr = std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        let (signal, code) = match &status {
            #[cfg(unix)]
            Ok(s) => (std::os::unix::process::ExitStatusExt::signal(s), s.code()),
            #[cfg(not(unix))]
            Ok(s) => (None, s.code()),
            Err(_) => (None, None),
        };
        format!(
            "{}{}",
            super::child::how_it_ended("the cell's process", signal, code),
            if tail.is_empty() {
                String::new()
            } else {
                format!("; last output: {tail}")
            }
        )
    }
}

/// Removes the scratch folders of runs that were killed (`kill -9`, a lost node) before they
/// could remove them: `benchplan-worker-PID-N` (and `benchplan-cell-PID-…` of older builds)
/// whose process no longer exists.
fn remove_orphaned_folders(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix("benchplan-worker-")
            .or_else(|| name.strip_prefix("benchplan-cell-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !super::child::process_exists(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends a healthy worker. It is reaped in the background: a process that
        // tears down a GPU context takes a few hundred milliseconds to exit, and the next
        // round's worker need not wait for that. One that does not end is killed.
        drop(self.stdin.take());
        // Its folder goes now (an open file in it does not stop that), not in the reaper: the
        // run may end before the reaper does.
        let _ = std::fs::remove_dir_all(&self.dir);
        let Some(mut child) = self.child.take() else {
            return;
        };
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if !matches!(child.try_wait(), Ok(Some(_))) {
                super::child::signal_group(&child, libc::SIGKILL);
                let _ = child.wait();
            }
        });
    }
}

/// Runs one round of `cell` in the round's worker (started if there is none, replaced after a
/// failure) and returns its row with this run's metadata. `exe` is the benchplan whose worker
/// runs it (`None`: this one; another revision's build in an interleaved A/B run).
pub fn run_cell(
    worker: &mut Option<Worker>,
    exe: Option<&Path>,
    plan: &Plan,
    cell: &Cell,
    meta: &RunMetadata,
) -> CellRecord {
    let started = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let outcome = match worker {
        Some(w) => Ok(w),
        None => Worker::start(exe, plan, meta).map(|w| worker.insert(w)),
    }
    .and_then(|w| w.run(cell));
    let record = match outcome {
        Ok(mut r) => {
            r.meta = super::row_meta(meta, r.workload == "command");
            r
        }
        Err(reason) => {
            *worker = None;
            super::failed_record(
                plan,
                cell,
                meta,
                reason,
                "unknown (the cell's process died)",
            )
        }
    };
    CellRecord {
        cell_started_at: started_at,
        cell_wall_s: started.elapsed().as_secs_f64(),
        ..record
    }
}

/// The file in a worker's folder that holds the plan text the run read at its start.
const PLAN_AS_READ: &str = "plan-as-read.toml";

/// The worker's side (`benchplan __worker PLAN DIR`): reads `SEQ CELL_ID` lines from stdin,
/// runs one round of each cell, writes its row to `DIR/SEQ.parquet` and says `done SEQ` on
/// stdout; ends at the end of its input.
pub fn serve(plan_path: &Path, dir: &Path) -> Result<()> {
    // The text the run started with, labelled (and its relative paths resolved) by the plan's
    // own path; a worker started by hand without it reads the file.
    let plan = match std::fs::read(dir.join(PLAN_AS_READ)) {
        Ok(bytes) => Plan::from_bytes_with(
            plan_path,
            &bytes,
            crate::plan::LoadOptions {
                lenient_devices: true,
            },
        )?,
        Err(_) => Plan::load_lenient(plan_path)?,
    };
    let meta = RunMetadata::collect(plan_path, &plan.sha256, None, dir);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut devices = std::collections::HashMap::new();
    for line in stdin.lock().lines() {
        let line = line.context("cannot read the next cell")?;
        let Some((seq, id)) = line.split_once(' ') else {
            continue;
        };
        let cell = plan
            .cells()
            .find(|c| c.id == id)
            .with_context(|| format!("`{}` has no cell `{id}`", plan_path.display()))?;
        let one_round = Cell {
            measure: cell.measure.for_round(),
            ..cell.clone()
        };
        let record = super::run_one(&plan, &one_round, &meta, &mut devices);
        store::write_handoff(&dir.join(format!("{seq}.parquet")), &[record])?;
        writeln!(stdout, "done {seq}")?;
        stdout.flush()?;
    }
    Ok(())
}
