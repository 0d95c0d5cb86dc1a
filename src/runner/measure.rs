//! The measurement loop: warm-up, then timed iterations, the device synchronized before every
//! clock read, every sample kept.

use std::time::{Duration, Instant};

use candle_core::Device;

use crate::device::synchronize;
use crate::memory::cpu_time_ms;
use crate::plan::measure::{Budget, MeasureSettings};
use crate::workload::Bench;

/// Raw samples of one cell, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub warmup_ms: Vec<f64>,
    pub timed_ms: Vec<f64>,
    /// Process CPU time (all threads) over the timed iterations, milliseconds.
    pub timed_cpu_ms: Option<f64>,
    /// Wall time of the timed iterations as a whole, milliseconds.
    pub timed_wall_ms: f64,
    /// Energy of the timed iterations (or why there is no figure) and the device's state.
    pub phase: Box<crate::energy::PhaseReading>,
}

/// Why measuring stopped early. Samples taken before that are kept.
#[derive(Debug)]
pub enum Stopped {
    /// An iteration returned an error.
    Error(String, Samples),
    /// The cell ran past its timeout (checked between iterations).
    Timeout(Duration, Samples),
}

/// Whether the timed samples so far complete the round: its budget is spent. (Precision is
/// sought between rounds, not inside one: see `MeasureSettings::round_limit`.) Shared by
/// benchplan's own loop and by external programs.
pub fn enough(settings: &MeasureSettings, timed_ms: &[f64], budget_start: Instant) -> bool {
    let n = timed_ms.len() as u64;
    match settings.iterations {
        Budget::Iterations(k) => n >= k,
        Budget::Time(d) => {
            n >= settings.max_iterations
                || (n >= settings.min_iterations && budget_start.elapsed() >= d)
        }
    }
}

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times one iteration: the device is idle when the first clock is read (synchronized at the
/// end of the previous iteration, or before the loop), and synchronized again before the
/// second, so queued GPU work is inside the interval.
fn timed(bench: &mut dyn Bench, device: &Device) -> candle_core::Result<f64> {
    let start = Instant::now();
    bench.iterate()?;
    synchronize(device)?;
    Ok(millis(start.elapsed()))
}

/// The device whose energy and state are read around the timed iterations.
fn target_of(device: &Device) -> crate::energy::Target {
    match device {
        Device::Cpu => crate::energy::Target::Cpu,
        Device::Cuda(_) => match crate::device::gpu_uuid(device) {
            Some(uuid) => crate::energy::Target::Nvidia {
                uuid: Some(uuid),
                index: device_ordinal(device),
            },
            None => crate::energy::Target::cuda_ordinal(device_ordinal(device) as usize),
        },
        Device::Metal(_) => crate::energy::Target::Apple,
    }
}

/// The ordinal of a device (0 for the CPU).
fn device_ordinal(device: &Device) -> u32 {
    match device.location() {
        candle_core::DeviceLocation::Cuda { gpu_id }
        | candle_core::DeviceLocation::Metal { gpu_id } => gpu_id as u32,
        candle_core::DeviceLocation::Cpu => 0,
    }
}

/// Warms up and measures `bench` under `settings`. `cell_start` is when the cell began (set-up
/// counts towards its timeout); `on_sample` sees the timed samples so far after each one.
pub fn measure(
    bench: &mut dyn Bench,
    device: &Device,
    settings: &MeasureSettings,
    cell_start: Instant,
    on_sample: &mut dyn FnMut(&[f64]),
) -> Result<Samples, Stopped> {
    let mut samples = Samples::default();
    let timeout = settings.timeout;
    if let Err(e) = synchronize(device) {
        return Err(Stopped::Error(e.to_string(), samples));
    }

    let warm_start = Instant::now();
    loop {
        let done = match settings.warmup {
            Budget::Iterations(n) => samples.warmup_ms.len() as u64 >= n,
            Budget::Time(d) => warm_start.elapsed() >= d,
        };
        if done {
            break;
        }
        if cell_start.elapsed() > timeout {
            return Err(Stopped::Timeout(timeout, samples));
        }
        match timed(bench, device) {
            Ok(ms) => samples.warmup_ms.push(ms),
            Err(e) => return Err(Stopped::Error(e.to_string(), samples)),
        }
    }

    // The counter is found (a folder listed) before the timed phase and read right around it,
    // as the clock is, so that neither the CPU time nor the energy counts the finding.
    let sources = crate::energy::Sources::of(&target_of(device));
    bench.begin_timed();
    let cpu_start = cpu_time_ms();
    let phase = sources.start();
    let budget_start = Instant::now();
    loop {
        let done = enough(settings, &samples.timed_ms, budget_start);
        if done {
            break;
        }
        if cell_start.elapsed() > timeout {
            return Err(Stopped::Timeout(timeout, samples));
        }
        match timed(bench, device) {
            Ok(ms) => samples.timed_ms.push(ms),
            Err(e) => return Err(Stopped::Error(e.to_string(), samples)),
        }
        on_sample(&samples.timed_ms);
    }
    samples.timed_wall_ms = millis(budget_start.elapsed());
    samples.phase = Box::new(phase.finish());
    samples.timed_cpu_ms = cpu_start.zip(cpu_time_ms()).map(|(a, b)| b - a);
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic bench: sleeps nothing, fails on a chosen iteration.
    struct Scripted {
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Bench for Scripted {
        fn iterate(&mut self) -> candle_core::Result<()> {
            self.calls += 1;
            if Some(self.calls) == self.fail_at {
                candle_core::bail!("scripted failure");
            }
            Ok(())
        }
    }

    fn settings(warmup: Budget, iterations: Budget) -> MeasureSettings {
        MeasureSettings {
            warmup,
            iterations,
            min_iterations: 5,
            max_iterations: 50,
            timeout: Duration::from_secs(60),
            target_ci: None,
            rounds: 1,
            max_rounds: None,
        }
    }

    #[test]
    fn counts_are_exact() {
        let mut b = Scripted {
            calls: 0,
            fail_at: None,
        };
        let s = settings(Budget::Iterations(3), Budget::Iterations(7));
        let mut seen = 0;
        let out = measure(&mut b, &Device::Cpu, &s, Instant::now(), &mut |x| {
            seen = x.len()
        })
        .unwrap();
        assert_eq!(
            (out.warmup_ms.len(), out.timed_ms.len(), b.calls, seen),
            (3, 7, 10, 7)
        );
    }

    #[test]
    fn a_time_budget_respects_min_and_max() {
        let mut b = Scripted {
            calls: 0,
            fail_at: None,
        };
        // A zero-length budget still takes the minimum; a long one stops at the maximum.
        let s = settings(Budget::Iterations(0), Budget::Time(Duration::ZERO));
        assert_eq!(
            measure(&mut b, &Device::Cpu, &s, Instant::now(), &mut |_| {})
                .unwrap()
                .timed_ms
                .len(),
            5
        );
        let s = settings(
            Budget::Iterations(0),
            Budget::Time(Duration::from_secs(3600)),
        );
        assert_eq!(
            measure(&mut b, &Device::Cpu, &s, Instant::now(), &mut |_| {})
                .unwrap()
                .timed_ms
                .len(),
            50
        );
    }

    #[test]
    fn errors_and_timeouts_keep_what_was_measured() {
        let mut b = Scripted {
            calls: 0,
            fail_at: Some(6),
        };
        let s = settings(Budget::Iterations(2), Budget::Iterations(10));
        match measure(&mut b, &Device::Cpu, &s, Instant::now(), &mut |_| {}) {
            Err(Stopped::Error(msg, samples)) => {
                assert!(msg.contains("scripted failure"));
                assert_eq!((samples.warmup_ms.len(), samples.timed_ms.len()), (2, 3));
            }
            other => panic!("expected an error, got {other:?}"),
        }
        let mut b = Scripted {
            calls: 0,
            fail_at: None,
        };
        let mut s = settings(Budget::Iterations(0), Budget::Iterations(10));
        s.timeout = Duration::from_millis(1);
        let long_ago = Instant::now() - Duration::from_secs(1);
        assert!(matches!(
            measure(&mut b, &Device::Cpu, &s, long_ago, &mut |_| {}),
            Err(Stopped::Timeout(..))
        ));
    }
}
