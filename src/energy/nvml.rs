//! NVIDIA GPUs through NVML, loaded at run time (`nvml-wrapper` opens `libnvidia-ml` with
//! `dlopen`), so a build without CUDA and a machine without the driver are unaffected: every
//! figure is then null with the reason.
//!
//! Three readings: the total-energy counter (millijoules since the driver loaded, Volta and
//! later; it moves about every 100 ms, so a figure needs about two seconds of timed work), the
//! device's state at the start and end of the timed phase (clocks, temperature, power limit,
//! clock-event reasons, and the violation counters that say for how long the GPU was held
//! back), and the instantaneous power, sampled on a thread during the phase and integrated, to
//! check the counter against.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{Clock, PerformancePolicy, TemperatureSensor};
use nvml_wrapper::{Device, Nvml};

use super::state::{Snapshot, StateSource};
use super::Counter;

/// How often the power sampler reads the instantaneous power.
const POWER_SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The library, loaded once per process; `Err` says why it could not be.
fn library() -> &'static Result<Nvml, String> {
    static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
    NVML.get_or_init(|| {
        Nvml::init().map_err(|e| format!("NVML could not be loaded ({e}): no NVIDIA driver here"))
    })
}

/// How many NVIDIA GPUs NVML sees (0 without the driver).
pub fn gpu_count() -> u32 {
    library()
        .as_ref()
        .ok()
        .and_then(|n| n.device_count().ok())
        .unwrap_or(0)
}

/// The NVML device of a GPU given by its UUID (`GPU-…`, as CUDA reports it: this holds
/// whatever `CUDA_VISIBLE_DEVICES` renumbered), or by NVML's index where the UUID is unknown.
pub fn device(uuid: Option<&str>, index: u32) -> Result<Device<'static>, String> {
    let nvml = library().as_ref().map_err(Clone::clone)?;
    match uuid {
        Some(u) => nvml
            .device_by_uuid(u)
            .map_err(|e| format!("NVML does not know the GPU {u}: {e}")),
        None => nvml
            .device_by_index(index)
            .map_err(|e| format!("NVML has no GPU {index}: {e}")),
    }
}

/// NVML's total-energy counter of one GPU.
pub struct EnergyCounter {
    device: Device<'static>,
}

impl EnergyCounter {
    /// The counter of `device`, or why it cannot be read (a GPU older than Volta).
    pub fn open(device: Device<'static>) -> Result<EnergyCounter, String> {
        device.total_energy_consumption().map_err(|e| {
            format!("the GPU's energy counter cannot be read ({e}); NVML has it on Volta and later")
        })?;
        Ok(EnergyCounter { device })
    }
}

impl Counter for EnergyCounter {
    fn source(&self) -> &'static str {
        "nvml"
    }
    fn read(&mut self) -> Result<f64, String> {
        self.device
            .total_energy_consumption()
            .map(|mj| mj as f64 / 1e3)
            .map_err(|e| format!("reading NVML's energy counter failed: {e}"))
    }
    fn wraps_at(&self) -> Option<f64> {
        // 64 bits of millijoules: it does not wrap in a GPU's lifetime.
        None
    }
}

/// The clock-event reasons that mean the GPU ran slower than it could have: power and thermal
/// limits and hardware slowdowns. Idle, application-clock and sync-boost reasons are settings
/// or the absence of work, not throttling.
const THROTTLING: &[(ThrottleReasons, &str)] = &[
    (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
    (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
    (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
    (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
    (
        ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
        "hw_power_brake_slowdown",
    ),
];

/// The other reasons, named so that a row says what NVML said.
const OTHER_REASONS: &[(ThrottleReasons, &str)] = &[
    (ThrottleReasons::GPU_IDLE, "gpu_idle"),
    (
        ThrottleReasons::APPLICATIONS_CLOCKS_SETTING,
        "applications_clocks_setting",
    ),
    (ThrottleReasons::SYNC_BOOST, "sync_boost"),
    (
        ThrottleReasons::DISPLAY_CLOCK_SETTING,
        "display_clock_setting",
    ),
];

/// The names of the reasons in `bits`, and whether any of them is throttling.
pub fn reason_names(bits: u64) -> (Vec<&'static str>, bool) {
    let reasons = ThrottleReasons::from_bits_truncate(bits);
    let mut names = Vec::new();
    let mut throttling = false;
    for (flag, name) in THROTTLING {
        if reasons.contains(*flag) {
            names.push(*name);
            throttling = true;
        }
    }
    for (flag, name) in OTHER_REASONS {
        if reasons.contains(*flag) {
            names.push(*name);
        }
    }
    (names, throttling)
}

/// The power sampler: a thread reading the instantaneous power every 20 ms and integrating it
/// (trapezoids), stopped at the end of the phase.
struct PowerSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<f64>>,
}

impl PowerSampler {
    fn start(uuid: Option<String>, index: u32) -> PowerSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let device = device(uuid.as_deref(), index).ok()?;
            let watts = |d: &Device| d.power_usage().ok().map(|mw| mw as f64 / 1e3);
            let mut last = (Instant::now(), watts(&device)?);
            let mut joules = 0.0;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(POWER_SAMPLE_EVERY);
                let now = (Instant::now(), watts(&device)?);
                joules += (now.0 - last.0).as_secs_f64() * (now.1 + last.1) / 2.0;
                last = now;
            }
            Some(joules)
        });
        PowerSampler { stop, thread }
    }

    fn finish(self) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// One GPU's state as NVML reports it.
pub struct GpuState {
    device: Device<'static>,
    uuid: Option<String>,
    index: u32,
    sampler: Option<PowerSampler>,
}

impl GpuState {
    pub fn open(uuid: Option<String>, index: u32) -> Result<GpuState, String> {
        Ok(GpuState {
            device: device(uuid.as_deref(), index)?,
            uuid,
            index,
            sampler: None,
        })
    }

    /// Nanoseconds the GPU has been held back by its power and thermal limits since the driver
    /// loaded (NVML's violation counters), where NVML has them.
    fn held_back_ns(&self) -> Option<u64> {
        let mut total = None;
        for policy in [PerformancePolicy::Power, PerformancePolicy::Thermal] {
            if let Ok(v) = self.device.violation_status(policy) {
                total = Some(total.unwrap_or(0) + v.violation_time);
            }
        }
        total
    }
}

impl StateSource for GpuState {
    fn snapshot(&mut self) -> Result<Snapshot, String> {
        let d = &self.device;
        let events = d
            .current_throttle_reasons()
            .map_err(|e| format!("NVML did not give the clock-event reasons: {e}"))?;
        Ok(Snapshot {
            sm_mhz: d.clock_info(Clock::SM).ok(),
            memory_mhz: d.clock_info(Clock::Memory).ok(),
            temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
            power_limit_w: d.enforced_power_limit().ok().map(|mw| mw as f64 / 1e3),
            clock_events: events.bits(),
            held_back_ns: self.held_back_ns(),
        })
    }

    fn start_power_sampling(&mut self) {
        self.sampler = Some(PowerSampler::start(self.uuid.clone(), self.index));
    }

    fn power_integrated_j(&mut self) -> Option<f64> {
        self.sampler.take()?.finish()
    }

    fn reason_names(&self, bits: u64) -> (Vec<&'static str>, bool) {
        reason_names(bits)
    }
}
