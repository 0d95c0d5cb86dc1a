//! Which cells of a plan this process runs: `--filter`, then `--shard` (split over what the
//! filters kept, so every shard splits the same list), then `--devices available` (each
//! machine drops what its hardware cannot serve, after the split, so the split does not
//! depend on the machine).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::shard::{Partition, ShardSpec};
use crate::plan::filter::Filter;
use crate::plan::{Cell, Plan};
use crate::results::history::Durations;

/// Which cells `run` and `list` take from a plan (their `--filter`, `--shard`, `--balance-*`
/// and `--devices` flags).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `KEY=VALUE` filters (one key repeated = any of its values).
    pub filters: Vec<String>,
    /// Only the K-th of N disjoint parts of the cells.
    pub shard: Option<ShardSpec>,
    /// Where `shard` finds earlier durations (`none`: split by cell id); default: the results.
    pub balance_from: Option<PathBuf>,
    /// Balance by this machine's earlier durations (a label, or a part naming one machine).
    pub balance_machine: Option<String>,
    pub devices: DeviceChoice,
}

/// `--devices`: every cell, or only those on devices this machine has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    All,
    /// Leave out (do not record) the cells of devices this machine or build lacks.
    Available,
}

/// The cells chosen, and what the choice said about itself.
pub struct Selected {
    pub cells: Vec<Cell>,
    /// Lines for the log (stderr): how the shard was made, what `--devices` left out.
    pub notes: Vec<String>,
}

/// Durations for `--shard`: from `balance_from`, or `results`, leaving out `commit` (whose sets
/// the other shards may be writing).
pub fn durations(
    study: &str,
    balance_from: Option<&Path>,
    machine: Option<&str>,
    results: &Path,
    commit: &str,
) -> Result<Durations> {
    match balance_from {
        Some(p) if p == Path::new("none") => Ok(Durations::default()),
        // A folder not there yet is a study's first run: nothing to balance by, and the split
        // (by cell id, as the shard's log line says) is still disjoint.
        Some(p) => Durations::from_results(p, study, commit, machine),
        None => Durations::from_results(results, study, commit, machine),
    }
}

/// The start of the folder names of this commit's result sets (`0123456789ab`, with or without
/// `-dirty`; `nogit`): the sets `--shard` leaves out of its durations.
pub fn this_commit(meta: &crate::results::RunMetadata) -> String {
    meta.commit_label().trim_end_matches("-dirty").to_owned()
}

/// Applies the selection flags to `plan`'s cells.
pub fn select(plan: &Plan, args: &Selection, results: &Path, commit: &str) -> Result<Selected> {
    let mut notes = Vec::new();
    let mut cells = Filter::parse(&args.filters)?.apply(plan.cells().cloned().collect())?;
    if let Some(shard) = args.shard {
        let durations = durations(
            &plan.name,
            args.balance_from.as_deref(),
            args.balance_machine.as_deref(),
            results,
            commit,
        )?;
        let partition = Partition::of(&cells, shard.count, &durations);
        let total = cells.len();
        cells = partition.cells_of(&cells, shard);
        let estimate = if partition.known > 0 {
            format!(
                ", estimated {}",
                crate::format::elapsed(partition.estimated_s[shard.index])
            )
        } else {
            String::new()
        };
        notes.push(format!(
            "shard {shard}: {} of {total} cell(s){estimate}; split {}",
            cells.len(),
            partition.basis(total, &durations)
        ));
    }
    if args.devices == DeviceChoice::Available {
        let before = cells.len();
        // Opening a device can take a while (a CUDA context): once per device named.
        let mut known: std::collections::HashMap<String, bool> = Default::default();
        cells.retain(|c| {
            let device = c.get("device").map(ToString::to_string).unwrap_or_default();
            *known
                .entry(device.clone())
                .or_insert_with(|| crate::device::why_unavailable(&device).is_none())
        });
        if cells.len() < before {
            notes.push(format!(
                "--devices available: {} cell(s) left out: their devices are not on this machine (`benchplan devices` lists what is)",
                before - cells.len()
            ));
        }
    }
    Ok(Selected { cells, notes })
}
