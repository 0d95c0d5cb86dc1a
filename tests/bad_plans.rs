//! Every bad plan under `tests/fixtures/bad-plans/` must make `benchplan check` exit with
//! status 2 and print exactly the message in the `.stderr` file beside it — never a panic.
//! Run with `BENCHPLAN_BLESS=1` to rewrite the expected messages (then review the diff).

use std::path::Path;
use std::process::Command;

const DIR: &str = "tests/fixtures/bad-plans";

#[test]
fn every_bad_plan_fails_with_its_exact_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("BENCHPLAN_BLESS").is_some();
    let mut plans: Vec<_> = std::fs::read_dir(root.join(DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    plans.sort();
    assert!(
        plans.len() >= 20,
        "expected the fixture set, found {}",
        plans.len()
    );
    let mut failures = Vec::new();
    for plan in &plans {
        let name = plan.file_name().unwrap().to_string_lossy().into_owned();
        // A CUDA build accepts `device = "cuda"`, so that fixture only holds for CPU builds.
        if name == "unsupported-device.toml" && candle_core::utils::cuda_is_available() {
            continue;
        }
        let rel = format!("{DIR}/{name}");
        let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
            .args(["check", &rel])
            .current_dir(root)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let expected_path = plan.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{name}: exit status {:?}, expected 2\n{stderr}",
                out.status.code()
            ));
        } else if stderr != expected {
            failures.push(format!(
                "{name}: stderr differs\n--- expected\n{expected}--- actual\n{stderr}"
            ));
        } else if stderr.contains("panicked") {
            failures.push(format!("{name}: panicked\n{stderr}"));
        } else if !out.stdout.is_empty() {
            failures.push(format!(
                "{name}: printed to stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_missing_plan_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["check", "no/such/plan.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot read plan `no/such/plan.toml`"),
        "{stderr}"
    );
}
