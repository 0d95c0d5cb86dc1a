//! `benchplan run`, `list` and `check` through the real binary, on a tiny plan.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use benchplan::results::{store, Status};

const PLAN: &str = r#"
version = 1
name = "tiny"

[measure]
warmup = 1
iterations = 5

[models.mlp]
kind = "mlp"
inputs = 4
hidden = [8]
outputs = 2

[[experiments]]
name = "mm"
workload = "matmul"
[experiments.matrix]
n = [16, 32]

[[experiments]]
name = "train"
workload = "train"
[experiments.matrix]
model = ["mlp"]
batch = [2]

[[experiments]]
name = "too-slow"
workload = "matmul"
measure = { timeout = "1us" }
[experiments.matrix]
n = [8]
"#;

/// `run` of the plan's `mm` experiment only (two quick cells).
const RUN_MM: &[&str] = &[
    "run",
    "plan.toml",
    "--machine",
    "test-machine",
    "--filter",
    "experiment=mm",
];

/// A scratch folder holding the plan; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("benchplan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
        Scratch(dir)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_benchplan"))
            .args(args)
            .current_dir(&self.0)
            .env_remove("BENCHPLAN_MACHINE")
            .output()
            .unwrap()
    }

    fn cells_file(&self) -> PathBuf {
        // Outside a git repository the commit folder is `nogit`.
        self.0.join("results/tiny/test-machine/nogit/cells.parquet")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that a command was refused as bad input (exit 2) saying `says`.
fn refused(out: &Output, says: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "expected `{says}` in: {stderr}");
}

#[test]
fn a_run_records_every_cell_and_goes_on_past_a_failure() {
    let s = Scratch::new("run");
    let out = s.run(&["run", "plan.toml", "--machine", "test-machine"]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one cell times out, so exit 1:\n{stderr}"
    );
    assert!(
        stderr.contains("4 cells: 3 ok, 1 failed, 0 skipped"),
        "{stderr}"
    );
    // Not a terminal: one plain line per cell when its last round ends (rounds shuffle the
    // cells, so which comes first varies), counting cells.
    assert!(stderr.contains("/4] ok      mm n=16: median"), "{stderr}");
    assert!(stderr.contains("[4/4] "), "{stderr}");

    let records = store::read(&s.cells_file()).unwrap();
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r.study, "tiny");
        assert_eq!(r.meta.machine, "test-machine");
        assert_eq!(r.meta.git_commit, "unknown");
        assert_eq!(r.meta.plan_sha256.len(), 64);
    }
    let ok: Vec<_> = records.iter().filter(|r| r.status == Status::Ok).collect();
    assert_eq!(ok.len(), 3);
    for r in &ok {
        assert_eq!(r.samples_ms.len(), 5, "{}", r.cell_key);
        // Five rounds (the default), each warming up once and timing its share: one sample.
        assert_eq!(r.round_sample_counts, [1, 1, 1, 1, 1], "{}", r.cell_key);
        assert_eq!(r.warmup_samples_ms.len(), 5);
        assert!(
            r.measure_settings.contains("rounds=5"),
            "{}",
            r.measure_settings
        );
        assert!(r.samples_ms.iter().all(|&x| x > 0.0));
        // Energy: a figure from a counter, or none and the reason (no RAPL in a VM; a timed
        // phase of microseconds is too short for any counter anyway).
        match (r.energy_j, r.energy_note.as_deref()) {
            (Some(j), None) => assert!(j > 0.0 && r.energy_source.is_some(), "{}", r.cell_key),
            (None, Some(why)) => assert!(!why.is_empty(), "{}", r.cell_key),
            other => panic!("{}: energy {other:?}", r.cell_key),
        }
        // A CPU has no device-state source: nothing is read, nothing is flagged.
        assert_eq!(r.device_state, Default::default(), "{}", r.cell_key);
        assert_eq!(r.throttled(), None);
    }
    let mm16 = records
        .iter()
        .find(|r| r.cell_key.starts_with("n=16"))
        .unwrap();
    assert_eq!(mm16.flops_per_iteration, Some(2.0 * 16f64.powi(3)));
    assert!(mm16.gflops().unwrap() > 0.0);
    let train = records.iter().find(|r| r.workload == "train").unwrap();
    assert_eq!(train.param_count, Some(4 * 8 + 8 + 8 * 2 + 2));
    assert_eq!(train.samples_per_iteration, Some(2));
    let failed = records.iter().find(|r| r.status == Status::Failed).unwrap();
    assert_eq!(failed.experiment, "too-slow");
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap()
            .starts_with("round 1 of 5: timed out"),
        "{:?}",
        failed.reason
    );
    assert!(
        s.cells_file().with_file_name("plan.toml").exists(),
        "the plan is kept with its results"
    );
}

#[test]
fn a_filtered_rerun_updates_only_its_cells() {
    let s = Scratch::new("rerun");
    let out = s.run(RUN_MM);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = store::read(&s.cells_file()).unwrap();
    assert_eq!(first.len(), 2);
    let out = s.run(&[
        "run",
        "plan.toml",
        "--machine",
        "test-machine",
        "--filter",
        "n=32",
        "--filter",
        "experiment=mm",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = store::read(&s.cells_file()).unwrap();
    assert_eq!(second.len(), 2, "the re-run cell replaces its row");
    let id = |rs: &[benchplan::results::CellRecord], key: &str| {
        rs.iter()
            .find(|r| r.cell_key.starts_with(key))
            .unwrap()
            .clone()
    };
    assert_eq!(
        id(&first, "n=16"),
        id(&second, "n=16"),
        "untouched cell keeps its row"
    );
    assert!(id(&second, "n=32").meta.run_started_at >= id(&first, "n=32").meta.run_started_at);
    assert_eq!(id(&first, "n=32").cell_id, id(&second, "n=32").cell_id);
}

#[test]
fn list_prints_ids_and_a_count_and_check_accepts_the_plan() {
    let s = Scratch::new("list");
    let out = s.run(&["list", "plan.toml", "--filter", "workload=matmul"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].ends_with("mm        n=16"), "{stdout}");
    assert_eq!(
        lines[0].split_whitespace().next().unwrap().len(),
        16,
        "a 16-digit id first"
    );
    assert_eq!(lines[3], "3 cell(s)");
    let out = s.run(&["check", "plan.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "ok: plan.toml: 3 experiment(s), 4 cell(s)\n"
    );
}

#[test]
fn bad_input_writes_nothing_and_exits_2() {
    let s = Scratch::new("bad");
    std::fs::write(
        s.0.join("bad.toml"),
        PLAN.replace("n = [16, 32]", "n = [16, \"big\"]"),
    )
    .unwrap();
    let out = s.run(&["run", "bad.toml", "--machine", "test-machine"]);
    refused(&out, "`n` must be a whole number, not a string");
    assert!(
        !s.0.join("results").exists(),
        "no partial results for a bad plan"
    );
    let out = s.run(&["run", "plan.toml", "--filter", "colour=red"]);
    refused(&out, "filter key `colour`");
    let out = s.run(&["run", "plan.toml", "--machine", "../escape"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new(&s.0).join("escape").exists());
}

#[test]
fn a_rerun_resumes_and_force_or_retry_choose_what_runs() {
    let s = Scratch::new("resume");
    let first = s.run(&["run", "plan.toml", "--machine", "test-machine"]);
    assert_eq!(first.status.code(), Some(1), "the too-slow cell fails");
    let before = store::read(&s.cells_file()).unwrap();
    let started = |rs: &[benchplan::results::CellRecord], exp: &str| -> Vec<String> {
        rs.iter()
            .filter(|r| r.experiment == exp)
            .map(|r| {
                r.cell_started_at.clone()
                    + &r.samples_ms.len().to_string()
                    + &format!("{:?}", r.samples_ms)
            })
            .collect()
    };
    // A plain re-run keeps the ok cells and runs only the one that did not succeed.
    let again = s.run(&["run", "plan.toml", "--machine", "test-machine"]);
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("3 cell(s) are already measured at this commit on this machine"),
        "{stderr}"
    );
    assert!(stderr.contains("1 cells: 0 ok, 1 failed"), "{stderr}");
    let after = store::read(&s.cells_file()).unwrap();
    assert_eq!(after.len(), 4, "no cell twice, none lost");
    assert_eq!(
        started(&before, "mm"),
        started(&after, "mm"),
        "ok rows are kept as they were"
    );
    // --retry-failed runs only the failed cell; --force runs them all.
    let retry = s.run(&[
        "run",
        "plan.toml",
        "--machine",
        "test-machine",
        "--retry-failed",
    ]);
    assert!(
        text(&retry.stderr).contains("1 cells: 0 ok, 1 failed"),
        "{}",
        text(&retry.stderr)
    );
    let force = s.run(&["run", "plan.toml", "--machine", "test-machine", "--force"]);
    assert!(
        text(&force.stderr).contains("4 cells: 3 ok, 1 failed"),
        "{}",
        text(&force.stderr)
    );
    assert_eq!(store::read(&s.cells_file()).unwrap().len(), 4);
    assert_ne!(
        started(&before, "mm"),
        started(&store::read(&s.cells_file()).unwrap(), "mm"),
        "--force re-measured"
    );
}

/// Rounds: every cell is measured once per round, each round visits the cells in its own
/// shuffled order (recorded per row, and recomputable from the run's start), and a row with
/// fewer rounds than its cell asks for is measured again on the next run.
#[test]
fn cells_run_in_rounds_whose_shuffled_order_is_recorded_and_resumed() {
    let s = Scratch::new("rounds");
    let plan = "version = 1\nname = \"tiny\"\n[measure]\nwarmup = 1\niterations = 4\nrounds = 4\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8, 9, 10, 11, 12, 13]\n";
    std::fs::write(s.0.join("plan.toml"), plan).unwrap();
    let args = [
        "run",
        "plan.toml",
        "--machine",
        "test-machine",
        "--in-process",
    ];
    let out = s.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut rows = store::read(&s.cells_file()).unwrap();
    assert_eq!(rows.len(), 6);
    // Rounds visit the cells shuffled; the set keeps them in plan order.
    let keys: Vec<&str> = rows.iter().map(|r| r.cell_key.as_str()).collect();
    assert_eq!(keys, ["n=8", "n=9", "n=10", "n=11", "n=12", "n=13"]);
    for r in &rows {
        assert_eq!(r.round_sample_counts, [1, 1, 1, 1], "{}", r.cell_key);
        assert_eq!(r.round_positions.len(), 4);
        assert!(r.round_started_s.windows(2).all(|w| w[0] <= w[1]));
    }
    // Each round's positions are a permutation of the cells, and the rounds differ.
    let order_of = |round: usize| -> Vec<u64> {
        let mut by_position: Vec<(u64, &str)> = rows
            .iter()
            .map(|r| (r.round_positions[round], r.cell_id.as_str()))
            .collect();
        by_position.sort_unstable();
        assert_eq!(
            by_position.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        rows.iter().map(|r| r.round_positions[round]).collect()
    };
    let orders: Vec<Vec<u64>> = (0..4).map(order_of).collect();
    assert!(orders.iter().any(|o| *o != orders[0]), "{orders:?}");

    // A row cut back to two rounds (a run stopped between rounds) is measured again.
    let cut = rows[3].cell_id.clone();
    rows[3].samples_ms.truncate(2);
    rows[3].warmup_samples_ms.truncate(2);
    rows[3].round_sample_counts.truncate(2);
    rows[3].round_positions.truncate(2);
    rows[3].round_started_s.truncate(2);
    store::write_atomic(&s.cells_file(), &rows).unwrap();
    let out = s.run(&args);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("5 cell(s) are already measured"),
        "{stderr}"
    );
    let again = store::read(&s.cells_file()).unwrap();
    let row = again.iter().find(|r| r.cell_id == cut).unwrap();
    assert_eq!(row.round_sample_counts.len(), 4);
}

/// A plan outside git (or untracked) edited between two runs at the same commit: the cells
/// whose definition changed (a model's layers, a matrix cell's settings) are measured again
/// and their rows describe the new definition; the cells the edit did not touch are kept.
#[test]
fn an_edited_plan_remeasures_the_cells_it_changed_and_keeps_the_others() {
    let s = Scratch::new("edited");
    s.run(&["run", "plan.toml", "--machine", "test-machine"]);
    let before = store::read(&s.cells_file()).unwrap();
    let params_of = |rs: &[benchplan::results::CellRecord]| {
        rs.iter()
            .find(|r| r.experiment == "train")
            .unwrap()
            .param_count
    };
    let started_mm = |rs: &[benchplan::results::CellRecord]| -> Vec<String> {
        rs.iter()
            .filter(|r| r.experiment == "mm")
            .map(|r| r.cell_started_at.clone() + &format!("{:?}", r.samples_ms))
            .collect()
    };
    std::fs::write(
        s.0.join("plan.toml"),
        PLAN.replace("hidden = [8]", "hidden = [64, 64]"),
    )
    .unwrap();
    let again = s.run(&["run", "plan.toml", "--machine", "test-machine"]);
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("1 cell(s) changed since they were measured at this commit"),
        "{stderr}"
    );
    let after = store::read(&s.cells_file()).unwrap();
    assert_eq!(after.len(), before.len(), "no cell twice, none lost");
    assert_ne!(
        params_of(&before),
        params_of(&after),
        "the train row is the new model's"
    );
    assert_eq!(
        params_of(&after),
        Some(4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2)
    );
    assert_eq!(
        started_mm(&before),
        started_mm(&after),
        "untouched cells are kept"
    );
    let train = after.iter().find(|r| r.experiment == "train").unwrap();
    assert!(train.definition_sha256.is_some());
}

/// Hostile environments: an output that cannot be written is exit 2 (never a panic's 101),
/// and a run whose stderr is full still keeps what it measured; a commit given from outside
/// cannot move results out of their folder; a plan read from a device is cut at the limit;
/// an absurd shard count is refused before anything is allocated.
#[test]
fn full_outputs_escaping_commits_and_endless_inputs_are_exit_2() {
    let s = Scratch::new("hostile");
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let check = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(["check", "plan.toml"])
        .current_dir(&s.0)
        .stdout(full())
        .output()
        .unwrap();
    refused(&check, "cannot write to standard output");
    let run = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(RUN_MM)
        .current_dir(&s.0)
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(
        store::read(&s.cells_file()).unwrap().len(),
        2,
        "what it measured is kept"
    );

    for commit in ["../../../../x", "/tmp/elsewhere", "a/b"] {
        let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
            .args(["run", "plan.toml", "--machine", "test-machine"])
            .current_dir(&s.0)
            .env("BENCHPLAN_GIT_COMMIT", commit)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{commit}");
        assert!(
            text(&out.stderr).contains("is not a commit"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!s.0.join("x").exists() && !s.0.parent().unwrap().join("x").exists());

    let zero = s.run(&["check", "/dev/zero"]);
    refused(&zero, "BENCHPLAN_MAX_PLAN_BYTES");

    let shards = s.run(&["list", "plan.toml", "--shard", "0/4294967296"]);
    refused(&shards, "at most 1000000 shards");
}

/// A data source that is huge (a 2 GB sparse file), a folder or a pipe: `check` names the
/// problem at the source's line, reads nothing of it, and exits 2.
#[test]
fn huge_folder_and_pipe_sources_are_named_not_read() {
    let s = Scratch::new("sources");
    let huge = std::fs::File::create(s.0.join("huge.csv")).unwrap();
    huge.set_len(2 << 30).unwrap(); // sparse: no disk is used
    std::fs::create_dir(s.0.join("folder.csv")).unwrap();
    let fifo = s.0.join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (file, says) in [
        ("huge.csv", "BENCHPLAN_MAX_SOURCE_BYTES"),
        ("folder.csv", "is not a regular file"),
        ("pipe.csv", "is not a regular file"),
    ] {
        let plan = format!(
            "version = 1\nname = \"s\"\n[sources.p]\nfile = \"{file}\"\ndate = \"Date\"\ncolumn = \"Price\"\n[datasets.d]\nfeatures = [\"p\"]\ntarget = \"p\"\nseq_len = 4\nhorizon = 1\nvalidation = 0.2\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8]\n"
        );
        std::fs::write(s.0.join("src.toml"), plan).unwrap();
        // A pipe that were opened for reading would block this test: refusing it is the check.
        refused(&s.run(&["check", "src.toml"]), says);
    }
}
