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

/// A real committed set, rewritten by this build (so it carries its checksums), then damaged
/// one way at a time: 300 single-byte flips spread over the file and 40 truncations. Every
/// damaged copy is refused with the file named, or (a flip in footer bytes no reader uses)
/// reads back exactly the rows it held: never a panic, never different data. A few go through
/// the binary too: exit 2, the file named, no panic.
#[test]
fn flipped_bytes_and_truncations_of_a_real_set_are_named_never_misread() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = root.join(
        "results/gpu-first/linux-x86_64-intel-r-xeon-r-processor-16c/d3f6822b5c20/cells.parquet",
    );
    let rows = store::read(&committed).unwrap();
    let d = dir("flips");
    let clean = d.join("clean/cells.parquet");
    store::write_atomic(&clean, &rows).unwrap();
    assert_eq!(store::read(&clean).unwrap(), rows);
    let bytes = std::fs::read(&clean).unwrap();
    let damaged = d.join("damaged/cells.parquet");
    std::fs::create_dir_all(damaged.parent().unwrap()).unwrap();
    let name = damaged.display().to_string();
    let (mut refused, mut same) = (0, 0);
    let mut check = |copy: &[u8], what: &str| {
        std::fs::write(&damaged, copy).unwrap();
        match store::read(&damaged) {
            Err(e) => {
                let e = format!("{e:#}");
                assert!(e.contains(&name), "{what}: names the file: {e}");
                refused += 1;
            }
            Ok(read) => {
                assert_eq!(
                    read, rows,
                    "{what}: accepted, so it must read the same rows"
                );
                same += 1;
            }
        }
    };
    for k in 0..300 {
        let at = k * (bytes.len() - 1) / 299;
        let mut copy = bytes.clone();
        copy[at] ^= 0x5a;
        check(&copy, &format!("byte {at} flipped"));
    }
    for k in 0..40 {
        let len = k * bytes.len() / 40;
        check(&bytes[..len], &format!("cut at {len}"));
    }
    assert!(
        refused >= 300,
        "almost every damage is refused ({refused} refused, {same} read the same)"
    );
    let mut copy = bytes.clone();
    copy[bytes.len() / 3] ^= 1;
    std::fs::write(&damaged, &copy).unwrap();
    let set = damaged.parent().unwrap().display().to_string();
    let good = clean.parent().unwrap().display().to_string();
    expect_refusal(
        &["report", "--set", &set, "-o", "-"],
        &damaged,
        "is corrupt",
    );
    expect_refusal(&["diff", &good, &set], &damaged, "is corrupt");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A pending row file that vanished between listing and reading (a consolidation by a run in
/// progress removed it) is not an error: its row is in `cells.parquet` by then.
#[test]
fn a_pending_file_removed_while_reading_is_skipped() {
    let d = dir("vanished");
    let cells = d.join("set/cells.parquet");
    good_set(&cells);
    let pending = d.join("set/pending");
    std::fs::create_dir_all(&pending).unwrap();
    // A dangling link reads as a file that is gone: what a reader meets in that race.
    std::os::unix::fs::symlink(d.join("nowhere.parquet"), pending.join("000001-x.parquet"))
        .unwrap();
    assert_eq!(store::read(&cells).unwrap().len(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}
