//! The history of earlier runs, per machine, as the stored result sets tell it: how long each
//! cell took (for balancing shards and warning about long cells). Read through the
//! [`catalog`](super::catalog); nothing here writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::catalog::find_sets;
use super::Status;

/// Wall time per cell id (whole cell: set-up, warm-up, measurement), seconds, from earlier runs.
#[derive(Debug, Clone, Default)]
pub struct Durations {
    pub seconds: BTreeMap<String, f64>,
    /// The result sets they were read from.
    pub sources: Vec<PathBuf>,
    /// The machine whose rows they are (empty when none).
    pub machine: String,
}

impl Durations {
    /// Reads cell durations from the result sets of `study` under `path` (a results root, a
    /// study folder, a result-set folder or a `cells.parquet` file), leaving out the sets of
    /// `exclude_commit` (a short commit label's first 12 hex digits): those may be written
    /// by other shards while this one decides, and every shard must decide alike. The times
    /// are one machine's: `machine` (its label, or a part of it that names one machine only),
    /// else the one `most_known_machine` picks; where its sets disagree, the newest row wins.
    pub fn from_results(
        path: &Path,
        study: &str,
        exclude_commit: &str,
        machine: Option<&str>,
    ) -> Result<Durations> {
        let mut sets = find_sets(path, study)?;
        sets.retain(|set| {
            exclude_commit.is_empty() || !set.commit_label().starts_with(exclude_commit)
        });
        // machine → cell id → (start of the newest row, its wall time)
        let mut by_machine: BTreeMap<String, MachineTimes> = BTreeMap::new();
        for set in &sets {
            let records = set
                .read()
                .with_context(|| format!("reading durations from `{}`", set.cells.display()))?;
            for r in records
                .iter()
                // A skipped cell did not run: its few microseconds say nothing of its length.
                .filter(|r| r.study == study && r.cell_wall_s > 0.0 && r.status != Status::Skipped)
            {
                let started = r.meta.run_started_at.clone();
                let newest = by_machine.entry(r.meta.machine.clone()).or_default();
                match newest.get(&r.cell_id) {
                    Some((when, _)) if *when >= started => {}
                    _ => {
                        newest.insert(r.cell_id.clone(), (started, r.cell_wall_s));
                    }
                }
            }
        }
        let (machine, newest) = match machine {
            Some(wanted) => named_machine(by_machine, wanted, path)?,
            None => most_known_machine(by_machine),
        };
        Ok(Durations {
            seconds: newest.into_iter().map(|(id, (_, s))| (id, s)).collect(),
            sources: sets.into_iter().map(|s| s.cells).collect(),
            machine,
        })
    }
}

/// Newest (start, seconds) per cell id, of one machine.
type MachineTimes = BTreeMap<String, (String, f64)>;

/// One machine's times, never a mix (a GPU box's and a laptop's differ by orders of magnitude):
/// the machine that knows the most cells, then the one that ran last, then by name. The rule
/// reads only the files, so every shard picks the same machine.
fn most_known_machine(by_machine: BTreeMap<String, MachineTimes>) -> (String, MachineTimes) {
    let last = |m: &MachineTimes| m.values().map(|(w, _)| w.clone()).max().unwrap_or_default();
    by_machine
        .into_iter()
        .max_by(|(a_name, a), (b_name, b)| {
            a.len()
                .cmp(&b.len())
                .then_with(|| last(a).cmp(&last(b)))
                .then_with(|| b_name.cmp(a_name))
        })
        .unwrap_or_default()
}

/// The times of the machine `wanted` names: its whole label, or a part of it that no other
/// machine's label has (`h100`, `m4-max`). With no history at all there is nothing to choose
/// and the split goes by cell id; a name that matches none or several of the machines found is
/// an error, since the user asked for one on purpose.
fn named_machine(
    mut by_machine: BTreeMap<String, MachineTimes>,
    wanted: &str,
    path: &Path,
) -> Result<(String, MachineTimes)> {
    if by_machine.is_empty() {
        return Ok(Default::default());
    }
    let found = if by_machine.contains_key(wanted) {
        vec![wanted.to_owned()]
    } else {
        by_machine
            .keys()
            .filter(|m| m.contains(wanted))
            .cloned()
            .collect::<Vec<_>>()
    };
    match found.as_slice() {
        [one] => Ok(by_machine.remove_entry(one).unwrap_or_default()),
        [] => anyhow::bail!(
            "--balance-machine `{wanted}`: no earlier results of that machine under `{}`; machines found there: {}",
            path.display(),
            by_machine.keys().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        ),
        several => anyhow::bail!(
            "--balance-machine `{wanted}` names {} machines under `{}`: {}; give more of the label",
            several.len(),
            path.display(),
            several.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}
