//! RAPL on Linux: the package energy counters of `/sys/class/powercap/intel-rapl:N` (Intel, and
//! AMD since Linux 5.8), in microjoules, wrapping at `max_energy_range_uj`. Root-only on many
//! kernels since CVE-2020-8694; absent in most VMs. Package zones only (`package-N`): their
//! subzones (cores, uncore, dram) are parts of them or not of the CPU.

use std::path::{Path, PathBuf};

use super::Counter;

/// Where the kernel exposes the counters.
pub const POWERCAP: &str = "/sys/class/powercap";

/// The package zones of a powercap folder, summed.
pub struct Rapl {
    zones: Vec<Zone>,
}

struct Zone {
    energy: PathBuf,
    range_uj: f64,
}

impl Rapl {
    /// The package zones under `root`, or why there are none.
    pub fn open(root: &Path) -> Result<Rapl, String> {
        let entries = std::fs::read_dir(root).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no RAPL energy counters: `{}` is absent (a VM, or a kernel without powercap)",
                    root.display()
                )
            } else {
                format!("cannot list `{}`: {e}", root.display())
            }
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("intel-rapl:") && n.matches(':').count() == 1)
            })
            .collect();
        dirs.sort();
        let mut zones = Vec::new();
        for dir in dirs {
            let name = std::fs::read_to_string(dir.join("name")).unwrap_or_default();
            if !name.trim().starts_with("package") {
                continue;
            }
            let range_uj = std::fs::read_to_string(dir.join("max_energy_range_uj"))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::from(u32::MAX));
            zones.push(Zone {
                energy: dir.join("energy_uj"),
                range_uj,
            });
        }
        if zones.is_empty() {
            return Err(format!("no RAPL package zone under `{}`", root.display()));
        }
        let mut rapl = Rapl { zones };
        // Readable now, or the reason (root-only counters are the common case).
        rapl.read()?;
        Ok(rapl)
    }

    fn read_zone(zone: &Zone) -> Result<f64, String> {
        let text = std::fs::read_to_string(&zone.energy).map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                format!(
                    "the RAPL counter `{}` is readable by root only (since CVE-2020-8694); run as root or make it readable",
                    zone.energy.display()
                )
            } else {
                format!("cannot read `{}`: {e}", zone.energy.display())
            }
        })?;
        text.trim()
            .parse::<f64>()
            .map(|uj| uj / 1e6)
            .map_err(|_| format!("`{}` does not hold a number", zone.energy.display()))
    }
}

impl Counter for Rapl {
    fn source(&self) -> &'static str {
        "rapl"
    }

    /// The packages' counters summed, joules.
    fn read(&mut self) -> Result<f64, String> {
        let mut total = 0.0;
        for zone in &self.zones {
            total += Self::read_zone(zone)?;
        }
        Ok(total)
    }

    fn wraps_at(&self) -> Option<f64> {
        // With one package the sum wraps where the package does. With several, one package's
        // wrap shows as a drop of the sum by that package's range: packages share a range in
        // practice, so the smallest range undoes it.
        self.zones
            .iter()
            .map(|z| z.range_uj / 1e6)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, name: &str, label: &str, uj: &str) {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{label}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), "262143328850\n").unwrap();
    }

    #[test]
    fn package_zones_are_summed_and_subzones_and_absence_are_handled() {
        let root = std::env::temp_dir().join(format!("benchplan-rapl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        zone(&root, "intel-rapl:0", "package-0", "1500000");
        zone(&root, "intel-rapl:1", "package-1", "2500000");
        zone(&root, "intel-rapl:0:0", "core", "999999999");
        zone(&root, "intel-rapl:2", "psys", "999999999");
        let mut r = Rapl::open(&root).unwrap();
        assert_eq!(
            r.read(),
            Ok(4.0),
            "two packages, 1.5 J + 2.5 J; core and psys left out"
        );
        assert_eq!(r.wraps_at(), Some(262_143.328_85));
        std::fs::write(root.join("intel-rapl:1/energy_uj"), "not a number").unwrap();
        assert!(r.read().unwrap_err().contains("does not hold a number"));
        let _ = std::fs::remove_dir_all(&root);
        let why = Rapl::open(&root).err().unwrap();
        assert!(why.contains("is absent"), "{why}");
    }
}
