//! Splitting a plan's cells into N disjoint shards whose union is the whole matrix, so that
//! engines people already run (Slurm job arrays, Kubernetes indexed jobs, CI matrices) can each
//! run one part. benchplan schedules nothing itself.
//!
//! The split is a pure function of the cells and the durations it is given: every shard that
//! computes it from the same inputs gets the same answer, which is what makes the parts
//! disjoint without any coordination. No file is read here: durations come from earlier result
//! sets through [`Durations::from_results`] (the results' history); where a cell has none, it is estimated at the median of the
//! others; with none at all, every cell weighs the same and the split goes by cell id.

use std::fmt;
use std::str::FromStr;

use crate::plan::Cell;
use crate::results::history::Durations;

/// `K/N`: the K-th of N shards, K counting from 0 as Slurm's `SLURM_ARRAY_TASK_ID` (with
/// `--array=0-(N-1)`) and Kubernetes' `JOB_COMPLETION_INDEX` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<ShardSpec, String> {
        let usage = "write `K/N`: the K-th of N shards, K from 0 to N-1 (e.g. `0/4` … `3/4`)";
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a shard; {usage}"))?;
        let parse = |s: &str| s.trim().parse::<usize>().ok();
        let (Some(index), Some(count)) = (parse(k), parse(n)) else {
            return Err(format!("`{text}` is not a shard; {usage}"));
        };
        if count == 0 {
            return Err(format!(
                "`{text}`: there must be at least one shard; {usage}"
            ));
        }
        // Shards are allocated before cells are dealt to them: more shards than a plan may
        // have cells is a typo, not a request.
        let most = crate::plan::validate::MAX_CELLS as usize;
        if count > most {
            return Err(format!("`{text}`: at most {most} shards; {usage}"));
        }
        if index >= count {
            return Err(format!(
                "`{text}`: shards count from 0, so K must be below {count} (0 to {}); {usage}",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A split of cells into shards.
#[derive(Debug, Clone)]
pub struct Partition {
    /// For each shard, the indices of its cells in the order they were given.
    pub shards: Vec<Vec<usize>>,
    /// Estimated seconds of each shard.
    pub estimated_s: Vec<f64>,
    /// How many cells had a duration from earlier results.
    pub known: usize,
    /// What the estimate of a cell without a duration was (the median of the known ones).
    pub fallback_s: Option<f64>,
}

impl Partition {
    /// Splits `cells` into `count` parts of nearly equal estimated time: longest cell first,
    /// each to the part with the least time so far (ties: the lower part, then the lower cell
    /// id), which is within 4/3 of the best possible split. Without durations every cell weighs
    /// the same, and the cells, in id order, are dealt out in turn.
    pub fn of(cells: &[Cell], count: usize, durations: &Durations) -> Partition {
        let count = count.max(1);
        let known: Vec<f64> = cells
            .iter()
            .filter_map(|c| durations.seconds.get(&c.id).copied())
            .collect();
        let fallback_s = crate::stats::median(&known);
        let weight = |c: &Cell| {
            durations
                .seconds
                .get(&c.id)
                .copied()
                .or(fallback_s)
                .unwrap_or(1.0)
        };
        let mut order: Vec<usize> = (0..cells.len()).collect();
        order.sort_by(|&a, &b| {
            weight(&cells[b])
                .total_cmp(&weight(&cells[a]))
                .then_with(|| cells[a].id.cmp(&cells[b].id))
                .then(a.cmp(&b))
        });
        let mut shards = vec![Vec::new(); count];
        let mut estimated_s = vec![0.0_f64; count];
        for i in order {
            let lightest = (0..count)
                .min_by(|&a, &b| estimated_s[a].total_cmp(&estimated_s[b]).then(a.cmp(&b)))
                .unwrap_or(0);
            shards[lightest].push(i);
            estimated_s[lightest] += weight(&cells[i]);
        }
        for s in &mut shards {
            s.sort_unstable();
        }
        Partition {
            shards,
            estimated_s,
            known: known.len(),
            fallback_s,
        }
    }

    /// The cells of one shard, in plan order.
    pub fn cells_of(&self, cells: &[Cell], shard: ShardSpec) -> Vec<Cell> {
        self.shards
            .get(shard.index)
            .map(|ix| ix.iter().map(|&i| cells[i].clone()).collect())
            .unwrap_or_default()
    }

    /// One line on how the split was made.
    pub fn basis(&self, total: usize, durations: &Durations) -> String {
        if self.known == 0 {
            return "by cell id (no earlier results of these cells)".to_owned();
        }
        let sets = durations.sources.len();
        let mut text = format!(
            "by earlier durations of {} of {total} cells, measured on `{}` ({sets} result set(s) read)",
            self.known, durations.machine
        );
        if let (Some(f), true) = (self.fallback_s, self.known < total) {
            text.push_str(&format!(
                "; the others estimated at their median, {}",
                crate::format::elapsed(f)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use std::path::Path;

    fn cells(n: usize) -> Vec<Cell> {
        let sizes: Vec<String> = (1..=n).map(|i| (i * 8).to_string()).collect();
        let text = format!(
            "version = 1\nname = \"s\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [{}]\ndtype = [\"f32\"]\ndevice = [\"cpu\"]\n",
            sizes.join(", ")
        );
        let plan = Plan::from_bytes(Path::new("s.toml"), text.as_bytes()).unwrap();
        plan.cells().cloned().collect()
    }

    #[test]
    fn parses_and_refuses_shard_specs() {
        assert_eq!(
            "2/4".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 2, count: 4 })
        );
        for bad in ["4/4", "1", "a/4", "0/0", "-1/3", ""] {
            let e = bad.parse::<ShardSpec>().unwrap_err();
            assert!(e.contains("K/N") || e.contains("K must"), "{bad}: {e}");
        }
        assert!("4/4".parse::<ShardSpec>().unwrap_err().contains("0 to 3"));
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_cell() {
        let cells = cells(23);
        for count in [1, 2, 3, 4, 7, 23, 30] {
            let p = Partition::of(&cells, count, &Durations::default());
            let mut all: Vec<usize> = p.shards.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..23).collect::<Vec<_>>(), "{count} shards");
            // Equal weights: sizes differ by at most one.
            let sizes: Vec<usize> = p.shards.iter().map(Vec::len).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{count} shards: {sizes:?}");
        }
    }

    #[test]
    fn durations_balance_the_shards() {
        let cells = cells(10);
        // One long cell and nine short ones: the long one gets a shard to itself.
        let mut d = Durations::default();
        for (i, c) in cells.iter().enumerate() {
            d.seconds
                .insert(c.id.clone(), if i == 3 { 90.0 } else { 10.0 });
        }
        let p = Partition::of(&cells, 2, &d);
        let long = p.shards.iter().find(|s| s.contains(&3)).unwrap();
        assert_eq!(long, &vec![3]);
        assert_eq!(p.estimated_s, vec![90.0, 90.0]);
        assert_eq!(p.known, 10);
    }

    #[test]
    fn cells_without_a_duration_count_at_the_median() {
        let cells = cells(4);
        let mut d = Durations::default();
        d.seconds.insert(cells[0].id.clone(), 1.0);
        d.seconds.insert(cells[1].id.clone(), 3.0);
        let p = Partition::of(&cells, 2, &d);
        assert_eq!(p.fallback_s, Some(2.0));
        let total: f64 = p.estimated_s.iter().sum();
        assert!((total - 8.0).abs() < 1e-9);
        assert!(p.basis(4, &d).contains("2 of 4 cells"));
    }

    #[test]
    fn the_split_is_the_same_whatever_order_the_cells_come_in() {
        let cells = cells(12);
        let mut reversed = cells.clone();
        reversed.reverse();
        let ids = |cs: &[Cell], p: &Partition| -> Vec<Vec<String>> {
            p.shards
                .iter()
                .map(|s| {
                    let mut v: Vec<String> = s.iter().map(|&i| cs[i].id.clone()).collect();
                    v.sort();
                    v
                })
                .collect()
        };
        let a = Partition::of(&cells, 3, &Durations::default());
        let b = Partition::of(&reversed, 3, &Durations::default());
        assert_eq!(ids(&cells, &a), ids(&reversed, &b));
    }
}
