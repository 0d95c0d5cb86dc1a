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

/// Extreme numbers and durations in every measurement setting and in the numeric parameters:
/// the plan loads or is refused with diagnostics; it never panics, and a plan that loads can
/// describe its cells' settings and keys. (The libFuzzer target under `tests/fuzz/` explores
/// arbitrary bytes; this is the deterministic part, run by CI.)
#[test]
fn extreme_numbers_and_durations_never_panic() {
    let values = [
        "0",
        "-1",
        "1",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "1e308",
        "-1e308",
        "1e-308",
        "nan",
        "inf",
        "-inf",
        "0.5",
        "\"99999999999999999999h\"",
        "\"184467440737095516160s\"",
        "\"1e400s\"",
        "\"0us\"",
        "\"0.0000000000001us\"",
        "\"-1s\"",
        "\"1.5.5s\"",
        "\"s\"",
        "\"\"",
        "\"9e18m\"",
    ];
    let keys = [
        "warmup",
        "iterations",
        "min_iterations",
        "max_iterations",
        "timeout",
        "rounds",
        "target_ci",
        "max_rounds",
    ];
    let mut loaded = 0;
    for key in keys {
        for value in values {
            for params in ["n = [8]", "n = [8]\nbatch = [VALUE]", "n = [VALUE]"] {
                let text = format!(
                    "version = 1\nname = \"x\"\n[measure]\n{key} = {value}\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\n{}\n",
                    params.replace("VALUE", value)
                );
                let result = std::panic::catch_unwind(|| {
                    match benchplan::plan::Plan::from_bytes(Path::new("x.toml"), text.as_bytes()) {
                        Ok(plan) => {
                            for cell in plan.cells() {
                                let _ = (
                                    cell.key(),
                                    cell.measure.describe(),
                                    cell.measure.effective_rounds(),
                                );
                                let _ = cell.measure.for_round().describe();
                            }
                            true
                        }
                        Err(e) => {
                            let _ = format!("{e:#}");
                            false
                        }
                    }
                });
                match result {
                    Ok(ok) => loaded += usize::from(ok),
                    Err(_) => panic!("panicked on {key} = {value} with {params}:\n{text}"),
                }
            }
        }
    }
    assert!(loaded > 0, "some of these plans are fine");
}
