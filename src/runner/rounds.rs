//! Rounds: a cell is measured in several rounds, each (under isolation) in a fresh process, and
//! the order of the cells is shuffled in every round, so that what changes between processes
//! (memory layout, frequency, a neighbour on a shared host) and over the minutes of a run falls
//! on every cell alike and shows in each cell's spread between rounds. This module orders the
//! rounds and folds each round's row into the cell's row.

use crate::hash::fnv1a64;
use crate::results::{CellRecord, Status};
use crate::rng::Rng;

/// The order in which round `round` visits `n` cells: a shuffle seeded by the run's start time
/// (recorded in every row as `run_started_at`) and the round, so that it can be recomputed from
/// the results alone. Each row also records its own place in every round.
pub fn order(n: usize, run_started_at: &str, round: usize) -> Vec<usize> {
    let mut rng = Rng::new(fnv1a64(
        format!("{run_started_at}/round/{round}").as_bytes(),
    ));
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    order
}

/// Where one round of a cell ran.
#[derive(Debug, Clone, Copy)]
pub struct RoundPlace {
    /// Which round (0-based) of how many.
    pub round: usize,
    pub rounds: usize,
    /// The cell's place in the round's order.
    pub position: usize,
    /// When the round of this cell started, seconds after the run started.
    pub started_s: f64,
}

/// The row as stored and shown after its rounds so far: an energy figure the counter does not
/// resolve over the rounds' summed time is withdrawn, with the reason. (The fold keeps the raw
/// sum, so that later rounds can still make it resolvable.)
pub fn judged(row: &CellRecord) -> std::borrow::Cow<'_, CellRecord> {
    let why = match (
        row.energy_j,
        row.energy_source.as_deref(),
        row.energy_timed_s,
    ) {
        (Some(j), Some(source), Some(s)) => {
            crate::energy::unresolved(source, j, s, row.round_sample_counts.len())
        }
        _ => None,
    };
    match why {
        None => std::borrow::Cow::Borrowed(row),
        Some(why) => {
            let mut row = row.clone();
            row.energy_j = None;
            row.energy_timed_s = None;
            row.energy_note = Some(why);
            std::borrow::Cow::Owned(row)
        }
    }
}

/// The cell's row after one more round: `so_far` (the rows of the earlier rounds, folded) and
/// `this` (the row of this round alone). Samples are appended round after round; a round that
/// failed or was skipped makes the cell so (a failure names its round in the reason), keeping
/// the samples measured before.
pub fn fold(so_far: Option<CellRecord>, this: CellRecord, place: RoundPlace) -> CellRecord {
    let n_this = this.samples_ms.len() as u64;
    let Some(mut row) = so_far else {
        let mut row = this;
        row.round_sample_counts = vec![n_this];
        row.round_started_s = vec![place.started_s];
        row.round_positions = vec![place.position as u64];
        if row.status == Status::Failed && place.rounds > 1 {
            row.reason = row.reason.map(|r| round_reason(place, &r));
        }
        return row;
    };
    let n_before = row.samples_ms.len() as u64;
    let weighted = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if n_before + n_this > 0 => {
            Some((a * n_before as f64 + b * n_this as f64) / (n_before + n_this) as f64)
        }
        (a, b) => a.or(b),
    };
    // Energy adds up over rounds; a round without a figure leaves the cell without one (joules
    // per sample must cover the same samples), with that round's reason.
    match (row.energy_j, this.energy_j) {
        (Some(a), Some(b)) => {
            row.energy_j = Some(a + b);
            row.energy_timed_s = row
                .energy_timed_s
                .zip(this.energy_timed_s)
                .map(|(a, b)| a + b);
        }
        (None, _) => {}
        (Some(_), None) => {
            row.energy_j = None;
            row.energy_timed_s = None;
            row.energy_note = this.energy_note.clone();
        }
    }
    row.device_state.fold(&this.device_state);
    row.cpu_ms_per_iteration = weighted(row.cpu_ms_per_iteration, this.cpu_ms_per_iteration);
    row.cpu_utilization = weighted(row.cpu_utilization, this.cpu_utilization);
    row.peak_rss_bytes = row.peak_rss_bytes.max(this.peak_rss_bytes);
    row.device_allocated_bytes = row.device_allocated_bytes.max(this.device_allocated_bytes);
    row.activation_bytes = row.activation_bytes.max(this.activation_bytes);
    row.samples_ms.extend_from_slice(&this.samples_ms);
    row.warmup_samples_ms
        .extend_from_slice(&this.warmup_samples_ms);
    for (name, samples) in this.stages {
        match row.stages.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => s.extend(samples),
            None => row.stages.push((name, samples)),
        }
    }
    row.round_sample_counts.push(n_this);
    row.round_started_s.push(place.started_s);
    row.round_positions.push(place.position as u64);
    row.cell_wall_s += this.cell_wall_s;
    if this.status != Status::Ok {
        // A skip is about the cell (a device or dtype it lacks), not about the round.
        row.status = this.status;
        row.reason = match this.status {
            Status::Failed => this.reason.map(|r| round_reason(place, &r)),
            _ => this.reason,
        };
    }
    row
}

/// Whether a cell measured on these tracks (one row per track, the rows of one revision, or of
/// two run side by side) is known precisely enough to stop adding rounds: the 95% interval of
/// its typical round figure between rounds (one track), or of the per-round difference
/// between the first two tracks (paired, as `ab` tests it), lies within `target` (a fraction)
/// on either side. Below two rounds there is no interval, and the answer is no.
pub fn precise_enough(rows: &[Option<&CellRecord>], target: f64) -> bool {
    use crate::stats::between::{paired, Side};
    use crate::stats::distributions::t_quantile;
    let half_width = match rows {
        [Some(one)] => Side::of(&one.round_log_figures())
            .filter(|s| s.rounds >= 2)
            .map(|s| (s.var / s.rounds as f64).sqrt() * t_quantile(0.975, (s.rounds - 1) as f64)),
        [Some(a), Some(b), ..] => paired(&a.round_log_figures(), &b.round_log_figures())
            .map(|(_, se, df)| se * t_quantile(0.975, df)),
        _ => None,
    };
    half_width.is_some_and(|h| h <= target.ln_1p())
}

fn round_reason(place: RoundPlace, reason: &str) -> String {
    format!("round {} of {}: {reason}", place.round + 1, place.rounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::tests::record;

    #[test]
    fn every_round_visits_every_cell_once_in_a_recorded_order() {
        let a = order(10, "2026-12-01T00:00:00Z", 0);
        let b = order(10, "2026-12-01T00:00:00Z", 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(a, b, "rounds are shuffled apart");
        assert_eq!(a, order(10, "2026-12-01T00:00:00Z", 0), "and reproducibly");
    }

    #[test]
    fn rounds_are_added_until_the_interval_between_them_is_narrow_enough() {
        let rounds = |levels: &[f64]| {
            let mut row = record("c", &[], vec![]);
            for (r, l) in levels.iter().enumerate() {
                let this = record("c", &[], vec![*l; 5]);
                let place = RoundPlace {
                    round: r,
                    rounds: levels.len(),
                    position: 0,
                    started_s: 0.0,
                };
                row = fold((r > 0).then_some(row), this, place);
            }
            row
        };
        let steady = rounds(&[1.0, 1.01, 0.99, 1.0, 1.005]);
        let noisy = rounds(&[1.0, 1.3, 0.8, 1.1, 0.9]);
        assert!(precise_enough(&[Some(&steady)], 0.02));
        assert!(!precise_enough(&[Some(&noisy)], 0.02));
        assert!(
            !precise_enough(&[Some(&rounds(&[1.0]))], 0.5),
            "one round: no interval"
        );
        // Two tracks side by side: the rounds swing together, the differences do not.
        let other = rounds(&[1.02, 1.32, 0.82, 1.12, 0.92]);
        assert!(precise_enough(&[Some(&noisy), Some(&other)], 0.02));
        assert!(!precise_enough(&[Some(&noisy), None], 0.02));
    }

    #[test]
    fn rounds_fold_into_one_row_and_a_failed_round_fails_the_cell() {
        let place = |round, position| RoundPlace {
            round,
            rounds: 3,
            position,
            started_s: round as f64,
        };
        let first = fold(None, record("c", &[], vec![1.0, 2.0]), place(0, 4));
        let second = fold(Some(first), record("c", &[], vec![3.0]), place(1, 0));
        assert_eq!(second.samples_ms, [1.0, 2.0, 3.0]);
        assert_eq!(second.round_sample_counts, [2, 1]);
        assert_eq!(second.round_positions, [4, 0]);
        assert_eq!(second.rounds(), vec![&[1.0, 2.0][..], &[3.0][..]]);
        let mut broken = record("c", &[], vec![]);
        broken.status = Status::Failed;
        broken.reason = Some("out of memory".into());
        let third = fold(Some(second), broken, place(2, 1));
        assert_eq!(third.status, Status::Failed);
        assert_eq!(third.reason.as_deref(), Some("round 3 of 3: out of memory"));
        assert_eq!(
            third.samples_ms.len(),
            3,
            "earlier rounds' samples are kept"
        );
    }

    #[test]
    fn energy_adds_up_over_rounds_and_a_round_without_a_figure_voids_it() {
        let place = |round| RoundPlace {
            round,
            rounds: 3,
            position: 0,
            started_s: 0.0,
        };
        let with = |j: f64| CellRecord {
            energy_j: Some(j),
            energy_timed_s: Some(1.0),
            energy_source: Some("rapl".into()),
            ..record("c", &[], vec![1.0])
        };
        let two = fold(Some(fold(None, with(30.0), place(0))), with(10.0), place(1));
        assert_eq!((two.energy_j, two.energy_timed_s), (Some(40.0), Some(2.0)));
        let short = CellRecord {
            energy_note: Some("too short".into()),
            ..record("c", &[], vec![1.0])
        };
        let three = fold(Some(two), short, place(2));
        assert_eq!(
            three.energy_j, None,
            "joules per sample must cover every round's samples"
        );
        assert_eq!(three.energy_note.as_deref(), Some("too short"));
    }

    /// A recorded NVML-style sequence: a GPU cell of five rounds, each reading the millijoule
    /// counter at its start and end and the device state, summed and judged as a run does.
    #[test]
    fn nvml_style_readings_give_joules_per_sample_and_the_throttle_flag() {
        use crate::energy::state::{settle_state, tests::Recorded as RecordedState, Snapshot};
        use crate::energy::tests::recorded;
        let place = |round| RoundPlace {
            round,
            rounds: 5,
            position: 0,
            started_s: 0.0,
        };
        let snap = |sm, events, held_ns| Snapshot {
            sm_mhz: Some(sm),
            memory_mhz: Some(2619),
            temperature_c: Some(50),
            power_limit_w: Some(700.0),
            clock_events: events,
            held_back_ns: Some(held_ns),
        };
        let mut row = None;
        // Counter readings in joules (NVML's millijoules / 1000): 250 J per 0.4 s round (625 W).
        let mut at = 81_234.5;
        for round in 0..5u64 {
            let mut counter = recorded(&[at, at + 250.0], None);
            let (a, b) = (
                crate::energy::Counter::read(&mut counter),
                crate::energy::Counter::read(&mut counter),
            );
            let energy = crate::energy::settle(&counter, a, b, 0.4);
            at += 1_000.0;
            // The last round ends power-capped (0x4) and held back 0.05 s.
            let end = if round == 4 {
                snap(1530, 0x4, 50_000_000)
            } else {
                snap(1980, 0, 0)
            };
            let src = RecordedState {
                readings: Vec::new(),
                power_j: None,
            };
            let state = settle_state(&src, Ok(snap(1980, 0, 0)), Ok(end), Some(248.0), 0.4);
            let this = CellRecord {
                energy_j: energy.joules,
                energy_timed_s: energy.seconds,
                energy_source: energy.source,
                energy_note: energy.note,
                device_state: state,
                samples_per_iteration: Some(64),
                ..record("c", &[], vec![8.0; 50])
            };
            row = Some(fold(row, this, place(round as usize)));
            if round == 0 {
                let one = judged(row.as_ref().unwrap());
                assert_eq!(
                    one.energy_j, None,
                    "0.4 s of one round is too short for NVML"
                );
                assert!(one.energy_note.as_deref().unwrap().contains("in 1 round"));
            }
        }
        let row = row.unwrap();
        let row = judged(&row);
        assert_eq!(row.energy_j, Some(1_250.0));
        // 1,250 J over 5 rounds × 50 iterations × 64 samples.
        assert!((row.joules_per_sample().unwrap() - 1_250.0 / 16_000.0).abs() < 1e-12);
        assert!((row.average_watts().unwrap() - 625.0).abs() < 1e-9);
        // Held back 0.05 s in the last round: under 5% of the cell's 2 s of timed iterations,
        // so only the reason bit at the end speaks, and the counters outrank it.
        assert_eq!(row.throttled(), Some(false));
        assert_eq!(row.device_state.throttled(0.5), Some(true));
        assert_eq!(
            row.device_state.clock_events_end.as_deref(),
            Some("sw_power_cap")
        );
        assert_eq!(row.device_state.power_integrated_j, Some(1_240.0));
        assert_eq!(
            (row.device_state.sm_mhz_start, row.device_state.sm_mhz_end),
            (Some(1980), Some(1530))
        );
    }
}
