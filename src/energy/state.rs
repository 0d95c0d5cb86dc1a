//! The device's state around a cell's timed phase: clocks, temperature, power limit and the
//! clock-event (throttle) reasons at its start and end, for how long the device was held back
//! by its power or thermal limits during it, and the instantaneous power integrated over it
//! (a check on the energy counter). A cell measured while its GPU was throttled or at idle
//! clocks is a different measurement: the row says so, and reports and diffs mark it.
//!
//! Read from NVML on NVIDIA GPUs ([`super::nvml`]); other devices have no state source, and
//! their rows say nothing of state (null), as CPU rows did before.

/// The clock-event reason names that mean the device ran slower than it could have: a row
/// whose reasons include one of them, or whose device was held back during the phase, is
/// throttled.
pub const THROTTLING_REASONS: &[&str] = &[
    "sw_power_cap",
    "hw_slowdown",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];

/// The share of the timed phase a device may be held back by its limits and still not count
/// as throttled.
pub const HELD_BACK_SHARE: f64 = 0.05;

/// One reading of a device's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub sm_mhz: Option<u32>,
    pub memory_mhz: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_limit_w: Option<f64>,
    /// The clock-event reasons as the source's bit mask.
    pub clock_events: u64,
    /// Cumulative nanoseconds the device has been held back by its power and thermal limits.
    pub held_back_ns: Option<u64>,
}

/// Where a device's state is read from.
pub trait StateSource {
    fn snapshot(&mut self) -> Result<Snapshot, String>;
    /// Starts integrating the instantaneous power (a thread), for [`Self::power_integrated_j`].
    fn start_power_sampling(&mut self);
    /// Joules from the power readings since [`Self::start_power_sampling`], stopping it.
    fn power_integrated_j(&mut self) -> Option<f64>;
    /// The names of the reasons in a clock-event mask, and whether any is throttling.
    fn reason_names(&self, bits: u64) -> (Vec<&'static str>, bool);
}

/// A device's state over a timed phase, as a row stores it (every round folded in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceState {
    pub sm_mhz_start: Option<u64>,
    pub sm_mhz_end: Option<u64>,
    pub memory_mhz_start: Option<u64>,
    pub memory_mhz_end: Option<u64>,
    pub temperature_c_start: Option<u64>,
    pub temperature_c_end: Option<u64>,
    pub power_limit_w: Option<f64>,
    /// The clock-event reasons at the start, comma-separated (`sw_power_cap`), empty for none.
    pub clock_events_start: Option<String>,
    pub clock_events_end: Option<String>,
    /// Seconds of the phase the device was held back by its power or thermal limits.
    pub held_back_s: Option<f64>,
    /// Joules from the instantaneous power sampled every 20 ms over the phase.
    pub power_integrated_j: Option<f64>,
    /// Why the state is missing or partial.
    pub note: Option<String>,
}

impl DeviceState {
    /// Whether the device was throttled during the `timed_s` seconds of the phase: held back by
    /// a limit for more than [`HELD_BACK_SHARE`] of them, where NVML's violation counters say;
    /// else a throttling reason at the start or end. (A reason bit alone is not enough where
    /// the counters exist: an H200 at its top clock, held back 3% of the time, reports
    /// `sw_power_cap` at some readings.) `None` where nothing was read.
    pub fn throttled(&self, timed_s: f64) -> Option<bool> {
        if let Some(held) = self.held_back_s {
            if timed_s > 0.0 {
                return Some(held > HELD_BACK_SHARE * timed_s);
            }
        }
        let named = |e: &Option<String>| {
            e.as_deref()
                .map(|s| s.split(',').any(|r| THROTTLING_REASONS.contains(&r.trim())))
        };
        [
            named(&self.clock_events_start),
            named(&self.clock_events_end),
        ]
        .into_iter()
        .flatten()
        .reduce(|a, b| a || b)
    }

    /// Folds a later round's state into this one: the first round's start, the last round's
    /// end, the reasons seen at any start or end, the time held back and the power summed.
    pub fn fold(&mut self, later: &DeviceState) {
        let union = |a: &Option<String>, b: &Option<String>| -> Option<String> {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let mut names: Vec<&str> = a
                        .split(',')
                        .chain(b.split(','))
                        .filter(|s| !s.is_empty())
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    Some(names.join(","))
                }
                (a, b) => a.clone().or_else(|| b.clone()),
            }
        };
        self.clock_events_start = union(&self.clock_events_start, &later.clock_events_start);
        self.clock_events_end = union(&self.clock_events_end, &later.clock_events_end);
        self.sm_mhz_start = self.sm_mhz_start.or(later.sm_mhz_start);
        self.memory_mhz_start = self.memory_mhz_start.or(later.memory_mhz_start);
        self.temperature_c_start = self.temperature_c_start.or(later.temperature_c_start);
        self.sm_mhz_end = later.sm_mhz_end.or(self.sm_mhz_end);
        self.memory_mhz_end = later.memory_mhz_end.or(self.memory_mhz_end);
        self.temperature_c_end = later.temperature_c_end.or(self.temperature_c_end);
        self.power_limit_w = later.power_limit_w.or(self.power_limit_w);
        let sum = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a + b);
        self.held_back_s = sum(self.held_back_s, later.held_back_s);
        self.power_integrated_j = sum(self.power_integrated_j, later.power_integrated_j);
        self.note = self.note.take().or_else(|| later.note.clone());
    }

    /// A short description for the run line and the report's note: `throttled (sw_power_cap,
    /// held back 1.2s); SM 1530→1530 MHz; 45→61 °C`.
    pub fn describe(&self, timed_s: f64) -> String {
        let mut parts = Vec::new();
        if self.throttled(timed_s) == Some(true) {
            let mut why: Vec<String> = Vec::new();
            let mut reasons: Vec<&str> = [&self.clock_events_start, &self.clock_events_end]
                .into_iter()
                .flatten()
                .flat_map(|s| s.split(','))
                .filter(|r| THROTTLING_REASONS.contains(r))
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            why.extend(reasons.iter().map(|r| r.replace('_', " ")));
            if let Some(s) = self.held_back_s.filter(|s| *s > 0.0) {
                let share = if timed_s > 0.0 {
                    format!(" of {}", crate::format::elapsed(timed_s))
                } else {
                    String::new()
                };
                why.push(format!("held back {}{share}", crate::format::elapsed(s)));
            }
            parts.push(format!("throttled ({})", why.join(", ")));
        }
        let span = |a: Option<u64>, b: Option<u64>, unit: &str| match (a, b) {
            (Some(a), Some(b)) => Some(format!("{a}→{b} {unit}")),
            (a, b) => a.or(b).map(|v| format!("{v} {unit}")),
        };
        if let Some(s) = span(self.sm_mhz_start, self.sm_mhz_end, "MHz") {
            parts.push(format!("SM {s}"));
        }
        if let Some(s) = span(self.temperature_c_start, self.temperature_c_end, "°C") {
            parts.push(s);
        }
        parts.join("; ")
    }
}

/// A state reading in progress: the source and its reading when the timed phase began.
pub struct StateSpan {
    source: Result<Box<dyn StateSource>, String>,
    start: Option<Result<Snapshot, String>>,
    started: std::time::Instant,
}

impl StateSpan {
    /// Reads the state at the start of the phase and starts the power sampler. `Err` (no
    /// source) gives a state of nulls and its reason; `None` gives no state at all (devices
    /// without a state source).
    pub fn start(source: Option<Result<Box<dyn StateSource>, String>>) -> Option<StateSpan> {
        let mut source = source?;
        let start = match &mut source {
            Ok(s) => {
                let snap = s.snapshot();
                s.start_power_sampling();
                Some(snap)
            }
            Err(_) => None,
        };
        Some(StateSpan {
            source,
            start,
            started: std::time::Instant::now(),
        })
    }

    /// Reads the state at the end of the phase.
    pub fn finish(self) -> DeviceState {
        let phase_s = self.started.elapsed().as_secs_f64();
        let mut source = match self.source {
            Ok(s) => s,
            Err(why) => {
                return DeviceState {
                    note: Some(why),
                    ..DeviceState::default()
                }
            }
        };
        let power = source.power_integrated_j();
        let end = source.snapshot();
        settle_state(
            source.as_ref(),
            self.start.unwrap_or_else(|| Err("no reading".into())),
            end,
            power,
            phase_s,
        )
    }
}

/// The state of a phase of `phase_s` seconds from its two readings.
pub fn settle_state(
    source: &dyn StateSource,
    start: Result<Snapshot, String>,
    end: Result<Snapshot, String>,
    power_integrated_j: Option<f64>,
    phase_s: f64,
) -> DeviceState {
    let names = |bits: u64| source.reason_names(bits).0.join(",");
    let mut state = DeviceState {
        power_integrated_j,
        ..DeviceState::default()
    };
    let mut notes = Vec::new();
    match &start {
        Ok(s) => {
            state.sm_mhz_start = s.sm_mhz.map(u64::from);
            state.memory_mhz_start = s.memory_mhz.map(u64::from);
            state.temperature_c_start = s.temperature_c.map(u64::from);
            state.clock_events_start = Some(names(s.clock_events));
        }
        Err(e) => notes.push(format!("at the start: {e}")),
    }
    match &end {
        Ok(s) => {
            state.sm_mhz_end = s.sm_mhz.map(u64::from);
            state.memory_mhz_end = s.memory_mhz.map(u64::from);
            state.temperature_c_end = s.temperature_c.map(u64::from);
            state.power_limit_w = s.power_limit_w;
            state.clock_events_end = Some(names(s.clock_events));
        }
        Err(e) => notes.push(format!("at the end: {e}")),
    }
    if let (Ok(a), Ok(b)) = (&start, &end) {
        // The counters are cumulative; held back longer than the phase is a counter's glitch.
        state.held_back_s = a
            .held_back_ns
            .zip(b.held_back_ns)
            .and_then(|(a, b)| b.checked_sub(a))
            .map(|ns| (ns as f64 / 1e9).min(phase_s));
    }
    if !notes.is_empty() {
        state.note = Some(notes.join("; "));
    }
    state
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A state source replaying recorded NVML-style readings.
    pub(crate) struct Recorded {
        pub readings: Vec<Result<Snapshot, String>>,
        pub power_j: Option<f64>,
    }

    impl StateSource for Recorded {
        fn snapshot(&mut self) -> Result<Snapshot, String> {
            if self.readings.is_empty() {
                return Err("no more readings".into());
            }
            self.readings.remove(0)
        }
        fn start_power_sampling(&mut self) {}
        fn power_integrated_j(&mut self) -> Option<f64> {
            self.power_j
        }
        fn reason_names(&self, bits: u64) -> (Vec<&'static str>, bool) {
            crate::energy::nvml::reason_names(bits)
        }
    }

    fn reading(sm: u32, temp: u32, events: u64, held_ns: u64) -> Snapshot {
        Snapshot {
            sm_mhz: Some(sm),
            memory_mhz: Some(2619),
            temperature_c: Some(temp),
            power_limit_w: Some(700.0),
            clock_events: events,
            held_back_ns: Some(held_ns),
        }
    }

    #[test]
    fn a_power_capped_phase_is_flagged_throttled_with_its_reason() {
        // Recorded on an H200 under a bf16 matmul loop: SM 1980 MHz idle-boosted at the start,
        // 1530 MHz and reason 0x4 (software power cap) at the end, 2.1 s held back.
        let mut src = Recorded {
            readings: vec![
                Ok(reading(1980, 38, 0x0, 5_000_000_000)),
                Ok(reading(1530, 61, 0x4, 7_100_000_000)),
            ],
            power_j: Some(2_460.0),
        };
        let start = src.snapshot();
        let end = src.snapshot();
        let s = settle_state(&src, start, end, src.power_j, 4.0);
        assert_eq!(s.clock_events_start.as_deref(), Some(""));
        assert_eq!(s.clock_events_end.as_deref(), Some("sw_power_cap"));
        assert!((s.held_back_s.unwrap() - 2.1).abs() < 1e-9);
        assert_eq!(s.throttled(4.0), Some(true));
        // 2.1 s held back is under 5% of a 60 s phase: the reason bit alone does not count.
        assert_eq!(s.throttled(60.0), Some(false));
        assert_eq!((s.sm_mhz_start, s.sm_mhz_end), (Some(1980), Some(1530)));
        assert_eq!(s.power_limit_w, Some(700.0));
        let said = s.describe(4.0);
        assert!(
            said.starts_with("throttled (sw power cap, held back 2.1s of 4.0s)"),
            "{said}"
        );
        assert!(
            said.contains("SM 1980→1530 MHz") && said.contains("38→61 °C"),
            "{said}"
        );
    }

    #[test]
    fn an_idle_reason_alone_is_not_throttling_and_missing_readings_say_why() {
        let mut src = Recorded {
            readings: vec![
                Ok(reading(1980, 40, 0x1, 10)),
                Ok(reading(1980, 41, 0x1, 10)),
            ],
            power_j: None,
        };
        let (a, b) = (src.snapshot(), src.snapshot());
        let s = settle_state(&src, a, b, None, 1.0);
        assert_eq!(s.clock_events_end.as_deref(), Some("gpu_idle"));
        assert_eq!(s.throttled(1.0), Some(false));
        let end = src.snapshot();
        let s = settle_state(&src, Err("gone".into()), end, None, 1.0);
        assert!(s.note.as_deref().unwrap().contains("at the start: gone"));
        assert_eq!(s.throttled(1.0), None);
        // Without violation counters, a throttling reason decides.
        let reasons_only = DeviceState {
            clock_events_end: Some("hw_slowdown".into()),
            ..DeviceState::default()
        };
        assert_eq!(reasons_only.throttled(1.0), Some(true));
        let none = StateSpan::start(Some(Err("NVML could not be loaded".into())))
            .unwrap()
            .finish();
        assert_eq!(none.note.as_deref(), Some("NVML could not be loaded"));
        assert!(StateSpan::start(None).is_none());
    }

    #[test]
    fn rounds_fold_into_the_first_start_the_last_end_and_the_sum_held_back() {
        let mut a = DeviceState {
            sm_mhz_start: Some(1980),
            sm_mhz_end: Some(1980),
            clock_events_start: Some(String::new()),
            clock_events_end: Some(String::new()),
            held_back_s: Some(0.0),
            power_integrated_j: Some(100.0),
            ..DeviceState::default()
        };
        let b = DeviceState {
            sm_mhz_start: Some(1755),
            sm_mhz_end: Some(1530),
            clock_events_start: Some("sw_power_cap".into()),
            clock_events_end: Some("sw_power_cap,sw_thermal_slowdown".into()),
            held_back_s: Some(0.5),
            power_integrated_j: Some(150.0),
            ..DeviceState::default()
        };
        a.fold(&b);
        assert_eq!((a.sm_mhz_start, a.sm_mhz_end), (Some(1980), Some(1530)));
        assert_eq!(a.clock_events_start.as_deref(), Some("sw_power_cap"));
        assert_eq!(
            a.clock_events_end.as_deref(),
            Some("sw_power_cap,sw_thermal_slowdown")
        );
        assert_eq!(
            (a.held_back_s, a.power_integrated_j),
            (Some(0.5), Some(250.0))
        );
        assert_eq!(a.throttled(2.0), Some(true));
    }
}
