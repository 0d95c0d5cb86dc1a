//! `benchplan diff` through the real binary: sides as paths and as git revisions, exit
//! statuses as a CI gate, machines refused, and the three output formats.

use std::path::PathBuf;
use std::process::{Command, Output};

use benchplan::plan::ParamValue;
use benchplan::results::{store, CellRecord};

use crate::common;

/// Twenty cells with deterministic samples in five rounds of six, the rounds' levels a little
/// apart; `slow` multiplies one cell's times.
fn set(machine: &str, slow: Option<(usize, f64)>) -> Vec<CellRecord> {
    const ROUND_LEVELS: [f64; 5] = [1.0, 1.004, 0.997, 1.002, 0.998];
    (0..20)
        .map(|i| {
            let factor = match slow {
                Some((s, f)) if s == i => f,
                _ => 1.0,
            };
            let samples: Vec<f64> = (0..30)
                .map(|k| {
                    5.0 * factor
                        * ROUND_LEVELS[k / 6]
                        * (0.99 + 0.02 * ((k * 7) % 30) as f64 / 30.0)
                })
                .collect();
            let n = ParamValue::Int(100 + i as i64);
            let mut r = common::record(
                "mm",
                "matmul",
                format!("{i:016x}"),
                &[("n", n)],
                samples,
                common::meta(machine),
            );
            r.round_sample_counts = vec![6; 5];
            r
        })
        .collect()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("benchplan-diff-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, records: &[CellRecord]) -> PathBuf {
        let path = self.0.join(rel).join("cells.parquet");
        store::write_atomic(&path, records).unwrap();
        path.parent().unwrap().to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_benchplan"))
            .args(args)
            .current_dir(&self.0)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        common::git(&self.0, args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn paths_a_planted_regression_and_the_exit_status() {
    let s = Scratch::new("paths");
    let a = s.write("a", &set("m", None));
    let b = s.write("b", &set("m", Some((3, 1.2))));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = s.run(&["diff", a, b]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a regression fails the gate:\n{stdout}{}",
        text(&out.stderr)
    );
    let first_row = stdout.lines().find(|l| l.starts_with("slower")).unwrap();
    assert!(first_row.contains("mm n=103"), "{stdout}");
    assert!(
        stdout.contains("1 slower, 0 faster, 19 unchanged, 0 uncertain"),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'), "NO_COLOR is respected");
    assert_eq!(
        s.run(&["diff", a, b, "--fail-on", "never"]).status.code(),
        Some(0)
    );
    assert_eq!(
        s.run(&["diff", a, a]).status.code(),
        Some(0),
        "identical sets pass"
    );
    assert_eq!(
        s.run(&["diff", b, a, "--fail-on", "any"]).status.code(),
        Some(1),
        "an improvement is a change"
    );
    assert_eq!(
        s.run(&["diff", b, a]).status.code(),
        Some(0),
        "an improvement is no regression"
    );
    assert_eq!(
        s.run(&["diff", a, b, "--threshold", "25%"]).status.code(),
        Some(0)
    );

    let json = s.run(&["diff", a, b, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["slower"], 1);
    assert_eq!(value["cells"][0]["verdict"], "slower");
    assert_eq!(value["correction"], "holm");
    let md = s.run(&["diff", a, b, "--format", "markdown"]);
    let md = text(&md.stdout);
    assert!(md.contains("| slower | mm `n=103` |"), "{md}");
}

#[test]
fn different_machines_are_refused_unless_asked() {
    let s = Scratch::new("machines");
    let a = s.write("a", &set("laptop", None));
    let b = s.write("b", &set("workstation", None));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = s.run(&["diff", a, b]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("different machines (`laptop` and `workstation`)"),
        "{}",
        text(&out.stderr)
    );
    let out = s.run(&["diff", a, b, "--allow-cross-machine"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("machine: laptop → workstation"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn different_studies_are_refused_unless_asked() {
    let s = Scratch::new("studies");
    let a = s.write("a", &set("laptop", None));
    let mut other = set("laptop", None);
    for r in &mut other {
        r.study = "another".into();
    }
    let b = s.write("b", &other);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = s.run(&["diff", a, b]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("study `another`")
            && text(&out.stderr).contains("--allow-cross-study"),
        "{}",
        text(&out.stderr)
    );
    let out = s.run(&["diff", a, b, "--allow-cross-study"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn revisions_are_found_through_the_results_layout() {
    let s = Scratch::new("git");
    s.git(&["init", "-q"]);
    std::fs::write(s.0.join("f"), "1").unwrap();
    s.git(&["add", "f"]);
    s.git(&["commit", "-q", "-m", "one"]);
    let first = s.git(&["rev-parse", "HEAD"]);
    std::fs::write(s.0.join("f"), "2").unwrap();
    s.git(&["commit", "-q", "-am", "two"]);
    let second = s.git(&["rev-parse", "HEAD"]);
    s.write(&format!("results/s/m/{}", &first[..12]), &set("m", None));
    s.write(
        &format!("results/s/m/{}", &second[..12]),
        &set("m", Some((0, 1.5))),
    );
    // No arguments: HEAD's parent against HEAD.
    let out = s.run(&["diff"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("old: HEAD~1"),
        "{}",
        text(&out.stdout)
    );
    let out = s.run(&["diff", &second[..7], &first[..7]]);
    assert_eq!(out.status.code(), Some(0), "reversed, it is an improvement");
    let out = s.run(&["diff", "HEAD~1", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`no-such-branch` is neither a result set"),
        "{}",
        text(&out.stderr)
    );
}
