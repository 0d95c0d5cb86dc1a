//! Progress on stderr: an indicatif bar with the current cell and its running median when
//! stderr is a terminal; one plain line per finished cell otherwise (CI logs, pipes).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{Event, Observer};
use crate::format::{duration_ms, elapsed, rate};
use crate::results::{CellRecord, Status};
use crate::stats::median;

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Cells in the run, and how many have finished (their last round ran, or they ended).
    cells: usize,
    finished: usize,
    last_update: Instant,
}

impl Progress {
    /// A bar when stderr is a terminal (and not `--quiet`), plain lines otherwise.
    pub fn new() -> Progress {
        let bar = (std::io::stderr().is_terminal() && !crate::verbosity::quiet()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:25} {pos}/{len} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            cells: 0,
            finished: 0,
            last_update: Instant::now(),
        }
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// ` (round 2 of 5)`, or nothing for a cell measured in one round.
fn round_tag(round: usize, rounds: usize) -> String {
    if rounds > 1 {
        format!(" (round {} of {rounds})", round + 1)
    } else {
        String::new()
    }
}

/// One line describing a finished cell.
pub fn cell_line(index: usize, total: usize, record: &CellRecord) -> String {
    let width = total.to_string().len();
    let head = format!(
        "[{:>width$}/{total}] {:<7} {} {}",
        index + 1,
        record.status.name(),
        record.experiment,
        record.cell_key
    );
    match (record.status, record.summary()) {
        (Status::Ok, Some(s)) => {
            // Between rounds where there are two or more: how far another run may land.
            let spread = record
                .between_rounds_interval()
                .or(s.median_ci)
                .map(|(lo, hi)| format!(" [{} – {}]", duration_ms(lo), duration_ms(hi)))
                .unwrap_or_default();
            let throughput = record
                .gflops()
                .map(|g| format!(", {g:.1} GFLOP/s"))
                .or_else(|| {
                    record
                        .samples_per_s()
                        .map(|r| format!(", {}", rate(r, "samples")))
                })
                .unwrap_or_default();
            format!(
                "{head}: median {}{spread} (n={}){throughput}",
                duration_ms(record.typical_round_median().unwrap_or(s.median)),
                s.count
            )
        }
        _ => format!(
            "{head}: {}",
            record.reason.as_deref().unwrap_or("no samples")
        ),
    }
}

impl Observer for Progress {
    fn on_event(&mut self, event: &Event) -> Result<()> {
        match event {
            Event::Started { total, cells } => {
                // Once per track of an interleaved run: the cells of every track count.
                self.cells += cells.len();
                if let Some(bar) = &self.bar {
                    bar.set_length(*total as u64);
                }
            }
            Event::CellStarted {
                cell,
                round,
                rounds,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!(
                        "{} {}{}",
                        cell.experiment,
                        cell.key(),
                        round_tag(*round, *rounds)
                    ));
                }
                self.last_update = Instant::now();
            }
            Event::Sample { cell, samples_ms } => {
                // Throttled: the median of thousands of microsecond samples is not free.
                if let Some(bar) = &self.bar {
                    if self.last_update.elapsed() >= Duration::from_millis(250) {
                        self.last_update = Instant::now();
                        if let Some(m) = median(samples_ms) {
                            bar.set_message(format!(
                                "{} {} · median {} (n={})",
                                cell.experiment,
                                cell.key(),
                                duration_ms(m),
                                samples_ms.len()
                            ));
                        }
                    }
                }
            }
            Event::CellFinished {
                record,
                round,
                rounds,
                ..
            } => {
                // A line when the cell's row is final (its last round, or a round that ended
                // it), numbered by cells; every round with --verbose. Quiet: only what went wrong.
                let last = round + 1 == *rounds || record.status != Status::Ok;
                if last {
                    self.finished += 1;
                }
                let wanted = if crate::verbosity::quiet() {
                    record.status == Status::Failed && last
                } else {
                    last || crate::verbosity::verbose()
                };
                if wanted {
                    // A row that is not ok names its round in its reason already.
                    let tag = if record.status == Status::Ok {
                        round_tag(*round, *rounds)
                    } else {
                        String::new()
                    };
                    let line = cell_line(self.finished.max(1) - 1, self.cells, record);
                    self.print(&format!("{line}{tag}"));
                }
                if crate::verbosity::verbose() {
                    self.print(&format!(
                        "          {}; cell wall time {}",
                        record.measure_settings,
                        elapsed(record.cell_wall_s)
                    ));
                }
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            Event::Finished { summary } => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
                self.print(&format!(
                    "{} cells: {} ok, {} failed, {} skipped in {}",
                    summary.total,
                    summary.ok,
                    summary.failed,
                    summary.skipped,
                    elapsed(summary.wall_s)
                ));
                if summary.wall_s > 0.0 && summary.ok > 0 && !crate::verbosity::quiet() {
                    self.print(&format!(
                        "time in warm-up and timed iterations: {:.1}% of the run (the rest is set-up, writing results and progress)",
                        100.0 * summary.measured_s / summary.wall_s
                    ));
                }
            }
        }
        Ok(())
    }
}
