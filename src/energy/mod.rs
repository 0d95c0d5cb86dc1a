//! Energy per cell, from energy *counters* read around the timed iterations: joules, and from
//! them watts, joules per sample and samples per joule. A counter is read at the start and the
//! end of the timed phase; a figure is given only where the counter can resolve it (the phase
//! lasted long enough for the counter's update interval), and otherwise the row says why there
//! is none. Where no counter is readable (no driver, no permission, a VM without powercap) every
//! figure is null with the reason, and nothing fails.
//!
//! Sources: [`rapl`] (Linux package counters). NVIDIA's NVML counter and Apple's IOReport
//! counters are not read yet (issue 19).

pub mod rapl;

use std::time::Instant;

/// A cumulative energy counter.
pub trait Counter {
    /// The source's name as rows record it (`rapl`, `nvml`).
    fn source(&self) -> &'static str;
    /// The counter's value, joules since an arbitrary origin, or why it cannot be read.
    fn read(&mut self) -> Result<f64, String>;
    /// The value at which the counter wraps to zero, joules, where it does.
    fn wraps_at(&self) -> Option<f64>;
    /// How often the counter moves, seconds: a phase must last [`RESOLVING_UPDATES`] updates
    /// for a figure within 10%.
    fn update_interval_s(&self) -> f64;
}

/// Updates of a counter a timed phase must span for its figure to be within about 10%: the
/// reading at each end may be up to one update stale.
pub const RESOLVING_UPDATES: f64 = 20.0;

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

/// The energy of a phase of `seconds` from two readings of `counter`.
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
    let needed = RESOLVING_UPDATES * counter.update_interval_s();
    if seconds < needed {
        return Energy::none(
            source,
            format!(
                "the timed phase lasted {}, shorter than the {} the {} counter needs for a figure within 10% (it moves every {})",
                crate::format::elapsed(seconds),
                crate::format::elapsed(needed),
                counter.source(),
                crate::format::duration_ms(counter.update_interval_s() * 1e3)
            ),
        );
    }
    match delta(start, end, counter.wraps_at()) {
        Some(j) if j > 0.0 => Energy {
            joules: Some(j),
            seconds: Some(seconds),
            source: source.map(str::to_owned),
            note: None,
        },
        Some(_) => Energy::none(source, "the counter did not move during the timed phase"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter replaying recorded values (NVML-style: millijoule steps every 100 ms).
    struct Recorded {
        values: Vec<f64>,
        at: usize,
        interval: f64,
        wrap: Option<f64>,
    }

    impl Counter for Recorded {
        fn source(&self) -> &'static str {
            "recorded"
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
        fn update_interval_s(&self) -> f64 {
            self.interval
        }
    }

    fn recorded(values: &[f64], interval: f64, wrap: Option<f64>) -> Recorded {
        Recorded {
            values: values.to_vec(),
            at: 0,
            interval,
            wrap,
        }
    }

    #[test]
    fn joules_come_from_two_readings_and_a_wrap_is_undone() {
        let c = recorded(&[], 0.001, Some(4_294.967_295));
        let e = settle(&c, Ok(100.0), Ok(2_592.0), 4.0);
        assert_eq!(e.joules, Some(2_492.0));
        assert_eq!(e.source.as_deref(), Some("recorded"));
        // 4,200 J, then the counter wrapped past 4,294.97 J and read 1,000 J.
        let e = settle(&c, Ok(4_200.0), Ok(1_000.0), 4.0);
        assert!((e.joules.unwrap() - 1_094.967_295).abs() < 1e-9);
        let no_wrap = recorded(&[], 0.001, None);
        assert!(settle(&no_wrap, Ok(5.0), Ok(1.0), 4.0)
            .note
            .unwrap()
            .contains("backwards"));
    }

    #[test]
    fn a_phase_too_short_for_the_counter_gets_no_figure_and_says_why() {
        // NVML-style: moves every 100 ms, so a figure needs 2 s.
        let c = recorded(&[], 0.1, None);
        let e = settle(&c, Ok(0.0), Ok(60.0), 0.5);
        assert_eq!(e.joules, None);
        let why = e.note.unwrap();
        assert!(why.contains("0.5s") && why.contains("2.0s"), "{why}");
        assert!(settle(&c, Ok(3.0), Ok(3.0), 5.0)
            .note
            .unwrap()
            .contains("did not move"));
    }

    #[test]
    fn no_counter_means_null_figures_with_the_reason() {
        let e = Span::start(Err("no RAPL counters here".into())).finish();
        assert_eq!(e, Energy::none(None, "no RAPL counters here"));
        let mut span = Span::start(Ok(Box::new(recorded(&[10.0, 640.0], 0.0, None))));
        span.started -= std::time::Duration::from_secs(1);
        let e = span.finish();
        assert_eq!(e.joules, Some(630.0));
        assert!(e.seconds.unwrap() >= 1.0);
    }
}
