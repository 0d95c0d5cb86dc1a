//! Putting shards back together: rows from several result sets (shards of one run, or machines
//! of one study) become one set, one row per cell and machine, each row keeping the metadata
//! of the run that measured it.
//!
//! The rule for a cell measured more than once on the same machine, stated once here and in
//! the book (docs/src/cluster.md): an `ok` row beats a `failed` one, which beats a `skipped` one; between rows of
//! the same status, the cell that started last wins. Every such duplicate is reported, with
//! what was kept and what was dropped.
//!
//! Rows of different studies, commits or plans are refused: a merged set must mean one plan
//! at one commit, or `diff` and `report` would compare things that are not alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::results::{CellRecord, Status};

/// The rows of one input set.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub records: Vec<CellRecord>,
}

/// A cell and machine that more than one input had.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub cell_id: String,
    pub machine: String,
    pub key: String,
    pub kept: String,
    pub dropped: Vec<String>,
}

/// The outcome of a merge.
#[derive(Debug, Clone)]
pub struct Merged {
    pub study: String,
    /// The commit label all rows share (`0123456789ab`, `…-dirty`, `nogit`).
    pub commit_label: String,
    /// Machine ids, sorted.
    pub machines: Vec<String>,
    pub records: Vec<CellRecord>,
    pub conflicts: Vec<Conflict>,
    /// Rows read in all (before duplicates were resolved).
    pub rows_read: usize,
}

/// How a status ranks when one cell has several rows.
fn rank(status: Status) -> u8 {
    match status {
        Status::Ok => 2,
        Status::Failed => 1,
        Status::Skipped => 0,
    }
}

/// Whether `a` should be kept over `b` (see the module's rule).
fn beats(a: &CellRecord, b: &CellRecord) -> bool {
    (rank(a.status), &a.cell_started_at) > (rank(b.status), &b.cell_started_at)
}

fn describe(r: &CellRecord, from: &Path) -> String {
    let what = match (r.status, r.summary()) {
        (Status::Ok, Some(s)) => format!(
            "ok, median {} of {} samples",
            crate::format::duration_ms(s.median),
            r.samples_ms.len()
        ),
        (status, _) => match &r.reason {
            Some(reason) => format!("{status} ({})", reason.lines().next().unwrap_or_default()),
            None => status.to_string(),
        },
    };
    format!(
        "{what}, started {} on `{}`, in `{}`",
        r.cell_started_at,
        r.meta.hostname,
        from.display()
    )
}

/// Refuses inputs that do not make one set: `what` of each row, by the files that hold them.
fn one_of(inputs: &[Input], what: &str, of: impl Fn(&CellRecord) -> String) -> Result<String> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for input in inputs {
        for r in &input.records {
            let files = seen.entry(of(r)).or_default();
            let path = input.path.display().to_string();
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    if seen.len() > 1 {
        let plural = match what.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None => format!("{what}s"),
        };
        let list: Vec<String> = seen
            .iter()
            .map(|(value, files)| format!("  {what} `{value}`: {}", files.join(", ")))
            .collect();
        bail!(
            "these result sets are of {} different {plural} and do not make one set:\n{}\nmerge the sets of one {what} at a time",
            seen.len(),
            list.join("\n")
        );
    }
    Ok(seen.into_keys().next().unwrap_or_default())
}

/// What the inputs make together, refused unless they are one set: one study, one commit, one
/// plan. Returns the study, the commit label and the machines (sorted).
pub fn identity(inputs: &[Input]) -> Result<(String, String, Vec<String>)> {
    if inputs.iter().all(|i| i.records.is_empty()) {
        bail!("the result sets given hold no rows");
    }
    let study = one_of(inputs, "study", |r| r.study.clone())?;
    let commit_label = one_of(inputs, "commit", |r| r.meta.commit_label())?;
    one_of(inputs, "plan", |r| {
        format!(
            "sha256 {}",
            &r.meta.plan_sha256[..r.meta.plan_sha256.len().min(12)]
        )
    })?;
    let mut machines: Vec<String> = inputs
        .iter()
        .flat_map(|i| i.records.iter().map(|r| r.meta.machine.clone()))
        .collect();
    machines.sort();
    machines.dedup();
    Ok((study, commit_label, machines))
}

/// Merges the rows of `inputs`, in order; see the module's rule for duplicates.
pub fn merge(inputs: &[Input]) -> Result<Merged> {
    let rows_read = inputs.iter().map(|i| i.records.len()).sum();
    let (study, commit_label, machines) = identity(inputs)?;
    // (machine, cell id) → (the row kept, where it came from, what was dropped)
    let mut kept: BTreeMap<(String, String), (CellRecord, PathBuf, Vec<String>)> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for input in inputs {
        for r in &input.records {
            let key = (r.meta.machine.clone(), r.cell_id.clone());
            match kept.get_mut(&key) {
                None => {
                    order.push(key.clone());
                    kept.insert(key, (r.clone(), input.path.clone(), Vec::new()));
                }
                Some((old, old_path, dropped)) => {
                    if beats(r, old) {
                        dropped.push(describe(old, old_path));
                        *old = r.clone();
                        *old_path = input.path.clone();
                    } else {
                        dropped.push(describe(r, &input.path));
                    }
                }
            }
        }
    }
    let mut records = Vec::with_capacity(order.len());
    let mut conflicts = Vec::new();
    for key in order {
        let (record, path, dropped) = kept.remove(&key).expect("every key was inserted");
        if !dropped.is_empty() {
            conflicts.push(Conflict {
                cell_id: record.cell_id.clone(),
                machine: record.meta.machine.clone(),
                key: record.cell_key.clone(),
                kept: describe(&record, &path),
                dropped,
            });
        }
        records.push(record);
    }
    Ok(Merged {
        study,
        commit_label,
        machines,
        records,
        conflicts,
        rows_read,
    })
}

/// The machine folder a merged set goes in: the one machine's id, or, for rows of several
/// machines, a name that lists how many and is stable for the same machines.
pub fn machine_folder(machines: &[String]) -> String {
    match machines {
        [one] => one.clone(),
        many => {
            let joined = many.join("\n");
            format!(
                "{}-machines-{:08x}",
                many.len(),
                crate::hash::fnv1a64(joined.as_bytes()) as u32
            )
        }
    }
}

/// What a merge lacks against the plan's cells: the ids of cells no machine has a row for.
pub fn missing<'a>(
    merged: &Merged,
    plan_cells: &'a [crate::plan::Cell],
) -> Vec<&'a crate::plan::Cell> {
    let have: std::collections::BTreeSet<&str> =
        merged.records.iter().map(|r| r.cell_id.as_str()).collect();
    plan_cells
        .iter()
        .filter(|c| !have.contains(c.id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ParamValue;
    use crate::results::store::tests::record;

    fn row(id: &str, machine: &str, status: Status, started: &str) -> CellRecord {
        let mut r = record(id, &[("n", ParamValue::Int(1))], vec![1.0, 2.0, 3.0]);
        r.meta.machine = machine.into();
        r.status = status;
        r.cell_started_at = started.into();
        if status != Status::Ok {
            r.samples_ms.clear();
            r.reason = Some("because".into());
        }
        r
    }

    fn input(name: &str, records: Vec<CellRecord>) -> Input {
        Input {
            path: PathBuf::from(name),
            records,
        }
    }

    #[test]
    fn shards_without_overlap_merge_into_their_union() {
        let m = merge(&[
            input("a", vec![row("c1", "m", Status::Ok, "t1")]),
            input("b", vec![row("c2", "m", Status::Failed, "t1")]),
        ])
        .unwrap();
        assert_eq!(m.records.len(), 2);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.machines, vec!["m".to_owned()]);
        assert_eq!(machine_folder(&m.machines), "m");
    }

    #[test]
    fn ok_beats_failed_beats_skipped_then_the_later_start_wins() {
        let m = merge(&[
            input("a", vec![row("c1", "m", Status::Ok, "t1")]),
            input(
                "b",
                vec![
                    row("c1", "m", Status::Failed, "t9"),
                    row("c2", "m", Status::Skipped, "t1"),
                ],
            ),
            input(
                "c",
                vec![
                    row("c2", "m", Status::Failed, "t0"),
                    row("c1", "m", Status::Ok, "t5"),
                ],
            ),
        ])
        .unwrap();
        let by_id = |id: &str| m.records.iter().find(|r| r.cell_id == id).unwrap();
        assert_eq!(by_id("c1").status, Status::Ok);
        assert_eq!(by_id("c1").cell_started_at, "t5");
        assert_eq!(by_id("c2").status, Status::Failed);
        assert_eq!(m.conflicts.len(), 2);
        let c1 = m.conflicts.iter().find(|c| c.cell_id == "c1").unwrap();
        assert_eq!(c1.dropped.len(), 2, "{c1:?}");
        assert!(c1.kept.contains("in `c`"), "{}", c1.kept);
    }

    #[test]
    fn the_same_cell_on_two_machines_is_two_rows() {
        let m = merge(&[
            input("mac", vec![row("c1", "mac", Status::Ok, "t1")]),
            input("gpu", vec![row("c1", "gpu", Status::Ok, "t1")]),
        ])
        .unwrap();
        assert_eq!(m.records.len(), 2);
        assert!(m.conflicts.is_empty());
        assert!(machine_folder(&m.machines).starts_with("2-machines-"));
    }

    #[test]
    fn different_commits_studies_or_plans_are_refused_naming_the_files() {
        let mut other = row("c2", "m", Status::Ok, "t1");
        other.meta.git_commit = "fedcba9876543210".into();
        let e = merge(&[
            input("a/cells.parquet", vec![row("c1", "m", Status::Ok, "t1")]),
            input("b/cells.parquet", vec![other]),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("2 different commits"), "{e}");
        assert!(e.contains("b/cells.parquet"), "{e}");

        let mut other = row("c2", "m", Status::Ok, "t1");
        other.study = "elsewhere".into();
        let e = merge(&[
            input("a", vec![row("c1", "m", Status::Ok, "t1")]),
            input("b", vec![other]),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("2 different studies"), "{e}");

        let mut other = row("c2", "m", Status::Ok, "t1");
        other.meta.plan_sha256 = "ffffffffffffffffffff".into();
        let e = merge(&[
            input("a", vec![row("c1", "m", Status::Ok, "t1")]),
            input("b", vec![other]),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("different plans"), "{e}");
        assert!(merge(&[]).is_err());
    }
}
