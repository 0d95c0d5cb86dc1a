//! Progress on stderr: an indicatif bar with the current cell and its running median when
//! stderr is a terminal; one plain line per finished cell otherwise (CI logs, pipes). Both say
//! how long the rest of the run should take: from each cell's duration in earlier runs on this
//! machine where the results know it, else from this run's pace so far.

use std::collections::BTreeMap;
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
    eta: Eta,
}

/// What the rest of a run should take.
#[derive(Debug, Default)]
struct Eta {
    /// Seconds per round of each cell in earlier runs (by cell id).
    prior: BTreeMap<String, f64>,
    /// Rounds each cell of the run has, and has done.
    rounds: BTreeMap<String, (usize, usize)>,
    started: Option<Instant>,
    /// Cell-rounds finished in this run, and the seconds they took.
    done: usize,
}

impl Eta {
    /// Seconds left: each remaining round at its cell's earlier duration where known, else at
    /// this run's mean so far (`None` before anything is known).
    fn seconds_left(&self) -> Option<f64> {
        let pace = self
            .started
            .filter(|_| self.done > 0)
            .map(|t| t.elapsed().as_secs_f64() / self.done as f64);
        let mut total = 0.0;
        for (id, (rounds, done)) in &self.rounds {
            let left = rounds.saturating_sub(*done) as f64;
            if left == 0.0 {
                continue;
            }
            total += left * self.prior.get(id).copied().or(pace)?;
        }
        Some(total)
    }

    /// ` · about 3m10s left`, or nothing.
    fn tag(&self) -> String {
        match self.seconds_left() {
            Some(s) if s > 0.0 => format!(" · about {} left", elapsed(s)),
            _ => String::new(),
        }
    }
}

impl Progress {
    /// A bar when stderr is a terminal (and not `--quiet`), plain lines otherwise.
    pub fn new() -> Progress {
        let bar = (std::io::stderr().is_terminal() && !crate::verbosity::quiet()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:25} {pos}/{len} {prefix} {wide_msg}",
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
            eta: Eta::default(),
        }
    }

    /// As [`Progress::new`], knowing how long each cell took in earlier runs (whole-cell
    /// seconds by cell id, as [`crate::results::history::Durations`] reads them; divided
    /// among the cell's rounds here).
    pub fn with_history(seconds: BTreeMap<String, f64>) -> Progress {
        let mut p = Progress::new();
        p.eta.prior = seconds;
        p
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
                    // The same figure the report shows: at the median time, or a loader's
                    // sustained rate, named as such.
                    let sustained = if record.judged_by_mean() {
                        " sustained"
                    } else {
                        ""
                    };
                    record
                        .throughput()
                        .map(|r| format!(", {}{sustained}", rate(r, "samples")))
                })
                .unwrap_or_default();
            // Energy where a counter resolved it; a throttled device is said on the line.
            let energy = record
                .average_watts()
                .zip(record.joules_per_sample())
                .map(|(w, j)| format!(", {w:.0} W, {} J/sample", crate::format::sig3(j)))
                .unwrap_or_default();
            let throttled = if record.throttled() == Some(true) {
                format!(" — {}", record.device_state_words())
            } else {
                String::new()
            };
            format!(
                "{head}: median {}{spread} (n={}){throughput}{energy}{throttled}",
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
                self.eta.started.get_or_insert_with(Instant::now);
                for c in cells.iter() {
                    let rounds = c.measure.effective_rounds().max(1) as usize;
                    self.eta.rounds.insert(c.id.clone(), (rounds, 0));
                    // Earlier durations are whole cells; the estimate counts rounds.
                    if let Some(s) = self.eta.prior.get_mut(&c.id) {
                        *s /= rounds as f64;
                    }
                }
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
                self.eta.done += 1;
                if let Some((planned, done)) = self.eta.rounds.get_mut(&record.cell_id) {
                    // A cell that ended early (failed, skipped) has no rounds left.
                    *done = if last { *planned } else { *done + 1 };
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
                    // The bar shows the estimate itself; plain lines carry it.
                    let eta = if self.bar.is_none() {
                        self.eta.tag()
                    } else {
                        String::new()
                    };
                    self.print(&format!("{line}{tag}{eta}"));
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
                    bar.set_prefix(self.eta.tag().trim_start_matches(" · ").to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_uses_earlier_durations_then_the_pace_of_this_run() {
        let mut eta = Eta::default();
        assert_eq!(
            eta.seconds_left(),
            Some(0.0),
            "nothing to run, nothing left"
        );
        eta.rounds.insert("a".into(), (2, 0));
        eta.rounds.insert("b".into(), (1, 0));
        eta.prior.insert("a".into(), 3.0);
        assert_eq!(
            eta.seconds_left(),
            None,
            "b has no earlier duration and nothing ran yet"
        );
        eta.prior.insert("b".into(), 10.0);
        assert_eq!(eta.seconds_left(), Some(16.0));
        eta.rounds.insert("a".into(), (2, 2));
        assert_eq!(eta.seconds_left(), Some(10.0));
        assert_eq!(eta.tag(), " · about 10.0s left");
    }
}
