//! Calibration replayed: result sets recorded from real runs of `plans/noise.toml` on the 2-core
//! development machine (six kernels of Python work, five rounds each; see
//! tests/fixtures/noise/README.md) go through `benchplan diff` with its default settings. The
//! A/A pairs (two back-to-back runs of unchanged code) must flag no cell, and the pairs with a
//! real 10% slowdown planted in one kernel must flag that kernel, and only it. Deterministic:
//! the data are fixed, so a change to the statistics that breaks calibration fails here, without
//! depending on the noise of the machine that runs the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/noise")
}

/// `(slower, faster)` cell keys of the default diff of two recorded sets.
fn flagged(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["diff", old, new, "--format", "json", "--fail-on", "never"])
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |verdict: &str| -> Vec<String> {
        d["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] == verdict)
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect()
    };
    for c in d["cells"].as_array().unwrap() {
        assert_eq!(c["method"], "rounds", "recorded sets have rounds: {c}");
    }
    (keys("slower"), keys("faster"))
}

fn pairs(prefix: &str) -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with("-a"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|a| {
            let b = format!("{}-b", a.trim_end_matches("-a"));
            (a, b)
        })
        .collect()
}

#[test]
fn recorded_a_a_pairs_flag_no_cell() {
    let pairs = pairs("aa");
    assert!(pairs.len() >= 3, "{pairs:?}");
    for (a, b) in pairs {
        let (slower, faster) = flagged(&a, &b);
        assert!(
            slower.is_empty() && faster.is_empty(),
            "{a} → {b}: {slower:?} {faster:?}"
        );
    }
}

#[test]
fn a_recorded_planted_10_percent_slowdown_is_found_and_nothing_else() {
    let pairs = pairs("ab");
    assert!(!pairs.is_empty(), "{pairs:?}");
    for (a, b) in pairs {
        let planted = std::fs::read_to_string(fixtures().join(&b).join("PLANTED"))
            .unwrap()
            .trim()
            .to_owned();
        let (slower, faster) = flagged(&a, &b);
        assert_eq!(slower, [format!("kernel={planted}")], "{a} → {b}");
        assert!(faster.is_empty(), "{a} → {b}: {faster:?}");
    }
}
