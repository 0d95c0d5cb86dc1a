//! The `command` workload through the real binary: an external program's samples become the
//! cell's, and whatever the program does wrong (crash, hang, non-zero exit, broken protocol)
//! becomes a failed cell with the reason, never a failed run.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

use benchplan::results::{store, CellRecord, Status};

fn program() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs/fake_bench.py")
        .display()
        .to_string()
}

fn plan(modes: &[&str], measure: &str) -> String {
    let modes = modes
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
version = 1
name = "cmd"

[measure]
# One round: these tests count a program's samples per process.
rounds = 1
{measure}

[models.tiny]
kind = "mlp"
inputs = 4
hidden = [8]
outputs = 2

[[experiments]]
name = "fake"
workload = "command"
command = ["python3", "{}", "{{mode}}", "--batch={{batch}}", "{{{{literal}}}}"]
[experiments.matrix]
mode = [{modes}]
batch = [4]
model = ["tiny"]
"#,
        program()
    )
}

/// Runs `plan` in a scratch folder; returns the output and the records written.
fn run(name: &str, plan: &str) -> (Output, Vec<CellRecord>) {
    let dir = std::env::temp_dir().join(format!("benchplan-cmd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["run", "plan.toml", "--machine", "m"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let records = store::read(&dir.join("results/cmd/m/nogit/cells.parquet")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (out, records)
}

fn by_mode<'r>(records: &'r [CellRecord], mode: &str) -> &'r CellRecord {
    records
        .iter()
        .find(|r| r.params.get("mode").map(ToString::to_string).as_deref() == Some(mode))
        .unwrap_or_else(|| panic!("no cell for mode {mode}"))
}

#[test]
fn samples_and_info_come_from_the_program() {
    let (out, records) = run("ok", &plan(&["ok", "echo"], "warmup = 2\niterations = 7"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = by_mode(&records, "ok");
    assert_eq!(ok.status, Status::Ok);
    assert_eq!(ok.samples_ms.len(), 7);
    assert_eq!(ok.warmup_samples_ms, vec![2.0, 2.0]);
    assert_eq!(ok.samples_ms[3], 1.03);
    assert_eq!(ok.samples_per_iteration, Some(4));
    assert_eq!(ok.param_count, Some(123));
    assert_eq!(ok.device_name, "Fake Accelerator");
    assert!(
        ok.peak_rss_bytes.unwrap() > 1 << 20,
        "the program's own peak RSS"
    );
    // A command's own parameters are shown in name order.
    assert_eq!(ok.cell_key, "batch=4 mode=ok model=tiny");
    assert_eq!(by_mode(&records, "echo").status, Status::Ok);
}

/// Energy around a program's timed phase: benchplan's own reading where a counter resolves
/// it; else the program's own figure (`info` `energy_j`), said to be the program's; else null
/// with the reason. Never stored in `program_info`.
#[test]
fn a_programs_energy_is_benchplans_reading_or_its_own_figure_said_so() {
    let (out, records) = run(
        "energy",
        &plan(&["own-energy", "ok"], "warmup = 1\niterations = 5"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let own = by_mode(&records, "own-energy");
    assert!(own
        .program_info
        .as_deref()
        .is_none_or(|i| !i.contains("energy_j")));
    match own.energy_source.as_deref() {
        // No counter here (a VM without RAPL), or a phase of 5 ms too short for one.
        Some("program") => {
            assert_eq!(own.energy_j, Some(3.5));
            assert!(own
                .energy_note
                .as_deref()
                .unwrap()
                .contains("benchplan read none"));
            assert!((own.joules_per_sample().unwrap() - 3.5 / 20.0).abs() < 1e-12);
        }
        other => assert!(
            own.energy_j.is_some(),
            "benchplan's reading wins: {other:?}"
        ),
    }
    // Without a figure of its own, the row says why benchplan has none.
    let ok = by_mode(&records, "ok");
    assert!(ok.energy_j.is_some() || !ok.energy_note.as_deref().unwrap_or("").is_empty());
}

/// `target_ci` adds rounds, one at a time up to `max_rounds`, while the interval between rounds
/// is wider than asked: a program as fast in every process stops at its planned rounds, one whose
/// speed changes from process to process (±30%) gets all it may.
#[test]
fn target_ci_adds_rounds_to_a_cell_whose_rounds_disagree() {
    let plan = format!(
        r#"
version = 1
name = "cmd"

[measure]
warmup = 0
iterations = 12
rounds = 3
target_ci = 0.02
max_rounds = 6

[[experiments]]
name = "fake"
workload = "command"
command = ["python3", "{}", "{{mode}}"]
[experiments.matrix]
mode = ["ok", "noisy"]
"#,
        program()
    );
    let (out, records) = run("target", &plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steady = by_mode(&records, "ok");
    let noisy = by_mode(&records, "noisy");
    assert_eq!(steady.round_sample_counts, [4, 4, 4]);
    assert_eq!(noisy.round_sample_counts, [4; 6]);
    assert!(
        noisy
            .measure_settings
            .contains("target_ci=0.02 rounds=3 max_rounds=6"),
        "{}",
        noisy.measure_settings
    );
}

#[test]
fn arguments_are_a_vector_not_a_shell_line() {
    let hostile = plan(&["echo"], "iterations = 1").replace(
        "mode = [\"echo\"]",
        "mode = [\"echo\"]\nextra = [\"; rm -rf ~ $(touch pwned)\"]",
    );
    let hostile = hostile.replace("\"{mode}\",", "\"{mode}\", \"{extra}\",");
    let (out, records) = run("argv", &hostile);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = by_mode(&records, "echo");
    assert_eq!(r.status, Status::Ok, "{:?}", r.reason);
    assert!(!std::path::Path::new("pwned").exists());
}

#[test]
fn a_program_that_ignores_its_budget_is_stopped_by_benchplan() {
    let start = Instant::now();
    let (out, records) = run(
        "endless",
        &plan(
            &["endless"],
            "warmup = 0\niterations = \"300ms\"\nmin_iterations = 5",
        ),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = by_mode(&records, "endless");
    assert_eq!(r.status, Status::Ok);
    assert!(r.samples_ms.len() >= 5);
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn crashes_hangs_and_broken_protocols_fail_their_cell_only() {
    let start = Instant::now();
    let (out, records) = run(
        "bad",
        &plan(
            &[
                "hang", "segv", "exit3", "skip", "error", "typo", "silent", "ok",
            ],
            "warmup = 0\niterations = 3\ntimeout = \"2s\"",
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("8 cells: 1 ok, 6 failed, 1 skipped"),
        "{stderr}"
    );
    assert!(
        start.elapsed().as_secs() < 60,
        "the hung program was killed at its timeout"
    );
    let reason = |mode: &str| by_mode(&records, mode).reason.clone().unwrap_or_default();
    assert!(
        reason("hang").starts_with("timed out"),
        "{}",
        reason("hang")
    );
    assert!(reason("segv").contains("SIGSEGV"), "{}", reason("segv"));
    assert_eq!(
        by_mode(&records, "segv").samples_ms.len(),
        2,
        "samples before the crash are kept"
    );
    assert!(reason("exit3").contains("status 3"), "{}", reason("exit3"));
    assert!(
        reason("exit3").contains("something went wrong here"),
        "stderr's tail: {}",
        reason("exit3")
    );
    assert_eq!(by_mode(&records, "skip").status, Status::Skipped);
    assert_eq!(reason("skip"), "no such device here");
    assert!(
        reason("error").starts_with("out of memory"),
        "{}",
        reason("error")
    );
    assert!(
        reason("typo").contains("unknown event"),
        "{}",
        reason("typo")
    );
    assert!(
        reason("silent").contains("without reporting a sample"),
        "{}",
        reason("silent")
    );
    assert_eq!(by_mode(&records, "ok").status, Status::Ok);
}

#[test]
fn a_missing_program_is_a_failed_cell_with_what_to_fix() {
    let p = plan(&["ok"], "iterations = 1").replace("\"python3\"", "\"no-such-program-xyz\"");
    let (out, records) = run("missing", &p);
    assert_eq!(out.status.code(), Some(1));
    let reason = records[0].reason.clone().unwrap();
    assert!(
        reason.contains("cannot start `no-such-program-xyz`"),
        "{reason}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn killing_benchplan_kills_the_program_it_was_running() {
    let dir = std::env::temp_dir().join(format!("benchplan-cmd-orphan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        plan(&["pidfile"], "timeout = \"5m\""),
    )
    .unwrap();
    let pidfile = dir.join("program.pid");
    let mut run = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["run", "plan.toml", "--machine", "m"])
        .current_dir(&dir)
        .env("FAKE_BENCH_PIDFILE", &pidfile)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                break pid;
            }
        }
        assert!(start.elapsed().as_secs() < 30, "the program never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    run.kill().unwrap(); // SIGKILL: benchplan gets no chance to clean up
    run.wait().unwrap();
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    let gone = (0..250).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !alive(pid)
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(gone, "program {pid} outlived benchplan");
}

/// A program reporting an absurd sample (1e308 ms), an out-of-range one (1e309, not valid JSON)
/// or a line of megabytes: the first two fail their cell with the reason, the third is cut and
/// kept out of the way; the run goes on and benchplan never panics.
#[test]
fn absurd_samples_and_huge_lines_fail_or_pass_their_cell_only() {
    let (out, records) = run(
        "absurd",
        &plan(
            &["huge", "overflow", "longline", "ok"],
            "warmup = 0\niterations = 3",
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let reason = |mode: &str| by_mode(&records, mode).reason.clone().unwrap_or_default();
    assert_eq!(by_mode(&records, "huge").status, Status::Failed);
    assert!(
        reason("huge").contains("needs `ms`, a number of milliseconds from 0 to"),
        "{}",
        reason("huge")
    );
    assert_eq!(by_mode(&records, "overflow").status, Status::Failed);
    assert!(
        reason("overflow").contains("is not valid JSON"),
        "{}",
        reason("overflow")
    );
    assert_eq!(
        by_mode(&records, "longline").status,
        Status::Ok,
        "{}",
        reason("longline")
    );
    assert_eq!(by_mode(&records, "longline").samples_ms.len(), 3);
    assert_eq!(by_mode(&records, "ok").status, Status::Ok);
}

/// A plan made only of `command` cells, written with the Python helper: its report has the
/// sections its cells measure, with the program's framework, recommendations over them, and
/// the cells no section takes under "Other measurements".
#[test]
fn a_plan_of_programs_alone_renders_a_full_report() {
    let helper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/helper_bench.py");
    let plan = format!(
        r#"
version = 1
name = "programs"

[measure]
warmup = 1
iterations = 6
rounds = 2

[models.tiny]
kind = "mlp"
inputs = 4
hidden = [8, 8]
outputs = 2

[[experiments]]
name = "my-infer"
workload = "command"
measures = "infer"
command = ["python3", "{helper}", "infer"]
[experiments.matrix]
model = ["tiny"]
batch = [1, 8, 32]
device = ["cpu"]

[[experiments]]
name = "my-train"
workload = "command"
measures = "train"
command = ["python3", "{helper}", "train"]
[experiments.matrix]
model = ["tiny"]
batch = [16]
device = ["cpu"]

[[experiments]]
name = "my-tool"
workload = "command"
command = ["python3", "{helper}", "other"]
[experiments.matrix]
size = [1, 2]
"#,
        helper = helper.display()
    );
    let dir = std::env::temp_dir().join(format!("benchplan-programs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let bin = env!("CARGO_BIN_EXE_benchplan");
    let run = Command::new(bin)
        .args(["run", "plan.toml", "--machine", "m"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let records = store::read(&dir.join("results/programs/m/nogit/cells.parquet")).unwrap();
    let r = records.iter().find(|r| r.experiment == "my-infer").unwrap();
    assert_eq!(r.status, Status::Ok, "{:?}", r.reason);
    assert_eq!(r.framework.as_deref(), Some("FakeTorch"));
    assert_eq!(r.framework_version.as_deref(), Some("1.0"));
    assert_eq!(
        r.program_info.as_deref(),
        Some(r#"{"threads":1,"backend":{"kernels":"python"}}"#),
        "what benchplan does not read is kept"
    );
    let report = Command::new(bin)
        .args(["report", "--study", "programs", "--output", "-"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    for section in [
        "## Recommendations",
        "## Training",
        "## Inference",
        "## Other measurements",
    ] {
        assert!(text.contains(section), "{section} missing from:\n{text}");
    }
    assert!(
        text.contains("framework FakeTorch 1.0"),
        "the framework is named:\n{text}"
    );
    assert!(
        text.contains("Lowest-latency inference for `tiny` (batch 1)"),
        "recommendations consider the program's cells:\n{text}"
    );
    assert!(
        !text.contains("candle"),
        "no candle figure in a study candle did not run:\n{text}"
    );
}

/// A plan edited while its run goes on (here by the cell itself, in its first round) does not
/// change the run: every round's worker uses the text the run started with. A round started
/// from the edited file would have failed on its broken TOML.
#[test]
fn a_plan_edited_during_its_run_does_not_change_the_run() {
    let plan = r#"
version = 1
name = "cmd"

[measure]
rounds = 3
warmup = 0
iterations = 6

[[experiments]]
name = "editor"
workload = "command"
command = ["sh", "-c", "echo 'this is [not toml' >> plan.toml; echo '{{\"event\": \"sample\", \"ms\": 1.0}}'; echo '{{\"event\": \"sample\", \"ms\": 1.0}}'"]
[experiments.matrix]
batch = [1]

# Runs in a worker process, started afresh for every round: after the edit too.
[[experiments]]
name = "idle"
workload = "noop"
[experiments.matrix]
fault = ["none"]
"#;
    let (out, records) = run("edited", plan);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(records.len(), 2, "{stderr}");
    for r in &records {
        assert_eq!(r.status, Status::Ok, "{}: {:?}", r.experiment, r.reason);
        assert_eq!(r.round_sample_counts.len(), 3, "{}", r.experiment);
    }
}
