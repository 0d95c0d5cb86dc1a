//! Energy per cell, from energy *counters* read around the timed iterations: joules, and from
//! them watts, joules per sample and samples per joule. A counter is read at the start and the
//! end of the timed phase; a figure is given only where the counter can resolve it (the phase
//! lasted long enough for the counter's update interval), and otherwise the row says why there
//! is none. Where no counter is readable (no driver, no permission, a VM without powercap) every
//! figure is null with the reason, and nothing fails.
//!
//! Sources: [`rapl`] (Linux package counters), [`nvml`] (an NVIDIA GPU's total-energy
//! counter, and its state: [`state`]), [`ioreport`] (Apple silicon's energy counters; macOS
//! only, type-checked in CI, never run there).

#[cfg(target_os = "macos")]
pub mod ioreport;
pub mod nvml;
pub mod rapl;
pub mod state;

use std::time::Instant;

/// A cumulative energy counter.
pub trait Counter {
    /// The source's name as rows record it (`rapl`, `nvml`).
    fn source(&self) -> &'static str;
    /// The counter's value, joules since an arbitrary origin, or why it cannot be read.
    fn read(&mut self) -> Result<f64, String>;
    /// The value at which the counter wraps to zero, joules, where it does.
    fn wraps_at(&self) -> Option<f64>;
}

/// How often each source's counter moves, seconds: RAPL about every millisecond; NVML about
/// every 100 ms (measured on an H200: 6 moves in 0.5 s of back-to-back reads); IOReport not
/// measured (no Mac here), taken as NVML's.
pub fn update_interval_s(source: &str) -> Option<f64> {
    match source {
        "rapl" => Some(0.001),
        "nvml" | "ioreport" => Some(0.1),
        _ => None,
    }
}

/// Seconds of timed work, over `rounds` phases, a counter moving every `interval` seconds
/// needs for a figure within 10% at two standard deviations. Each phase's two readings are
/// each up to one update stale, uniformly, so a phase's error is the difference of two uniform
/// lags: standard deviation `interval / √6` of power; over `rounds` independent phases the
/// errors add in quadrature. One phase needs 8.2 updates, five need 18.3 updates in all.
pub fn seconds_needed(interval: f64, rounds: usize) -> f64 {
    20.0 * interval * (rounds.max(1) as f64 / 6.0).sqrt()
}

/// Why a figure from `source` over `seconds` of `rounds` phases is not kept, or `None` where
/// the counter resolves it (and for sources whose interval is not known: a program's own).
pub fn unresolved(source: &str, joules: f64, seconds: f64, rounds: usize) -> Option<String> {
    let interval = update_interval_s(source)?;
    let needed = seconds_needed(interval, rounds);
    if seconds >= needed && joules <= 0.0 {
        return Some(format!(
            "the {source} counter did not move over {} of timed iterations",
            crate::format::elapsed(seconds)
        ));
    }
    (seconds < needed).then(|| {
        format!(
            "the timed iterations lasted {} in {} round{}, shorter than the {} the {source} counter needs for a figure within 10% (it moves every {}); raise `iterations` (or `max_iterations`, where it ends the rounds first)",
            crate::format::elapsed(seconds),
            rounds.max(1),
            if rounds == 1 { "" } else { "s" },
            crate::format::elapsed(needed),
            crate::format::duration_ms(interval * 1e3)
        )
    })
}

/// What a cell's timed phase used, or why there is no figure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Energy {
    /// Joules over the timed phase.
    pub joules: Option<f64>,
    /// Seconds of timed work the joules cover.
    pub seconds: Option<f64>,
    /// The counter read (`rapl`…); `None` where none was readable.
    pub source: Option<String>,
    /// Why there is no figure (or what limits it).
    pub note: Option<String>,
}

impl Energy {
    /// No figure, for `why`.
    pub fn none(source: Option<&str>, why: impl Into<String>) -> Energy {
        Energy {
            joules: None,
            seconds: None,
            source: source.map(str::to_owned),
            note: Some(why.into()),
        }
    }
}

/// Joules between two readings of a counter that wraps at `wraps_at` (one wrap at most: a
/// 32-bit RAPL counter in microjoules wraps after about 4,295 J, minutes at a package's power).
pub fn delta(start: f64, end: f64, wraps_at: Option<f64>) -> Option<f64> {
    if end >= start {
        Some(end - start)
    } else {
        wraps_at.map(|w| w - start + end)
    }
}

/// A reading in progress: the counter and its value when the timed phase began.
pub struct Span {
    counter: Option<Box<dyn Counter>>,
    start: Result<f64, String>,
    started: Instant,
}

impl Span {
    /// Starts a span on `counter` (`Err` says why there is none: it becomes the rows' note).
    pub fn start(counter: Result<Box<dyn Counter>, String>) -> Span {
        match counter {
            Ok(mut c) => Span {
                start: c.read(),
                counter: Some(c),
                started: Instant::now(),
            },
            Err(why) => Span {
                counter: None,
                start: Err(why),
                started: Instant::now(),
            },
        }
    }

    /// Ends the span: the energy of the phase, or why there is no figure.
    pub fn finish(self) -> Energy {
        let seconds = self.started.elapsed().as_secs_f64();
        let Some(mut counter) = self.counter else {
            return Energy::none(None, self.start.err().unwrap_or_default());
        };
        let end = counter.read();
        settle(counter.as_ref(), self.start, end, seconds)
    }
}

/// The energy of a phase of `seconds` from two readings of `counter`. Whether the counter
/// resolves it is judged once the cell's rounds are summed ([`unresolved`]).
pub fn settle(
    counter: &dyn Counter,
    start: Result<f64, String>,
    end: Result<f64, String>,
    seconds: f64,
) -> Energy {
    let source = Some(counter.source());
    let (start, end) = match (start, end) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Energy::none(source, e),
    };
    match delta(start, end, counter.wraps_at()) {
        // A counter that did not move is kept as 0 J: whether the phase was too short for it
        // is judged over the cell's rounds (`unresolved`), which says so.
        Some(j) => Energy {
            joules: Some(j),
            seconds: Some(seconds),
            source: source.map(str::to_owned),
            note: None,
        },
        None => Energy::none(
            source,
            "the counter went backwards and does not say where it wraps",
        ),
    }
}

/// The counter for a cell on the CPU: RAPL's package counters where readable.
pub fn cpu_counter() -> Result<Box<dyn Counter>, String> {
    rapl::Rapl::open(std::path::Path::new(rapl::POWERCAP)).map(|r| Box::new(r) as Box<dyn Counter>)
}

/// The device whose energy and state a cell's timed phase is read on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Cpu,
    /// An NVIDIA GPU: its UUID where CUDA told it (robust to `CUDA_VISIBLE_DEVICES`), else
    /// NVML's index.
    Nvidia {
        uuid: Option<String>,
        index: u32,
    },
    /// Apple silicon's GPU (the package's GPU energy).
    Apple,
}

impl Target {
    /// The NVIDIA GPU that CUDA numbers `ordinal`, as NVML knows it: `CUDA_VISIBLE_DEVICES`
    /// (indices or UUIDs) renumbers the GPUs a program sees.
    pub fn cuda_ordinal(ordinal: usize) -> Target {
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let entry = visible
            .as_deref()
            .and_then(|v| v.split(',').nth(ordinal))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        match entry {
            Some(e) if e.starts_with("GPU-") => Target::Nvidia {
                uuid: Some(e.to_owned()),
                index: ordinal as u32,
            },
            Some(e) => Target::Nvidia {
                uuid: None,
                index: e.parse().unwrap_or(ordinal as u32),
            },
            None => Target::Nvidia {
                uuid: None,
                index: ordinal as u32,
            },
        }
    }

    /// The energy counter of this device, or why there is none.
    pub fn counter(&self) -> Result<Box<dyn Counter>, String> {
        match self {
            Target::Cpu => cpu_counter(),
            Target::Nvidia { uuid, index } => nvml::device(uuid.as_deref(), *index)
                .and_then(nvml::EnergyCounter::open)
                .map(|c| Box::new(c) as Box<dyn Counter>),
            Target::Apple => apple_counter(),
        }
    }

    /// The state source of this device: `None` where there is none to read (CPUs, Apple GPUs,
    /// whose rows then say nothing of state), `Err` where there should be one and it failed.
    pub fn state(&self) -> Option<Result<Box<dyn state::StateSource>, String>> {
        match self {
            Target::Nvidia { uuid, index } => Some(
                nvml::GpuState::open(uuid.clone(), *index)
                    .map(|s| Box::new(s) as Box<dyn state::StateSource>),
            ),
            Target::Cpu | Target::Apple => None,
        }
    }
}

#[cfg(target_os = "macos")]
fn apple_counter() -> Result<Box<dyn Counter>, String> {
    ioreport::GpuEnergy::open().map(|c| Box::new(c) as Box<dyn Counter>)
}

#[cfg(not(target_os = "macos"))]
fn apple_counter() -> Result<Box<dyn Counter>, String> {
    Err("Apple's energy counters (IOReport) exist only on macOS".to_owned())
}

/// Readings in progress around a timed phase: the energy counter and the device's state.
pub struct Phase {
    energy: Span,
    state: Option<state::StateSpan>,
}

/// What a timed phase used and the state the device was in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseReading {
    pub energy: Energy,
    pub state: state::DeviceState,
}

/// The sources of a target, found before the phase (finding them lists folders and loads a
/// library: not timed work).
pub struct Sources {
    counter: Result<Box<dyn Counter>, String>,
    state: Option<Result<Box<dyn state::StateSource>, String>>,
}

impl Sources {
    pub fn of(target: &Target) -> Sources {
        Sources {
            counter: target.counter(),
            state: target.state(),
        }
    }

    /// Reads both at the start of the phase.
    pub fn start(self) -> Phase {
        // The state first: its power sampler then covers the whole span of the counter.
        let state = state::StateSpan::start(self.state);
        Phase {
            energy: Span::start(self.counter),
            state,
        }
    }
}

impl Phase {
    /// Reads both at the end of the phase.
    pub fn finish(self) -> PhaseReading {
        let energy = self.energy.finish();
        let state = self.state.map(state::StateSpan::finish).unwrap_or_default();
        PhaseReading { energy, state }
    }
}

/// Energy and state around a phase whose ends another process marks: a `command` program's
/// timed phase runs from its last warm-up to its last sample, and benchplan learns of each as
/// the line arrives. The counter is read at every warm-up line (the latest is the start) and
/// every sample line (the latest is the end), so the phase covers every timed iteration; the
/// state is read at the first sample and the last.
pub struct Marked {
    counter: Result<Box<dyn Counter>, String>,
    state: Option<Result<Box<dyn state::StateSource>, String>>,
    start: Option<(Instant, Result<f64, String>)>,
    end: Option<(Instant, Result<f64, String>)>,
    state_start: Option<(Instant, Result<state::Snapshot, String>)>,
}

impl Marked {
    /// Readings on `target`, found now (before the program starts); `Err` says why there is
    /// no target to read (the plan's device does not say which the program uses).
    pub fn new(target: Result<Target, String>) -> Marked {
        let (counter, state) = match target {
            Ok(t) => (t.counter(), t.state()),
            Err(why) => (Err(why), None),
        };
        Marked {
            counter,
            state,
            start: None,
            end: None,
            state_start: None,
        }
    }

    fn read(&mut self) -> Option<(Instant, Result<f64, String>)> {
        let c = self.counter.as_mut().ok()?;
        Some((Instant::now(), c.read()))
    }

    /// A warm-up line arrived: the timed phase may start here.
    pub fn warmup(&mut self) {
        if self.end.is_none() {
            self.start = self.read();
        }
    }

    /// A sample line arrived: the timed phase has run at least to here.
    pub fn sample(&mut self) {
        if self.state_start.is_none() {
            if let Some(Ok(s)) = self.state.as_mut() {
                self.state_start = Some((Instant::now(), s.snapshot()));
            }
        }
        self.end = self.read();
    }

    /// The energy of the phase and the device's state, or why there is none.
    pub fn finish(mut self) -> PhaseReading {
        let source = self.counter.as_ref().ok().map(|c| c.source());
        let energy = match (&self.counter, self.start.take(), self.end.take()) {
            (Err(why), _, _) => Energy::none(None, why.clone()),
            (Ok(_), None, _) => Energy::none(
                source,
                "the program reported no warm-up iteration, so benchplan cannot tell when its timed phase began",
            ),
            (Ok(_), Some(_), None) => Energy::none(source, "the program reported no sample"),
            (Ok(c), Some((t0, a)), Some((t1, b))) => {
                settle(c.as_ref(), a, b, (t1 - t0).as_secs_f64())
            }
        };
        let state = match self.state.take() {
            None => state::DeviceState::default(),
            Some(Err(why)) => state::DeviceState {
                note: Some(why),
                ..Default::default()
            },
            Some(Ok(mut s)) => {
                let end = s.snapshot();
                let (at, start) = self.state_start.take().unwrap_or_else(|| {
                    (Instant::now(), Err("the program reported no sample".into()))
                });
                let phase_s = at.elapsed().as_secs_f64();
                state::settle_state(s.as_ref(), start, end, None, phase_s)
            }
        };
        PhaseReading { energy, state }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A counter replaying recorded values (NVML-style: millijoule steps every 100 ms).
    pub(crate) struct Recorded {
        pub values: Vec<f64>,
        pub at: usize,
        pub wrap: Option<f64>,
    }

    impl Counter for Recorded {
        fn source(&self) -> &'static str {
            "nvml"
        }
        fn read(&mut self) -> Result<f64, String> {
            let v = self
                .values
                .get(self.at)
                .copied()
                .ok_or("no more readings")?;
            self.at += 1;
            Ok(v)
        }
        fn wraps_at(&self) -> Option<f64> {
            self.wrap
        }
    }

    pub(crate) fn recorded(values: &[f64], wrap: Option<f64>) -> Recorded {
        Recorded {
            values: values.to_vec(),
            at: 0,
            wrap,
        }
    }

    #[test]
    fn joules_come_from_two_readings_and_a_wrap_is_undone() {
        let c = recorded(&[], Some(4_294.967_295));
        let e = settle(&c, Ok(100.0), Ok(2_592.0), 4.0);
        assert_eq!(e.joules, Some(2_492.0));
        assert_eq!(e.source.as_deref(), Some("nvml"));
        // 4,200 J, then the counter wrapped past 4,294.97 J and read 1,000 J.
        let e = settle(&c, Ok(4_200.0), Ok(1_000.0), 4.0);
        assert!((e.joules.unwrap() - 1_094.967_295).abs() < 1e-9);
        let no_wrap = recorded(&[], None);
        assert!(settle(&no_wrap, Ok(5.0), Ok(1.0), 4.0)
            .note
            .unwrap()
            .contains("backwards"));
    }

    #[test]
    fn a_phase_too_short_for_the_counter_gets_no_figure_and_says_why() {
        // NVML moves every 100 ms: one phase needs 0.82 s, five phases 1.83 s in all.
        assert!((seconds_needed(0.1, 1) - 0.816_5).abs() < 1e-3);
        assert!((seconds_needed(0.1, 5) - 1.825_7).abs() < 1e-3);
        let why = unresolved("nvml", 10.0, 0.5, 1).unwrap();
        assert!(
            why.contains("0.5s in 1 round,") && why.contains("0.8s"),
            "{why}"
        );
        assert!(why.contains("raise `iterations`"), "{why}");
        assert_eq!(unresolved("nvml", 10.0, 2.0, 5), None);
        assert!(unresolved("nvml", 10.0, 1.0, 5)
            .unwrap()
            .contains("in 5 rounds"));
        // RAPL moves every millisecond; a program's own figure is not judged.
        assert_eq!(unresolved("rapl", 1.0, 0.05, 1), None);
        assert_eq!(unresolved("program", 1.0, 0.001, 1), None);
        let c = recorded(&[], None);
        assert_eq!(settle(&c, Ok(3.0), Ok(3.0), 5.0).joules, Some(0.0));
        assert!(unresolved("nvml", 0.0, 5.0, 1)
            .unwrap()
            .contains("did not move"));
        assert!(unresolved("nvml", 0.0, 0.01, 1)
            .unwrap()
            .contains("shorter than"));
    }

    #[test]
    fn no_counter_means_null_figures_with_the_reason() {
        let e = Span::start(Err("no RAPL counters here".into())).finish();
        assert_eq!(e, Energy::none(None, "no RAPL counters here"));
        let mut span = Span::start(Ok(Box::new(recorded(&[10.0, 640.0], None))));
        span.started -= std::time::Duration::from_secs(1);
        let e = span.finish();
        assert_eq!(e.joules, Some(630.0));
        assert!(e.seconds.unwrap() >= 1.0);
    }
}
