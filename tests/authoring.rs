//! Plan authoring: the committed schema and the book's references are what the code
//! generates, shipped plans name the schema, `init` writes a plan that checks cleanly and
//! never overwrites, `explain` accounts for include/exclude/zip, `check` warns of likely
//! mistakes, and the CLI's manners (completions, `--format json`, `--quiet`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use benchplan::plan::schema::{
    plan_schema_text, reference_markdown, SCHEMA_DIRECTIVE, SCHEMA_PATH,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn benchplan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(args)
        .current_dir(dir)
        .env_remove("BENCHPLAN_MACHINE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("benchplan-authoring-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(Path::new(ROOT).join(SCHEMA_PATH)).unwrap();
    assert!(
        committed == plan_schema_text(),
        "{SCHEMA_PATH} differs from what the code generates: run `cargo run --release -- schema > {SCHEMA_PATH}` and commit it"
    );
}

#[test]
fn every_shipped_plan_names_the_schema_on_its_first_line() {
    for entry in std::fs::read_dir(Path::new(ROOT).join("plans")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                text.lines().next(),
                Some(SCHEMA_DIRECTIVE),
                "{} must start with `{SCHEMA_DIRECTIVE}`",
                path.display()
            );
        }
    }
}

/// The text of `file` (under the repository) between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
fn between_markers(file: &str, name: &str) -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    let (start, end) = (
        format!("<!-- {name}:start -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("{file} has no {name}:start marker"))
        + start.len();
    let to = text
        .find(&end)
        .unwrap_or_else(|| panic!("{file} has no {name}:end marker"));
    text[from..to].to_owned()
}

#[test]
fn the_books_plan_reference_is_the_generated_one() {
    assert!(
        between_markers("docs/src/plan-reference.md", "plan-reference") == reference_markdown(),
        "docs/src/plan-reference.md differs from the schema: replace the text between the markers with `cargo run --release -- schema --format markdown`"
    );
}

#[test]
fn the_books_results_format_is_the_generated_one() {
    assert!(
        between_markers("docs/src/results-format.md", "results-format")
            == benchplan::results::schema::reference_markdown(),
        "docs/src/results-format.md differs from src/results/schema.rs: replace the text between the markers with `cargo run --release -- schema --results`"
    );
}

#[test]
fn init_writes_a_plan_that_checks_cleanly_and_never_overwrites() {
    let s = Scratch::new("init");
    let out = benchplan(&s.0, &["init", "first-study"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "plans/first-study.toml");
    assert!(
        stderr.contains("benchplan explain plans/first-study.toml"),
        "{stderr}"
    );
    let plan = s.0.join("plans/first-study.toml");
    let written = std::fs::read_to_string(&plan).unwrap();
    assert!(written.starts_with(SCHEMA_DIRECTIVE));
    assert_eq!(
        std::fs::read_to_string(s.0.join("plans/plan.schema.json")).unwrap(),
        plan_schema_text()
    );

    let out = benchplan(&s.0, &["check", "plans/first-study.toml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("ok: plans/first-study.toml: 3 experiment(s)"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("warning"),
        "a fresh plan warns of nothing: {stderr}"
    );

    std::fs::write(&plan, "# edited by hand\n").unwrap();
    let out = benchplan(&s.0, &["init", "first-study"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("already exists") && stderr.contains("never overwrites"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&plan).unwrap(),
        "# edited by hand\n"
    );
}

const EXPLAINED: &str = r#"
version = 1
name = "explained"

[[experiments]]
name = "mm"
workload = "matmul"
[experiments.matrix]
n = [64, 128, 256]
dtype = ["f32", "f16"]
device = ["cpu"]
exclude = [{ n = 64, dtype = "f16" }, { n = 999 }]
include = [{ n = 128, seed = 7 }, { n = 512, dtype = "f32", device = "cpu" }]
[[experiments.matrix.zip]]
warmup = [1, 2]
iterations = [5, 10]

[[experiments]]
name = "twice"
workload = "matmul"
[experiments.matrix]
[[experiments.matrix.zip]]
n = [32, 32]
iterations = [5, 6]
"#;

#[test]
fn explain_accounts_for_every_exclude_include_and_zip() {
    let s = Scratch::new("explain");
    std::fs::write(s.0.join("plan.toml"), EXPLAINED).unwrap();
    let out = benchplan(&s.0, &["explain", "plan.toml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "experiment `mm` (matmul)",
        "axes: n [3] × dtype [2] × device [1] × zip(warmup, iterations) [2] = 12 combination(s)",
        "exclude #1 { n = 64, dtype = \"f16\" }: removed 2",
        "exclude #2 { n = 999 }: removed 0 (matches nothing)",
        "include #1 { n = 128, seed = 7 }: extended 4 combination(s)",
        "include #2 { n = 512, dtype = \"f32\", device = \"cpu\" }: matched no combination, added as one of its own",
        // The zip varies measurement settings only, which are not part of a cell's identity:
        // its two rows collapse into one cell each.
        "5 combination(s) have the same parameters as an earlier cell: run once",
        "cells: 6 (cpu 6)",
        "experiment `twice` (matmul)",
        "axes: zip(n, iterations) [2] = 2 combination(s)",
        "per device: cpu 7",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
    // The same warnings `check` gives.
    assert!(stderr.contains("removes no cell"), "{stderr}");
    assert!(stderr.contains("matches no combination"), "{stderr}");
    assert!(
        stderr.contains("resolve to the same parameters"),
        "{stderr}"
    );

    let out = benchplan(&s.0, &["explain", "plan.toml", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mm = &json["experiments"][0];
    assert_eq!(mm["product"], 12);
    assert_eq!(mm["excludes"][0]["matched"], 2);
    assert_eq!(mm["includes"][1]["added"], true);
    assert_eq!(mm["axes"][3]["zipped"], true);
    assert_eq!(mm["duplicates"], 5);
    assert_eq!(json["cells"], 7);
}

#[test]
fn explain_and_check_say_which_devices_this_machine_lacks() {
    let s = Scratch::new("devices");
    std::fs::write(
        s.0.join("plan.toml"),
        "version = 1\nname = \"d\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [16]\ndevice = [\"cpu\", \"gpu\"]\n",
    )
    .unwrap();
    if benchplan::device::built_backends().len() > 1 {
        return; // an accelerator build: whether `gpu` is here depends on the machine
    }
    let (stdout, _) = text(&benchplan(&s.0, &["explain", "plan.toml"]));
    assert!(
        stdout.contains("on this machine: 1 cell(s) on `gpu` cannot run"),
        "{stdout}"
    );
    let (_, stderr) = text(&benchplan(&s.0, &["check", "plan.toml"]));
    assert!(
        stderr.contains("device `gpu` (1 cell(s)) cannot run on this machine"),
        "{stderr}"
    );
}

#[test]
fn list_as_json_and_completions_for_each_shell() {
    let s = Scratch::new("manners");
    std::fs::write(s.0.join("plan.toml"), EXPLAINED).unwrap();
    let out = benchplan(&s.0, &["list", "plan.toml", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 7);
    assert_eq!(rows[0]["workload"], "matmul");
    assert!(rows[0]["params"]["n"].is_i64());

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef benchplan"),
        ("fish", "complete -c benchplan"),
    ] {
        let out = benchplan(&s.0, &["completions", shell]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{shell}: {stderr}");
        assert!(stdout.contains(marker), "{shell}");
        assert!(
            stdout.contains("explain") && stdout.contains("merge"),
            "{shell}"
        );
    }
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let s = Scratch::new("help");
    for cmd in [
        "run",
        "list",
        "check",
        "report",
        "diff",
        "devices",
        "merge",
        "shards",
        "slurm",
        "k8s",
        "init",
        "explain",
        "completions",
        "schema",
    ] {
        let (stdout, _) = text(&benchplan(&s.0, &[cmd, "--help"]));
        assert!(
            stdout.contains("Example"),
            "`benchplan {cmd} --help` shows no example:\n{stdout}"
        );
    }
}

#[test]
fn quiet_runs_say_only_the_summary() {
    let s = Scratch::new("quiet");
    std::fs::write(
        s.0.join("plan.toml"),
        "version = 1\nname = \"q\"\n[measure]\nwarmup = 1\niterations = 3\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [16, 32]\n",
    )
    .unwrap();
    let out = benchplan(&s.0, &["--quiet", "run", "plan.toml", "--in-process"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("2 cells: 2 ok, 0 failed, 0 skipped in"),
        "{stderr}"
    );
    let out = benchplan(&s.0, &["run", "plan.toml", "--in-process", "--force", "-v"]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("warmup=1 iterations=3"), "{stderr}");
}
