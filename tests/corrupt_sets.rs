//! `report` and `diff` given result files that are corrupt, truncated or not benchplan's:
//! a clear error naming the file, exit status 2, never a panic.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use benchplan::plan::ParamValue;
use benchplan::results::store;
use polars::prelude::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("benchplan-corrupt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A genuine one-row set at `path`.
fn good_set(path: &Path) {
    let r = common::record(
        "mm",
        "matmul",
        "0000000000000001".into(),
        &[("n", ParamValue::Int(8))],
        vec![1.0, 1.1, 0.9],
        common::meta("m"),
    );
    store::write_atomic(path, &[r]).unwrap();
}

fn expect_refusal(args: &[&str], file: &Path, what: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_benchplan"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains(what),
        "says what is wrong ({what}): {stderr}"
    );
}

#[test]
fn corrupt_truncated_and_foreign_files_are_refused_by_name() {
    let d = dir("all");
    let good = d.join("good/cells.parquet");
    good_set(&good);

    let garbage = d.join("garbage/cells.parquet");
    std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    std::fs::write(&garbage, b"this is not parquet at all").unwrap();

    let truncated = d.join("truncated/cells.parquet");
    std::fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    // A valid Parquet file of someone else's.
    let foreign = d.join("foreign/cells.parquet");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    let mut df = df!("city" => ["Oslo", "Lima"], "temp" => [3.5, 19.0]).unwrap();
    ParquetWriter::new(std::fs::File::create(&foreign).unwrap())
        .finish(&mut df)
        .unwrap();

    for (bad, what) in [
        (&garbage, "not a readable Parquet file"),
        (&truncated, "not a readable Parquet file"),
        (&foreign, "not a benchplan result set"),
    ] {
        let (b, g) = (bad.display().to_string(), good.display().to_string());
        expect_refusal(&["report", "--set", &b, "-o", "-"], bad, what);
        expect_refusal(&["diff", &g, &b], bad, what);
        expect_refusal(&["diff", &b, &g], bad, what);
    }
    std::fs::remove_dir_all(&d).unwrap();
}
