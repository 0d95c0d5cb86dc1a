//! Run metadata: what a result needs for anyone to trust and compare it later — the project's
//! commit and whether the tree was dirty, the plan's hash, the machine, the software versions.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Facts shared by every row of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetadata {
    /// Full commit hash of the repository holding the plan, or `unknown` outside git.
    pub git_commit: String,
    /// Whether tracked files differed from that commit (results excluded, untracked ignored,
    /// as `git describe --dirty` does).
    pub git_dirty: bool,
    /// The plan file as given on the command line.
    pub plan_path: String,
    /// SHA-256 of the plan file's bytes.
    pub plan_sha256: String,
    pub hostname: String,
    /// The machine id that names the result folder (`--machine`, or derived from the hardware).
    pub machine: String,
    /// Operating system and version, e.g. `linux 6.1.0 (Debian GNU/Linux 12 (bookworm))`.
    pub os: String,
    pub arch: String,
    pub cpu_model: String,
    /// Logical CPUs available to the process.
    pub cpu_cores: u32,
    pub candle_version: String,
    /// The code path of candle's CPU backend in this build: which matrix library, which SIMD
    /// instructions the machine offers it, how many threads. The CPU column of every
    /// speed-up is only as fast as this.
    pub cpu_backend: String,
    pub benchplan_version: String,
    /// When the run started, RFC 3339 UTC.
    pub run_started_at: String,
}

/// Describes candle's CPU code path: `gemm` (pure Rust, SIMD chosen at run time) unless built
/// with MKL or Accelerate, the vector extensions this CPU offers it, and its thread count.
pub fn cpu_backend() -> String {
    let library = if candle_core::utils::has_mkl() {
        "Intel MKL"
    } else if candle_core::utils::has_accelerate() {
        "Apple Accelerate"
    } else {
        "gemm crate (pure Rust)"
    };
    let mut simd: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (name, on) in [
            ("AVX-512F", std::arch::is_x86_feature_detected!("avx512f")),
            ("AVX2", std::arch::is_x86_feature_detected!("avx2")),
            ("FMA", std::arch::is_x86_feature_detected!("fma")),
        ] {
            if on {
                simd.push(name);
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    simd.push("NEON");
    format!(
        "{library}, {}, {} threads, {}",
        if simd.is_empty() {
            "no wide SIMD".to_owned()
        } else {
            simd.join("+")
        },
        candle_core::utils::get_num_threads(),
        pool_spin()
    )
}

/// How long candle's CPU thread pool (candle ≥ 0.11) spins before it parks between
/// operations: its threads' spinning is process CPU time, so it is part of
/// `cpu_ms_per_iteration` and `cpu_utilization`, and a row says how much was allowed
/// (`CANDLE_BARRIER_POOL_SPIN_LIMIT`, candle's default 25,000 spins).
fn pool_spin() -> String {
    match std::env::var("CANDLE_BARRIER_POOL_SPIN_LIMIT") {
        Ok(v) => format!("pool spin {} (CANDLE_BARRIER_POOL_SPIN_LIMIT)", v.trim()),
        Err(_) => "pool spin 25000 (candle's default)".to_owned(),
    }
}

impl RunMetadata {
    /// Collects metadata for a run of the plan at `plan_path` writing into `results_dir`.
    pub fn collect(
        plan_path: &Path,
        plan_sha256: &str,
        machine: Option<&str>,
        results_dir: &Path,
    ) -> RunMetadata {
        let (git_commit, git_dirty) = git_state(plan_path, results_dir);
        let os = os_description();
        let arch = std::env::consts::ARCH.to_owned();
        let cpu_model = cpu_model();
        let cpu_cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let machine = match machine {
            Some(m) => m.to_owned(),
            None => default_machine_id(std::env::consts::OS, &arch, &cpu_model, cpu_cores),
        };
        RunMetadata {
            git_commit,
            git_dirty,
            plan_path: plan_path.display().to_string(),
            plan_sha256: plan_sha256.to_owned(),
            hostname: hostname(),
            machine,
            os,
            arch,
            cpu_model,
            cpu_cores,
            candle_version: env!("BENCHPLAN_CANDLE_VERSION").to_owned(),
            cpu_backend: cpu_backend(),
            benchplan_version: env!("CARGO_PKG_VERSION").to_owned(),
            run_started_at: rfc3339(SystemTime::now()),
        }
    }

    /// The commit as the results layout names it: 12 hex digits, `-dirty` when the tree was.
    pub fn commit_label(&self) -> String {
        if self.git_commit == "unknown" {
            return "nogit".to_owned();
        }
        // The label is a folder name: whatever the commit says, it cannot leave its folder
        // (`check_commit` refuses such values first; this is the second lock).
        let short: String = self
            .git_commit
            .chars()
            .take(12)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if self.git_dirty {
            format!("{short}-dirty")
        } else {
            short
        }
    }
}

/// A machine id from the hardware, stable across sessions of the same machine (unlike a
/// container's host name): `linux-x86_64-amd-epyc-7b13-2c`.
pub fn default_machine_id(os: &str, arch: &str, cpu_model: &str, cores: u32) -> String {
    slug(&format!("{os}-{arch}-{cpu_model}-{cores}c"))
}

/// Lowercase letters, digits and single dashes: safe as a folder name everywhere.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    // `(R)`, `(TM)` and `CPU @ 2.20GHz` add nothing that tells machines apart in practice, but
    // are kept: an id must never merge two different CPUs.
    if trimmed.is_empty() {
        "unknown".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Checks a commit given from outside git (`BENCHPLAN_GIT_COMMIT`, `kubernetes --commit`): it
/// names a results folder, so it is a commit-like name, 1 to 64 letters, digits, `-`, `_` or
/// `.`, not starting with `.` or `-`.
pub fn check_commit(what: &str, value: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !value.starts_with(['.', '-']);
    if ok {
        return Ok(());
    }
    Err(format!(
        "{what} `{}` is not a commit: use its hash (1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` or `-`); it names a folder under results/",
        value.escape_debug()
    ))
}

/// The commit and dirtiness of the repository holding the plan. `BENCHPLAN_GIT_COMMIT` (and
/// `BENCHPLAN_GIT_DIRTY=1`) override it, for machines that run a copy of the tree without its
/// history, such as a GPU box that receives the files but not `.git`.
fn git_state(plan_path: &Path, results_dir: &Path) -> (String, bool) {
    if let Ok(commit) = std::env::var("BENCHPLAN_GIT_COMMIT") {
        if !commit.trim().is_empty() {
            let dirty = std::env::var("BENCHPLAN_GIT_DIRTY").is_ok_and(|v| v == "1" || v == "true");
            return (commit.trim().to_owned(), dirty);
        }
    }
    let dir = plan_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(commit) = run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"]))
    else {
        return ("unknown".to_owned(), false);
    };
    let top = run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"]));
    let mut status = Command::new("git");
    status.arg("-C").arg(top.as_deref().unwrap_or(".")).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
    ]);
    // Results written by earlier runs must not make the tree count as dirty.
    if let (Some(top), Ok(results)) = (&top, results_dir.canonicalize()) {
        if let Ok(rel) = results.strip_prefix(top) {
            if !rel.as_os_str().is_empty() {
                status.arg(format!(":(exclude){}", rel.display()));
            }
        }
    }
    let dirty = run(&mut status).is_some_and(|s| !s.is_empty());
    (commit, dirty)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .or_else(|| run(&mut Command::new("hostname")))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
        for line in info.lines() {
            if let Some((key, value)) = line.split_once(':') {
                if matches!(key.trim(), "model name" | "Model" | "cpu model") {
                    return value.trim().to_owned();
                }
            }
        }
    }
    run(Command::new("sysctl").args(["-n", "machdep.cpu.brand_string"]))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn os_description() -> String {
    let family = std::env::consts::OS;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
        .or_else(|| run(Command::new("uname").arg("-r")));
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
    let pretty = pretty.or_else(|| {
        run(Command::new("sw_vers").arg("-productVersion")).map(|v| format!("macOS {v}"))
    });
    match (release, pretty) {
        (Some(r), Some(p)) => format!("{family} {r} ({p})"),
        (Some(r), None) => format!("{family} {r}"),
        (None, Some(p)) => format!("{family} ({p})"),
        (None, None) => family.to_owned(),
    }
}

/// Formats a time as RFC 3339 UTC with seconds, e.g. `2026-11-26T15:48:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_737_599)),
            "2026-11-26T23:59:59Z"
        );
    }

    #[test]
    fn machine_ids_are_folder_safe() {
        assert_eq!(
            default_machine_id("linux", "x86_64", "AMD EPYC 7B13 64-Core Processor", 2),
            "linux-x86_64-amd-epyc-7b13-64-core-processor-2c"
        );
        assert_eq!(slug("Apple M4 Pro"), "apple-m4-pro");
        assert_eq!(slug("///"), "unknown");
    }
}
