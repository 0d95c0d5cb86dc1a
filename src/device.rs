//! Choosing, opening and synchronizing devices: `cpu`, `cuda[:N]`, `metal[:N]`, and the
//! portable `gpu` (whatever accelerator the machine has) and `auto` (an accelerator, else the
//! CPU), so that one plan serves a Mac and an NVIDIA box.
//!
//! Workloads only ever see a `candle_core::Device`, so CPU, CUDA and Metal share one code path;
//! this module is the single place that knows which backends the binary was built with.

use std::fmt;

use candle_core::Device;

/// The backend family of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    Cpu,
    Cuda,
    Metal,
    /// Whatever accelerator the machine has: CUDA, else Metal.
    Gpu,
    /// An accelerator if there is one, else the CPU.
    Auto,
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Metal => "metal",
            DeviceKind::Gpu => "gpu",
            DeviceKind::Auto => "auto",
        }
    }

    /// The cargo feature that builds this backend, if it needs one.
    fn feature(self) -> Option<&'static str> {
        match self {
            DeviceKind::Cpu | DeviceKind::Gpu | DeviceKind::Auto => None,
            DeviceKind::Cuda => Some("cuda"),
            DeviceKind::Metal => Some("metal"),
        }
    }

    /// Whether this binary contains the backend.
    pub fn built(self) -> bool {
        match self {
            DeviceKind::Cpu | DeviceKind::Gpu | DeviceKind::Auto => true,
            DeviceKind::Cuda => candle_core::utils::cuda_is_available(),
            DeviceKind::Metal => candle_core::utils::metal_is_available(),
        }
    }
}

/// A device as a plan names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    pub kind: DeviceKind,
    pub ordinal: usize,
}

impl DeviceSpec {
    /// Parses `cpu`, `cuda`, `cuda:1`, `metal`. The error says what is accepted.
    pub fn parse(text: &str) -> Result<DeviceSpec, String> {
        let (kind, ordinal) = match text.split_once(':') {
            Some((k, n)) => (k, Some(n)),
            None => (text, None),
        };
        let kind = match kind {
            "cpu" => DeviceKind::Cpu,
            "cuda" => DeviceKind::Cuda,
            "metal" => DeviceKind::Metal,
            "gpu" => DeviceKind::Gpu,
            "auto" => DeviceKind::Auto,
            _ => {
                return Err(format!(
                    "unknown device `{text}`\nuse one of `cpu`, `cuda`, `cuda:N`, `metal`, `gpu` (any accelerator), `auto`"
                ))
            }
        };
        let ordinal = match (kind, ordinal) {
            (_, None) => 0,
            (DeviceKind::Cpu | DeviceKind::Auto, Some(_)) => {
                return Err(format!(
                    "device `{text}` takes no index\nwrite `{}`",
                    kind.name()
                ))
            }
            (_, Some(n)) => n.parse().map_err(|_| {
                format!(
                    "device index in `{text}` is not a number\nwrite e.g. `{}:0`",
                    kind.name()
                )
            })?,
        };
        Ok(DeviceSpec { kind, ordinal })
    }

    /// A device this binary was built without is an error in the plan, not a run-time failure.
    pub fn check_supported_by_build(&self) -> Result<(), String> {
        if self.kind.built() {
            return Ok(());
        }
        let feature = self.kind.feature().unwrap_or_default();
        let how = match self.kind {
            DeviceKind::Metal => "Metal is built by default on macOS; on other systems remove the device from the plan",
            _ => "rebuild with `cargo build --release --features cuda`, or remove the device from the plan",
        };
        Err(format!(
            "device `{self}` is not supported by this build (built without the `{feature}` feature)\n{how}"
        ))
    }

    /// The concrete device `gpu` and `auto` stand for on this machine; `Err` says why there is
    /// none. Concrete devices resolve to themselves.
    pub fn resolve(&self) -> Result<DeviceSpec, String> {
        let try_kind = |kind: DeviceKind| {
            let spec = DeviceSpec {
                kind,
                ordinal: self.ordinal,
            };
            (kind.built() && spec.open().is_ok()).then_some(spec)
        };
        match self.kind {
            DeviceKind::Gpu | DeviceKind::Auto => {
                let found = try_kind(DeviceKind::Cuda).or_else(|| try_kind(DeviceKind::Metal));
                match (found, self.kind) {
                    (Some(spec), _) => Ok(spec),
                    (None, DeviceKind::Auto) => Ok(DeviceSpec { kind: DeviceKind::Cpu, ordinal: 0 }),
                    (None, _) => Err(format!(
                        "no accelerator on this machine for this build (cuda built: {}, metal built: {})",
                        DeviceKind::Cuda.built(),
                        DeviceKind::Metal.built()
                    )),
                }
            }
            _ => Ok(*self),
        }
    }

    /// Opens the device. Fails when the backend is built but no such device is present.
    pub fn open(&self) -> candle_core::Result<Device> {
        match self.kind {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda => open_cuda(self.ordinal),
            DeviceKind::Metal => Device::new_metal(self.ordinal),
            DeviceKind::Gpu | DeviceKind::Auto => match self.resolve() {
                Ok(spec) => spec.open(),
                Err(e) => Err(candle_core::Error::Msg(e)),
            },
        }
    }
}

/// Opens CUDA device `ordinal` with cudarc's per-buffer event tracking off. candle runs every
/// operation of a device on one stream, so the events (two created per allocation, recorded
/// at every launch that reads or writes a buffer) order nothing; they cost microseconds per
/// operation, which is most of a small model's step on a GPU (issue 21).
fn open_cuda(ordinal: usize) -> candle_core::Result<Device> {
    let device = Device::new_cuda(ordinal)?;
    #[cfg(feature = "cuda")]
    if let Device::Cuda(d) = &device {
        // SAFETY: benchplan never uses a second stream: every tensor of this device is
        // allocated, used and freed on candle's one stream, in order.
        unsafe { d.disable_event_tracking() };
    }
    Ok(device)
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DeviceKind::Cpu => f.write_str("cpu"),
            kind if self.ordinal == 0 => f.write_str(kind.name()),
            kind => write!(f, "{}:{}", kind.name(), self.ordinal),
        }
    }
}

/// Waits until all work queued on the device has finished. Called before every clock read,
/// because GPU backends return from an op as soon as it is queued.
pub fn synchronize(device: &Device) -> candle_core::Result<()> {
    device.synchronize()
}

/// A human-readable name of the hardware behind an opened device, stored with each result:
/// the CPU model, the GPU's name (CUDA), or the GPU architecture (Metal).
pub fn hardware_name(device: &Device, cpu_model: &str) -> String {
    match device {
        Device::Cpu => cpu_model.to_owned(),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => d
            .cuda_stream()
            .context()
            .name()
            .unwrap_or_else(|_| "NVIDIA GPU".into()),
        #[cfg(target_os = "macos")]
        Device::Metal(d) => format!("Apple GPU ({})", d.device().architecture_name()),
        #[allow(unreachable_patterns)]
        other => format!("{:?}", other.location()),
    }
}

/// The UUID of a CUDA device (`GPU-…`, as NVML names it), so that NVML reads the same GPU
/// whatever `CUDA_VISIBLE_DEVICES` renumbered. `None` on other devices.
pub fn gpu_uuid(device: &Device) -> Option<String> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let id = d.cuda_stream().context().uuid().ok()?;
            let b: Vec<u8> = id.bytes.iter().map(|c| *c as u8).collect();
            let hex = |r: std::ops::Range<usize>| {
                b[r].iter().map(|x| format!("{x:02x}")).collect::<String>()
            };
            Some(format!(
                "GPU-{}-{}-{}-{}-{}",
                hex(0..4),
                hex(4..6),
                hex(6..8),
                hex(8..10),
                hex(10..16)
            ))
        }
        _ => None,
    }
}

/// Bytes allocated on an accelerator right now, where the backend tells: for CUDA, the device's
/// total minus its free memory; for Metal, the device's current allocated size. `None` on CPUs.
pub fn device_allocated_bytes(device: &Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            d.cuda_stream().context().bind_to_thread().ok()?;
            let (free, total) =
                candle_core::cuda_backend::cudarc::driver::result::mem_get_info().ok()?;
            Some((total - free) as u64)
        }
        #[cfg(target_os = "macos")]
        Device::Metal(d) => Some(d.device().current_allocated_size() as u64),
        _ => None,
    }
}

/// Total memory of an accelerator, where the backend tells.
pub fn device_total_bytes(device: &Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => d.cuda_stream().context().total_mem().ok().map(|b| b as u64),
        #[cfg(target_os = "macos")]
        Device::Metal(d) => Some(d.device().recommended_max_working_set_size() as u64),
        _ => None,
    }
}

/// A device this build can use on this machine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Available {
    /// How a plan names it.
    pub device: String,
    pub backend: &'static str,
    pub name: String,
    pub memory_bytes: Option<u64>,
}

/// Why the device a plan names as `text` cannot run on this machine with this build, or
/// `None` when it can. A name benchplan does not know (a `command` program's own) has nothing
/// said against it.
pub fn why_unavailable(text: &str) -> Option<String> {
    let spec = DeviceSpec::parse(text).ok()?;
    if let Err(e) = spec.check_supported_by_build() {
        return Some(e.lines().next().unwrap_or_default().to_owned());
    }
    match spec.open() {
        Ok(_) => None,
        Err(e) => Some(format!(
            "no such device on this machine ({})",
            e.to_string().lines().next().unwrap_or_default()
        )),
    }
}

/// Refuses, before anything runs, explicit devices (`cuda`, `metal`) that this machine cannot
/// open, naming the first and what to do. The portable `gpu` and `auto` never refuse: their
/// cells are skipped or fall back. Names benchplan does not know (a `command` program's own
/// devices) are the program's business and pass.
pub fn check_available<'a>(devices: impl IntoIterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for text in devices {
        let Ok(spec) = DeviceSpec::parse(text) else {
            continue;
        };
        if !matches!(spec.kind, DeviceKind::Cuda | DeviceKind::Metal) || seen.contains(&spec) {
            continue;
        }
        seen.push(spec);
        if let Err(e) = spec.open() {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            anyhow::bail!(
                "device `{spec}` is not available on this machine ({first}); `benchplan devices` lists what is, and `--skip-unavailable` records its cells as skipped"
            );
        }
    }
    Ok(())
}

/// The `benchplan devices` table: each device found, what the build has, the machine id.
pub fn render_table(found: &[Available], built: &[&str], machine: &str, os: &str) -> String {
    use std::fmt::Write;
    let width = found
        .iter()
        .map(|d| d.device.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<7}  {:>10}  name",
        "device", "backend", "memory"
    );
    for d in found {
        let memory = d.memory_bytes.map_or("–".into(), crate::format::bytes);
        let _ = writeln!(
            out,
            "{:<width$}  {:<7}  {:>10}  {}",
            d.device, d.backend, memory, d.name
        );
    }
    let _ = writeln!(out, "\nbuilt with: {}", built.join(", "));
    let _ = writeln!(out, "machine id: {machine} ({os})");
    if !built.contains(&"cuda") && !built.contains(&"metal") {
        let _ = writeln!(out, "no accelerator backend in this build: on NVIDIA, build with `cargo build --release --features cuda`; on macOS, Metal is built by default");
    }
    out
}

/// Every device this build can open here: the CPU, each CUDA device, the Metal device.
pub fn available(cpu_model: &str) -> Vec<Available> {
    let mut out = vec![Available {
        device: "cpu".into(),
        backend: "cpu",
        name: format!(
            "{cpu_model} ({} threads)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        memory_bytes: host_memory_bytes(),
    }];
    let mut add = |spec: DeviceSpec| {
        if let Ok(device) = spec.open() {
            out.push(Available {
                device: spec.to_string(),
                backend: spec.kind.name(),
                name: hardware_name(&device, cpu_model),
                memory_bytes: device_total_bytes(&device),
            });
            true
        } else {
            false
        }
    };
    if DeviceKind::Cuda.built() {
        for ordinal in 0..64 {
            if !add(DeviceSpec {
                kind: DeviceKind::Cuda,
                ordinal,
            }) {
                break;
            }
        }
    }
    if DeviceKind::Metal.built() {
        add(DeviceSpec {
            kind: DeviceKind::Metal,
            ordinal: 0,
        });
    }
    out
}

/// The backends compiled into this binary.
pub fn built_backends() -> Vec<&'static str> {
    let mut b = vec!["cpu"];
    if DeviceKind::Cuda.built() {
        b.push("cuda");
    }
    if DeviceKind::Metal.built() {
        b.push("metal");
    }
    if candle_core::utils::has_accelerate() {
        b.push("accelerate");
    }
    if candle_core::utils::has_mkl() {
        b.push("mkl");
    }
    b
}

pub fn host_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_explains_mistakes() {
        assert_eq!(
            DeviceSpec::parse("cuda:1").unwrap(),
            DeviceSpec {
                kind: DeviceKind::Cuda,
                ordinal: 1
            }
        );
        assert_eq!(DeviceSpec::parse("cpu").unwrap().to_string(), "cpu");
        assert_eq!(DeviceSpec::parse("cuda:0").unwrap().to_string(), "cuda");
        assert!(DeviceSpec::parse("tpu")
            .unwrap_err()
            .contains("unknown device `tpu`"));
        assert!(DeviceSpec::parse("cpu:1").is_err());
        assert!(DeviceSpec::parse("cuda:x").is_err());
    }

    #[test]
    fn cpu_is_always_built() {
        assert!(DeviceSpec::parse("cpu")
            .unwrap()
            .check_supported_by_build()
            .is_ok());
    }
}
