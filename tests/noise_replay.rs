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

/// What `benchplan ARGS` prints as JSON, run in `dir`; it must succeed (exit 0).
fn benchplan_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "benchplan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(slower, faster)` cell keys of the default diff of two recorded sets.
fn flagged(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let d = benchplan_json(
        &fixtures(),
        &["diff", old, new, "--format", "json", "--fail-on", "never"],
    );
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

/// `calibrate --from` splits a recorded run's rounds in two and stores what each cell can
/// detect; `diff` then judges each cell against the larger of that (scaled to its rounds) and
/// the threshold, and says so; `--no-calibration` ignores it.
#[test]
fn a_calibration_from_recorded_rounds_sets_the_thresholds_diff_uses() {
    let results =
        std::env::temp_dir().join(format!("benchplan-calibration-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let results_arg = results.display().to_string();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--results", &results_arg]);
        benchplan_json(&fixtures(), &all)
    };
    let cal = run(&[
        "calibrate",
        "../../../plans/noise.toml",
        "--from",
        "ab1-a",
        "--format",
        "json",
    ]);
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("noise/noise-machine/calibration.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cal, stored, "what is printed is what is stored");
    let cells = cal["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for c in cells {
        assert_eq!(c["rounds"], 5, "ten rounds split in two: {c}");
        let d = c["detectable_between_runs"].as_f64().unwrap();
        assert!(d > 0.0 && d.is_finite(), "{c}");
        assert!(
            c["detectable_interleaved"].is_null(),
            "a run's rounds are not interleaved: {c}"
        );
        let rate = c["false_alarm_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate));
    }
    let rate = cal["false_alarm_rate"].as_f64().unwrap();
    assert!(
        rate <= 0.1,
        "the default diff rarely flags a re-split of one run: {rate}"
    );

    let judged = run(&[
        "diff",
        "ab1-a",
        "ab1-b",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]);
    let mut raised = 0;
    for c in judged["cells"].as_array().unwrap() {
        let cal = cells.iter().find(|k| k["cell_id"] == c["cell_id"]).unwrap();
        // Ten rounds a side here, five in the calibration's halves: the standard error is √2 smaller.
        let scaled =
            ((1.0 + cal["detectable_between_runs"].as_f64().unwrap()).ln() / 2f64.sqrt()).exp_m1();
        let t = c["threshold"].as_f64().unwrap();
        assert!((t - scaled.max(0.05)).abs() < 1e-9, "{c}");
        if c["threshold_source"] == "calibration" {
            raised += 1;
        }
    }
    assert!(raised > 0, "this busy run's cells cannot resolve 5%");
    let notes = judged["notes"].to_string();
    assert!(
        notes.contains("judged against this machine's calibration"),
        "{notes}"
    );
    let plain = run(&[
        "diff",
        "ab1-a",
        "ab1-b",
        "--format",
        "json",
        "--fail-on",
        "never",
        "--no-calibration",
    ]);
    for c in plain["cells"].as_array().unwrap() {
        assert_eq!(c["threshold_source"], "default");
    }
    let _ = std::fs::remove_dir_all(&results);
}

/// GPU runs recorded on an H200 (tests/fixtures/gpu-noise/README.md): default runs of the same
/// thirteen matmul/train/infer cells back to back, on two machines' starts; no consecutive pair
/// flags a cell.
#[test]
fn recorded_gpu_runs_of_unchanged_code_flag_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpu-noise");
    for (a, b) in [
        ("aa-1", "aa-2"),
        ("aa-2", "aa-3"),
        ("aa-3", "aa-4"),
        ("aa-1-d030908", "aa-2-d030908"),
        ("aa-2-d030908", "aa-3-d030908"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
            .args(["diff", a, b, "--format", "json", "--fail-on", "any"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(d["cells"].as_array().unwrap().len(), 13);
        assert_eq!(
            (d["slower"].as_u64(), d["faster"].as_u64()),
            (Some(0), Some(0)),
            "{a} → {b}"
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{a} → {b}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
