//! `benchplan report`: a snapshot of the default template over deterministic results, the
//! committed results rendering without error, byte-identical output, and template errors.

use std::path::Path;
use std::process::Command;

use benchplan::plan::ParamValue;
use benchplan::report::{render, Report, TemplateSource};
use benchplan::results::{store, CellRecord, Status};

use crate::common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A record with scripted samples: `base` ms spread evenly by ±2%, so medians and intervals
/// are known and the snapshot never depends on this machine's speed.
fn rec(experiment: &str, workload: &str, params: &[(&str, ParamValue)], base: f64) -> CellRecord {
    let samples: Vec<f64> = (0..20).map(|i| base * (0.98 + 0.002 * i as f64)).collect();
    let key_len: usize = params
        .iter()
        .map(|(k, v)| k.len() + 1 + v.to_string().len())
        .sum::<usize>()
        + params.len().saturating_sub(1);
    let id = format!("{:016x}", key_len * 7919 + experiment.len());
    common::record(
        experiment,
        workload,
        id,
        params,
        samples,
        common::meta("linux-x86_64-test-cpu-2c"),
    )
}

fn s(v: &str) -> ParamValue {
    ParamValue::Str(v.into())
}

fn i(v: i64) -> ParamValue {
    ParamValue::Int(v)
}

fn records() -> Vec<CellRecord> {
    let mut out = Vec::new();
    for (n, t) in [(256, 0.2), (1000, 10.0)] {
        let mut r = rec(
            "matmul",
            "matmul",
            &[("n", i(n)), ("dtype", s("f32")), ("device", s("cpu"))],
            t,
        );
        r.flops_per_iteration = Some(2.0 * (n as f64).powi(3));
        out.push(r);
    }
    for (model, t, w) in [("mlp-small", 1.7, 346_176u64), ("lstm", 250.0, 813_588)] {
        let mut r = rec(
            "train",
            "train",
            &[
                ("model", s(model)),
                ("batch", i(32)),
                ("dtype", s("f32")),
                ("device", s("cpu")),
                ("data", s("energy")),
            ],
            t,
        );
        r.samples_per_iteration = Some(32);
        r.weight_bytes = Some(w);
        r.optimizer_state_bytes = Some(2 * w);
        r.activation_bytes = Some(w / 2);
        r.peak_rss_bytes = Some(150 << 20);
        out.push(r);
    }
    for (batch, t) in [(1, 1.3), (32, 7.0)] {
        let mut r = rec(
            "infer",
            "infer",
            &[
                ("model", s("mlp-large")),
                ("batch", i(batch)),
                ("dtype", s("f32")),
                ("quant", s("none")),
                ("device", s("cpu")),
            ],
            t,
        );
        r.samples_per_iteration = Some(batch as u64);
        r.weight_bytes = Some(34_234_432);
        out.push(r);
    }
    let mut q = rec(
        "infer",
        "infer",
        &[
            ("model", s("mlp-large")),
            ("batch", i(32)),
            ("dtype", s("f32")),
            ("quant", s("q8_0")),
            ("device", s("cpu")),
        ],
        70.0,
    );
    q.samples_per_iteration = Some(32);
    q.weight_bytes = Some(9_111_616);
    q.prediction_error = Some(0.0178);
    out.push(q);
    for (workers, t, util) in [(1, 0.22, 1.05), (2, 0.11, 1.96)] {
        let mut r = rec(
            "dataload",
            "dataload",
            &[
                ("data", s("energy")),
                ("batch", i(32)),
                ("workers", i(workers)),
                ("prefetch", i(4)),
                ("jitter", ParamValue::Float(0.05)),
                ("device", s("cpu")),
            ],
            t,
        );
        r.samples_per_iteration = Some(32);
        r.cpu_utilization = Some(util);
        out.push(r);
    }
    let mut p = rec(
        "pipeline",
        "pipeline",
        &[
            ("model", s("lstm")),
            ("data", s("energy")),
            ("workers", i(2)),
            ("device", s("cpu")),
        ],
        252.0,
    );
    p.samples_per_iteration = Some(32);
    p.stages = vec![
        ("load".into(), vec![0.05; 10]),
        ("transfer".into(), vec![0.01; 10]),
        ("forward".into(), vec![50.0; 10]),
        ("backward".into(), vec![200.0; 10]),
        ("optimizer".into(), vec![1.9; 10]),
    ];
    out.push(p);
    let mut skipped = rec(
        "matmul",
        "matmul",
        &[("n", i(256)), ("dtype", s("bf16")), ("device", s("cpu"))],
        0.0,
    );
    skipped.status = Status::Skipped;
    skipped.samples_ms.clear();
    skipped.reason = Some("not supported on `cpu`: unsupported dtype BF16 for op matmul".into());
    out.push(skipped);
    out
}

fn template() -> TemplateSource {
    TemplateSource::File(root().join("templates/report.md.j2"))
}

#[test]
fn the_default_template_matches_its_snapshot() {
    let view = Report::build(
        &records(),
        "A deterministic study for the snapshot.",
        "results/snap/cells.parquet",
        &[("cpu".to_string(), 0.50)].into_iter().collect(),
        &Default::default(),
    )
    .unwrap();
    let text = render(&view, &template()).unwrap();
    let snapshot = root().join("tests/snapshots/report.md");
    if std::env::var_os("BENCHPLAN_BLESS").is_some() {
        std::fs::write(&snapshot, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert_eq!(text, expected, "rendered report differs from tests/snapshots/report.md (BENCHPLAN_BLESS=1 to update, then review)");
    assert_eq!(
        render(
            &view,
            &TemplateSource::Builtin("report.md.j2", benchplan::report::DEFAULT_TEMPLATE)
        )
        .unwrap(),
        text,
        "the built-in copy is the shipped template"
    );
}

#[test]
fn sections_without_data_are_left_out() {
    let only_matmul: Vec<CellRecord> = records()
        .into_iter()
        .filter(|r| r.workload == "matmul")
        .collect();
    let text = render(
        &Report::build(
            &only_matmul,
            "",
            "x",
            &Default::default(),
            &Default::default(),
        )
        .unwrap(),
        &template(),
    )
    .unwrap();
    assert!(text.contains("## Tensor operations"));
    for absent in [
        "## Training",
        "## Inference",
        "## Optimization impact",
        "## Memory",
        "## Data loading",
        "## End to end",
    ] {
        assert!(
            !text.contains(absent),
            "{absent} has no data and must be left out"
        );
    }
    assert!(
        text.contains("## Cells not measured"),
        "the skipped cell is listed with its reason"
    );
}

/// Every committed result set of every study under `results/`.
fn committed_sets() -> Vec<benchplan::results::catalog::ResultSet> {
    let mut out = Vec::new();
    for study in benchplan::results::catalog::studies(&root().join("results")).unwrap() {
        out.extend(
            benchplan::results::catalog::result_sets(&root().join("results"), &study)
                .unwrap_or_default(),
        );
    }
    out
}

/// Rows of the Markdown tables of `text` that appear twice in one table.
fn repeated_table_rows(text: &str) -> Vec<String> {
    let mut repeated = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.starts_with('|') {
            if seen.contains(&line)
                && !line.starts_with("|---")
                && !repeated.contains(&line.to_owned())
            {
                repeated.push(line.to_owned());
            }
            seen.push(line);
        } else {
            seen.clear();
        }
    }
    repeated
}

#[test]
fn every_committed_report_tells_its_rows_and_lines_apart() {
    let sets = committed_sets();
    assert!(sets.len() >= 10, "results/ holds the committed result sets");
    for set in sets {
        let name = set.cells.display().to_string();
        let records = store::read(&set.cells).unwrap();
        let view = Report::build(&records, "", &name, &set.prices(), &set.measures())
            .unwrap()
            .compare(&records, &set.comparisons());
        // No two rows of a table share every visible key.
        for (section, table) in &view.tables {
            assert!(
                table.duplicate_keys().is_empty(),
                "{name}: the {section} table has rows a reader cannot tell apart: {:?}",
                table.duplicate_keys()
            );
        }
        // Every chart line is one configuration: one point per x value, lines labelled apart.
        for chart in benchplan::report::charts::line_charts(&view) {
            for panel in &chart.panels {
                let mut labels: Vec<&str> = panel.series.iter().map(|s| s.label.as_str()).collect();
                let before = labels.len();
                labels.sort_unstable();
                labels.dedup();
                assert_eq!(
                    labels.len(),
                    before,
                    "{name}: two lines of `{}` share a label",
                    chart.key
                );
                for s in &panel.series {
                    let mut xs: Vec<f64> = s.points.iter().map(|p| p.x).collect();
                    xs.dedup();
                    assert_eq!(
                        xs.len(),
                        s.points.len(),
                        "{name}: the line `{}` of `{}` mixes configurations (two points at one x)",
                        s.label,
                        chart.key
                    );
                }
            }
        }
        // Every measured cell is in a table.
        let shown: usize = [
            "matmul",
            "training",
            "inference",
            "optimizations",
            "dataload",
            "pipeline",
            "other",
        ]
        .iter()
        .filter_map(|k| view.tables.get(*k))
        .map(|t| t.rows.len())
        .sum();
        let measured = records
            .iter()
            .filter(|r| r.status == benchplan::results::Status::Ok && !r.samples_ms.is_empty())
            .count();
        assert!(
            shown >= measured,
            "{name}: {measured} cells measured, {shown} shown"
        );
        let text = render(&view, &template()).unwrap();
        assert!(text.contains("## "), "{name}");
        assert!(!text.contains("NaN"), "{name}: a figure came out as NaN");
        assert!(
            repeated_table_rows(&text).is_empty(),
            "{name}: a table repeats a row: {:?}",
            repeated_table_rows(&text)
        );
    }
}

fn benchplan(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn the_same_results_give_byte_identical_reports() {
    let dir = std::env::temp_dir().join(format!("benchplan-report-{}", std::process::id()));
    let set = dir.join("results/snap/m/0123456789ab");
    std::fs::create_dir_all(&set).unwrap();
    store::write_atomic(&set.join("cells.parquet"), &records()).unwrap();
    // A folder that is not a study (notes beside the results) is not reported, nor an error.
    std::fs::create_dir_all(dir.join("results/notes")).unwrap();
    std::fs::write(dir.join("results/notes/todo.txt"), "measure the GPU").unwrap();
    let first = benchplan(&["report"], &dir);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let a = std::fs::read(dir.join("results/snap/m/REPORT.md")).unwrap();
    let index = std::fs::read_to_string(dir.join("results/snap/REPORT.md")).unwrap();
    assert!(
        index.contains("[REPORT.md](m/REPORT.md)"),
        "the study index links the machine's report:\n{index}"
    );
    let second = benchplan(&["report", "--study", "snap"], &dir);
    assert_eq!(second.status.code(), Some(0));
    let b = std::fs::read(dir.join("results/snap/m/REPORT.md")).unwrap();
    assert_eq!(a, b);
    // A template error names the template and the line, and exits 2.
    std::fs::write(dir.join("bad.md.j2"), "# {{ study }}\n{% for row in %}\n").unwrap();
    let bad = benchplan(
        &["report", "--template", "bad.md.j2", "--output", "-"],
        &dir,
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("template `bad.md.j2`, line 2: syntax error"),
        "{stderr}"
    );
    // A template cannot read outside its folder.
    std::fs::write(
        dir.join("sneaky.md.j2"),
        "{% include \"../../etc/passwd\" %}\n",
    )
    .unwrap();
    let sneaky = benchplan(
        &["report", "--template", "sneaky.md.j2", "--output", "-"],
        &dir,
    );
    assert_eq!(sneaky.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&sneaky.stdout).contains("root:"));
    std::fs::remove_dir_all(&dir).unwrap();
}
