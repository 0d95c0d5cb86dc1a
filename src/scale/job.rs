//! What every engine's job description needs from a plan: how many shards, how long each may
//! take, and which accelerators it must be given. Slurm, Kubernetes and CI matrices are each
//! a rendering of one [`JobSpec`].

use std::time::Duration;

use crate::device::{DeviceKind, DeviceSpec};
use crate::plan::measure::Budget;
use crate::plan::Cell;

use super::shard::Partition;
use crate::results::history::Durations;

/// Set-up, model building and result writing of a cell, beyond its warm-up and timed budget,
/// when nothing earlier says how long the cell takes. A guess, stated in every job file.
const SETUP_GUESS: Duration = Duration::from_secs(5);
/// A timed phase given as a count of iterations has no duration of its own; this stands in.
const COUNTED_PHASE_GUESS: Duration = Duration::from_secs(5);
/// The isolated runner's grace after a cell's timeout before it kills the child.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The shape of a sharded run, for any engine.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub study: String,
    pub shards: usize,
    pub partition: Partition,
    /// Estimated seconds per shard: earlier durations where known, else the plan's budgets.
    pub estimated_s: Vec<f64>,
    /// Seconds a shard may run before the engine stops it.
    pub time_limit_s: u64,
    /// How the estimates and the limit were made, for a comment in the job file.
    pub basis: String,
    /// GPUs each shard needs (the highest CUDA index named, plus one; `gpu` counts as one).
    pub gpus: usize,
    /// Cells per shard.
    pub cells_per_shard: Vec<usize>,
}

/// One cell's expected seconds from its measurement settings, when no earlier run says.
fn budget_estimate(cell: &Cell) -> f64 {
    let phase = |b: Budget| match b {
        Budget::Time(d) => d,
        Budget::Iterations(_) => COUNTED_PHASE_GUESS,
    };
    let m = &cell.measure;
    let total = SETUP_GUESS + phase(m.warmup) + phase(m.iterations);
    total.min(m.timeout).as_secs_f64()
}

/// The longest a cell can take before benchplan itself stops it.
fn worst_case(cell: &Cell) -> f64 {
    (cell.measure.timeout + KILL_GRACE).as_secs_f64()
}

/// GPUs a cell's device needs on its node.
fn gpus_of(cell: &Cell) -> usize {
    let Some(device) = cell.get("device").map(ToString::to_string) else {
        return 0;
    };
    match DeviceSpec::parse(&device) {
        Ok(spec) if matches!(spec.kind, DeviceKind::Cuda | DeviceKind::Gpu) => spec.ordinal + 1,
        _ => 0,
    }
}

impl JobSpec {
    /// Plans `shards` shards of `cells`. The limit per shard is twice its estimate plus five
    /// minutes, but never more than the sum of its cells' timeouts (benchplan stops a cell at
    /// its timeout, so that bound is hard).
    pub fn new(study: &str, cells: &[Cell], shards: usize, durations: &Durations) -> JobSpec {
        let partition = Partition::of(cells, shards, durations);
        // As the split weighs them: earlier durations, else their median; with none at all,
        // the plan's budgets.
        let estimate = |i: usize| {
            durations
                .seconds
                .get(&cells[i].id)
                .copied()
                .or(partition.fallback_s)
                .unwrap_or_else(|| budget_estimate(&cells[i]))
        };
        let estimated_s: Vec<f64> = partition
            .shards
            .iter()
            .map(|s| s.iter().map(|&i| estimate(i)).sum())
            .collect();
        let limits: Vec<f64> = partition
            .shards
            .iter()
            .zip(&estimated_s)
            .map(|(s, est)| {
                let hard: f64 = s.iter().map(|&i| worst_case(&cells[i])).sum();
                (est * 2.0 + 300.0).min(hard.max(60.0))
            })
            .collect();
        let limit = limits.iter().copied().fold(60.0, f64::max);
        let basis = format!(
            "split {}; estimates from {}; limit = 2 × the longest shard's estimate + 5 min, at most the sum of its cells' timeouts",
            partition.basis(cells.len(), durations),
            if partition.known > 0 {
                "earlier durations (the median for cells without one)".to_owned()
            } else {
                format!(
                    "each cell's warm-up and timed budget + {} s of set-up ({} s per phase given as a count)",
                    SETUP_GUESS.as_secs(),
                    COUNTED_PHASE_GUESS.as_secs()
                )
            }
        );
        JobSpec {
            study: study.to_owned(),
            shards: partition.shards.len(),
            cells_per_shard: partition.shards.iter().map(Vec::len).collect(),
            gpus: cells.iter().map(gpus_of).max().unwrap_or(0),
            time_limit_s: (limit / 60.0).ceil() as u64 * 60,
            estimated_s,
            partition,
            basis,
        }
    }

    /// The limit as Slurm writes it, `D-HH:MM:SS`.
    pub fn slurm_time(&self) -> String {
        let s = self.time_limit_s;
        let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
        if d > 0 {
            format!("{d}-{h:02}:{m:02}:{sec:02}")
        } else {
            format!("{h:02}:{m:02}:{sec:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use std::path::Path;

    fn plan(devices: &str, measure: &str) -> Vec<Cell> {
        let text = format!(
            "version = 1\nname = \"s\"\n[measure]\n{measure}\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8, 16, 32, 64]\ndtype = [\"f32\"]\ndevice = [{devices}]\n"
        );
        let plan = Plan::from_bytes_with(
            Path::new("s.toml"),
            text.as_bytes(),
            crate::plan::LoadOptions {
                lenient_devices: true,
            },
        )
        .unwrap();
        plan.cells().cloned().collect()
    }

    #[test]
    fn gpus_follow_the_devices_the_plan_names() {
        assert_eq!(
            JobSpec::new("s", &plan("\"cpu\"", ""), 2, &Durations::default()).gpus,
            0
        );
        let cells = plan("\"cpu\", \"cuda:1\"", "");
        assert_eq!(JobSpec::new("s", &cells, 2, &Durations::default()).gpus, 2);
        let cells = plan("\"gpu\"", "");
        assert_eq!(JobSpec::new("s", &cells, 2, &Durations::default()).gpus, 1);
    }

    #[test]
    fn the_limit_comes_from_budgets_and_is_bounded_by_timeouts() {
        // 4 cells, 2 shards: each shard 2 × (5 s set-up + 1 s + 2 s) = 16 s; 2 × 16 + 300 = 332 s.
        let cells = plan("\"cpu\"", "warmup = \"1s\"\niterations = \"2s\"");
        let job = JobSpec::new("s", &cells, 2, &Durations::default());
        assert_eq!(job.estimated_s, vec![16.0, 16.0]);
        assert_eq!(job.time_limit_s, 360);
        assert_eq!(job.slurm_time(), "00:06:00");
        assert_eq!(job.cells_per_shard, vec![2, 2]);
        // Timeouts of 20 s bound a shard of two cells at 2 × (20 + 10) s.
        let cells = plan(
            "\"cpu\"",
            "warmup = \"1s\"\niterations = \"2s\"\ntimeout = \"20s\"",
        );
        let job = JobSpec::new("s", &cells, 2, &Durations::default());
        assert_eq!(job.time_limit_s, 60);
    }

    #[test]
    fn earlier_durations_set_the_estimates() {
        let cells = plan("\"cpu\"", "");
        let mut d = Durations::default();
        for c in &cells {
            d.seconds.insert(c.id.clone(), 100.0);
        }
        let job = JobSpec::new("s", &cells, 1, &d);
        assert_eq!(job.estimated_s, vec![400.0]);
        // 2 × 400 + 300 = 1100 s, to whole minutes.
        assert_eq!(job.time_limit_s, 1140);
        assert_eq!(job.slurm_time(), "00:19:00");
        assert!(
            job.basis.contains("estimates from earlier durations"),
            "{}",
            job.basis
        );
    }
}
