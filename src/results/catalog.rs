//! The catalog of stored result sets: what a result set is, where the sets of a study lie, and
//! what the plan kept beside a set says (description, prices, thresholds, comparisons).
//!
//! One rule decides what a set is, for every command (`report`, `diff`, `merge`, `shards`,
//! `run`'s balancing): a folder holding a `cells.parquet` file **or** a `pending/` folder of rows
//! not yet consolidated. A run killed before its first consolidation leaves only the latter,
//! and its finished cells are results like any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::layout::{CELLS_FILE, PLAN_COPY};
use super::store::{self, PENDING_DIR};
use super::CellRecord;

/// A result set on disk, named by its cells file (which may not exist yet when the set holds
/// pending rows only; [`store::read`] reads both).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResultSet {
    pub cells: PathBuf,
}

/// Whether `dir` holds a result set: its cells file, or pending rows.
pub fn is_set_dir(dir: &Path) -> bool {
    dir.join(CELLS_FILE).is_file() || dir.join(PENDING_DIR).is_dir()
}

impl ResultSet {
    /// The folder of the set.
    pub fn dir(&self) -> &Path {
        self.cells.parent().unwrap_or(Path::new("."))
    }

    /// The machine folder the set lies in (`results/<study>/<machine>/<commit>/`).
    pub fn machine(&self) -> String {
        self.dir()
            .parent()
            .and_then(|m| m.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The commit folder's name: `0123456789ab`, `0123456789ab-dirty` or `nogit`.
    pub fn commit_label(&self) -> String {
        self.dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Every row of the set, pending rows included.
    pub fn read(&self) -> Result<Vec<CellRecord>> {
        store::read(&self.cells)
    }

    /// `--set PATH`: a cells file, or a result-set folder holding one (or pending rows).
    pub fn at(path: &Path) -> Result<ResultSet> {
        if path.is_dir() {
            if is_set_dir(path) {
                return Ok(ResultSet {
                    cells: path.join(CELLS_FILE),
                });
            }
        } else if path.is_file() {
            return Ok(ResultSet {
                cells: path.to_owned(),
            });
        }
        bail!(
            "no result set at `{}` (expected a `{CELLS_FILE}` file or a folder holding one)",
            path.display()
        )
    }

    /// The plan kept with the results, parsed leniently: a report or diff never fails for
    /// want of a description, a price or a threshold, so an unreadable copy reads as empty.
    pub fn plan_table(&self) -> toml::Table {
        std::fs::read_to_string(self.dir().join(PLAN_COPY))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .unwrap_or_default()
    }

    /// The plan's description.
    pub fn description(&self) -> String {
        let plan = self.plan_table();
        plan.get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// The plan's device prices (`[devices.NAME] price_per_hour`).
    pub fn prices(&self) -> BTreeMap<String, f64> {
        self.device_numbers("price_per_hour")
    }

    /// The plan's electricity prices (`[devices.NAME] price_per_kwh`).
    pub fn energy_prices(&self) -> BTreeMap<String, f64> {
        self.device_numbers("price_per_kwh")
    }

    /// One number of each `[devices.NAME]` of the kept plan, by device name.
    fn device_numbers(&self, key: &str) -> BTreeMap<String, f64> {
        let plan = self.plan_table();
        let Some(devices) = plan.get("devices").and_then(|d| d.as_table()) else {
            return BTreeMap::new();
        };
        devices
            .iter()
            .filter_map(|(name, d)| Some((name.clone(), number(d.get(key)?)?)))
            .collect()
    }

    /// One key of each experiment of the kept plan, by experiment name, where `read` can make
    /// sense of it.
    fn per_experiment<T>(
        &self,
        key: &str,
        read: impl Fn(&toml::Value) -> Option<T>,
    ) -> BTreeMap<String, T> {
        let plan = self.plan_table();
        let Some(experiments) = plan.get("experiments").and_then(|e| e.as_array()) else {
            return BTreeMap::new();
        };
        experiments
            .iter()
            .filter_map(|e| Some((e.get("name")?.as_str()?.to_owned(), read(e.get(key)?)?)))
            .collect()
    }

    /// The plan's per-experiment `diff_threshold`s.
    pub fn diff_thresholds(&self) -> BTreeMap<String, f64> {
        self.per_experiment("diff_threshold", number)
    }

    /// The plan's `compare_with` pairs: experiment → the experiment it is compared with.
    pub fn comparisons(&self) -> BTreeMap<String, String> {
        self.per_experiment("compare_with", |v| v.as_str().map(str::to_owned))
    }

    /// What each `command` experiment of the kept plan measures, for the report to place its
    /// cells: its `measures`, else the workload of the experiment it is paired with by
    /// `compare_with` (either way round). Experiments with neither are left out.
    pub fn measures(&self) -> BTreeMap<String, String> {
        let text = |v: &toml::Value| v.as_str().map(str::to_owned);
        let workloads = self.per_experiment("workload", text);
        let mut out = self.per_experiment("measures", text);
        for (a, b) in self.comparisons() {
            for (this, other) in [(&a, &b), (&b, &a)] {
                let is_command = workloads.get(this).is_some_and(|w| w == "command");
                let theirs = workloads.get(other).filter(|w| *w != "command");
                if let (true, Some(w), false) = (is_command, theirs, out.contains_key(this)) {
                    out.insert(this.clone(), w.clone());
                }
            }
        }
        out
    }
}

/// A TOML number, integer or float, as f64.
fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Every result set of `study` under `results_root` (`<root>/<study>/<machine>/<commit>/`), in
/// path order.
pub fn result_sets(results_root: &Path, study: &str) -> Result<Vec<ResultSet>> {
    let study_dir = results_root.join(study);
    let mut sets = Vec::new();
    for machine in sorted_dirs(&study_dir)? {
        for commit in sorted_dirs(&machine)? {
            if is_set_dir(&commit) {
                sets.push(ResultSet {
                    cells: commit.join(CELLS_FILE),
                });
            }
        }
    }
    Ok(sets)
}

/// The studies that have a folder under `results_root`.
pub fn studies(results_root: &Path) -> Result<Vec<String>> {
    Ok(sorted_dirs(results_root)?
        .into_iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// Every result set of `study` anywhere under `path`, sorted. `path` may be a results root (the
/// study's folder is looked up under it), a study or machine folder, a folder of several roots
/// (a job's shards), a set folder, or a cells file. An empty `study` looks under `path` itself.
pub fn find_sets(path: &Path, study: &str) -> Result<Vec<ResultSet>> {
    if path.is_file() {
        return Ok(vec![ResultSet {
            cells: path.to_owned(),
        }]);
    }
    if !path.exists() {
        return Ok(Vec::new());
    }
    let root = if !study.is_empty() && path.join(study).is_dir() {
        path.join(study)
    } else {
        path.to_owned()
    };
    let mut found = Vec::new();
    collect_sets(&root, 0, &mut found)?;
    found.sort();
    Ok(found)
}

fn collect_sets(dir: &Path, depth: usize, found: &mut Vec<ResultSet>) -> Result<()> {
    if is_set_dir(dir) {
        found.push(ResultSet {
            cells: dir.join(CELLS_FILE),
        });
        return Ok(());
    }
    // results/<study>/<machine>/<commit>: four levels below a root of several roots is plenty.
    if depth > 5 {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_sets(&p, depth + 1, found)?;
        }
    }
    Ok(())
}

/// Result sets with their rows, the one whose run started last first (ties in the given order).
fn newest_first(sets: &[ResultSet]) -> Result<Vec<(String, ResultSet, Vec<CellRecord>)>> {
    let mut dated = Vec::new();
    for set in sets {
        let records = set.read()?;
        let started = records
            .iter()
            .map(|r| r.meta.run_started_at.clone())
            .max()
            .unwrap_or_default();
        dated.push((started, set.clone(), records));
    }
    // A stable sort: of two sets started at once, the first listed stays first.
    dated.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(dated)
}

/// The newest of several result sets, with its rows: the one whose run started last.
pub fn newest(sets: &[ResultSet]) -> Result<Option<(ResultSet, Vec<CellRecord>)>> {
    Ok(newest_first(sets)?
        .into_iter()
        .next()
        .map(|(_, s, r)| (s, r)))
}

/// The newest set of `sets` (as [`newest`]), its rows completed by earlier sets: a cell the
/// newest run did not measure (a run filtered to the GPU cells, say) is taken from the newest
/// earlier set that has it, as long as the newest set's plan still has its experiment and the
/// row was measured with software the newest run used (its framework and version). The
/// rows keep their own commit, which reports show beside them. Rows come newest set first.
pub fn newest_filled(sets: &[ResultSet]) -> Result<Option<(ResultSet, Vec<CellRecord>)>> {
    let dated = newest_first(sets)?;
    let mut dated = dated.into_iter();
    let Some((_, set, mut rows)) = dated.next() else {
        return Ok(None);
    };
    let experiments = set.per_experiment("name", |v| v.as_str().map(str::to_owned));
    // Only rows of the software version the newest run of each framework used: a CPU row
    // measured with another candle beside the newest GPU row would make their ratio a
    // comparison of versions. A framework the newest set did not run (a run of the PyTorch
    // cells alone) takes its version from the newest earlier set that ran it.
    let mut versions: std::collections::BTreeMap<String, String> = rows
        .iter()
        .map(|r| (framework_name(r), r.framework_label()))
        .collect();
    let mut have: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r.cell_id.clone()).collect();
    for (_, _, earlier) in dated {
        for r in &earlier {
            versions
                .entry(framework_name(r))
                .or_insert_with(|| r.framework_label());
        }
        let mut added = Vec::new();
        for r in earlier {
            let planned = experiments.is_empty() || experiments.contains_key(&r.experiment);
            let same_software = versions.get(&framework_name(&r)) == Some(&r.framework_label());
            if planned && same_software && !have.contains(&r.cell_id) {
                added.push(r);
            }
        }
        have.extend(added.iter().map(|r| r.cell_id.clone()));
        rows.extend(added);
    }
    Ok(Some((set, rows)))
}

/// A row's framework without its version (`candle`, `PyTorch`).
fn framework_name(r: &CellRecord) -> String {
    let label = r.framework_label();
    label.split(' ').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::tests::record;
    use crate::results::store::{write_atomic, write_atomic_as, Encoding};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("benchplan-catalog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A run killed before its first consolidation leaves only `pending/`: every way of
    /// listing sets (the report's and diff's `result_sets`, merge's and the shards' `find_sets`,
    /// `--set`) sees that set, and reads its rows.
    #[test]
    fn a_set_with_only_pending_rows_is_a_set_for_every_lister() {
        let root = scratch("pending-only");
        let done = root.join("s/m/aaaaaaaaaaaa");
        write_atomic(&done.join(CELLS_FILE), &[record("a", &[], vec![1.0])]).unwrap();
        let killed = root.join("s/m/bbbbbbbbbbbb");
        write_atomic_as(
            &killed.join(PENDING_DIR).join("000001-b.parquet"),
            &[record("b", &[], vec![2.0])],
            Encoding::Fast,
        )
        .unwrap();
        // A folder with neither is not a set.
        std::fs::create_dir_all(root.join("s/m/cccccccccccc")).unwrap();

        let listed = result_sets(&root, "s").unwrap();
        let found = find_sets(&root, "s").unwrap();
        assert_eq!(listed, found);
        assert_eq!(
            listed
                .iter()
                .map(ResultSet::commit_label)
                .collect::<Vec<_>>(),
            ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
        );
        assert_eq!(find_sets(&root.join("s"), "").unwrap(), found);
        let at = ResultSet::at(&killed).unwrap();
        assert_eq!(at, listed[1]);
        assert_eq!(at.read().unwrap()[0].cell_id, "b");
        assert_eq!(at.machine(), "m");
        assert!(ResultSet::at(&root.join("s/m/cccccccccccc")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A run filtered to some cells (the GPU's) is completed by the newest earlier run that has
    /// the others, measured with the same software; rows of another candle are left out.
    #[test]
    fn the_newest_set_is_completed_from_earlier_runs_of_the_same_software() {
        let root = scratch("filled");
        let row = |id: &str, started: &str, candle: &str| {
            let mut r = record(id, &[], vec![1.0]);
            r.meta.run_started_at = started.into();
            r.meta.candle_version = candle.into();
            r.framework = Some("candle".into());
            r.framework_version = Some(candle.into());
            r
        };
        let mut torch = record("torch", &[], vec![1.0]);
        torch.meta.run_started_at = "2026-04-01".into();
        torch.framework = Some("PyTorch".into());
        torch.framework_version = Some("2.11.0".into());
        let sets = [
            (
                "s/m/aaaaaaaaaaaa",
                vec![
                    row("gpu", "2026-01-01", "0.11.1"),
                    row("cpu", "2026-01-01", "0.11.1"),
                    row("old", "2026-01-01", "0.11.1"),
                ],
            ),
            (
                "s/m/bbbbbbbbbbbb",
                vec![
                    row("cpu", "2026-02-01", "0.11.1"),
                    row("v9", "2026-02-01", "0.9.2"),
                ],
            ),
            ("s/m/cccccccccccc", vec![row("gpu", "2026-03-01", "0.11.1")]),
            // The newest run ran only a program's cells: candle's rows come from the runs
            // before, at the version of the newest of them.
            ("s/m/dddddddddddd", vec![torch]),
        ];
        for (dir, rows) in &sets {
            write_atomic(&root.join(dir).join(CELLS_FILE), rows).unwrap();
        }
        let (set, rows) = newest_filled(&result_sets(&root, "s").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(set.commit_label(), "dddddddddddd");
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.cell_id.as_str(), r.meta.run_started_at.as_str()))
            .collect();
        // The newest first; `cpu` from the newer of the two earlier runs; `v9` was measured
        // with another candle and is not taken.
        assert_eq!(
            got,
            [
                ("torch", "2026-04-01"),
                ("gpu", "2026-03-01"),
                ("cpu", "2026-02-01"),
                ("old", "2026-01-01")
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
