//! Which cells of a plan this process runs: `--filter`, then `--shard` (split over what the
//! filters kept, so every shard splits the same list), then `--devices available` (each
//! machine drops what its hardware cannot serve, after the split, so the split does not
//! depend on the machine).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::shard::{Durations, Partition, ShardSpec};
use crate::plan::filter::Filter;
use crate::plan::{Cell, Plan};

/// The selection flags `run` and `list` share.
#[derive(Args, Debug, Clone, Default)]
pub struct SelectArgs {
    /// Only cells whose parameter KEY equals VALUE (repeatable; one key repeated = any of its values)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Only the K-th of N disjoint parts of the cells (K from 0), balanced by earlier durations
    #[arg(long, value_name = "K/N")]
    pub shard: Option<ShardSpec>,
    /// Where `--shard` finds earlier durations: a results folder or a result set; `none` splits by
    /// cell id (default: the `--results` folder, leaving out this commit's sets)
    #[arg(long, value_name = "PATH")]
    pub balance_from: Option<PathBuf>,
    /// Balance `--shard` by this machine's earlier durations (its label from `benchplan devices`
    /// or a result folder, or a part of it naming one machine), e.g. the cluster's nodes
    /// (default: the machine whose results know the most cells)
    #[arg(long, value_name = "MACHINE")]
    pub balance_machine: Option<String>,
    /// `all` cells, or only those on devices `available` on this machine (the others are left
    /// out, not recorded): for studies that span machines with different hardware
    #[arg(long, value_name = "WHICH", default_value = "all", value_parser = ["all", "available"])]
    pub devices: String,
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
pub fn select(plan: &Plan, args: &SelectArgs, results: &Path, commit: &str) -> Result<Selected> {
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
    if args.devices == "available" {
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
