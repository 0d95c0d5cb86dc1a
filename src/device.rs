//! Choosing, opening and synchronizing devices: `cpu`, `cuda[:N]`, `metal[:N]`.
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
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Metal => "metal",
        }
    }

    /// The cargo feature that builds this backend, if it needs one.
    fn feature(self) -> Option<&'static str> {
        match self {
            DeviceKind::Cpu => None,
            DeviceKind::Cuda => Some("cuda"),
            DeviceKind::Metal => Some("metal"),
        }
    }

    /// Whether this binary contains the backend.
    pub fn built(self) -> bool {
        match self {
            DeviceKind::Cpu => true,
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
            _ => {
                return Err(format!(
                    "unknown device `{text}`\nuse one of `cpu`, `cuda`, `cuda:N`, `metal`"
                ))
            }
        };
        let ordinal = match (kind, ordinal) {
            (_, None) => 0,
            (DeviceKind::Cpu, Some(_)) => {
                return Err(format!("device `{text}` takes no index\nwrite `cpu`"))
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

    /// Opens the device. Fails when the backend is built but no such device is present.
    pub fn open(&self) -> candle_core::Result<Device> {
        match self.kind {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda => Device::new_cuda(self.ordinal),
            DeviceKind::Metal => Device::new_metal(self.ordinal),
        }
    }
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

/// A human-readable name of the hardware behind a device, stored with each result.
pub fn hardware_name(spec: &DeviceSpec, cpu_model: &str) -> String {
    match spec.kind {
        DeviceKind::Cpu => cpu_model.to_owned(),
        // GPU names come from the backend once CUDA and Metal runs exist (issue 6); until then
        // the spec itself is the most honest name.
        _ => spec.to_string(),
    }
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
