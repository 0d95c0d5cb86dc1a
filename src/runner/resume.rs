//! Resume: which of the selected cells a run measures, given what this commit's result set on
//! this machine already holds. A plain run measures only what the set lacks as `ok`;
//! `--retry-failed` only what failed; `--force`, or a dirty tree (not a commit's code, so its
//! set is measured afresh every time), everything.

use crate::plan::Cell;
use crate::results::Status;

/// How a run treats rows the set already has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Re-measure cells already `ok` (`--force`, or a dirty working tree).
    pub remeasure_ok: bool,
    /// Measure only cells whose row is `failed` (`--retry-failed`).
    pub retry_failed_only: bool,
}

/// The cells to measure, and a line on those left out (`None` when none were). `status_of`
/// gives the status of a cell's finished row in the set (`None`: no finished row).
pub fn cells_to_run(
    cells: Vec<Cell>,
    resume: Resume,
    status_of: impl Fn(&Cell) -> Option<Status>,
) -> (Vec<Cell>, Option<String>) {
    let before = cells.len();
    let cells: Vec<Cell> = cells
        .into_iter()
        .filter(|c| match (resume.retry_failed_only, status_of(c)) {
            (true, status) => status == Some(Status::Failed),
            (false, Some(Status::Ok)) => resume.remeasure_ok,
            (false, _) => true,
        })
        .collect();
    let kept = before - cells.len();
    let note = (kept > 0).then(|| {
        let what = if resume.retry_failed_only {
            "did not fail before"
        } else {
            "are already measured at this commit on this machine"
        };
        format!("{kept} cell(s) {what}; their rows are kept (`--force` re-measures them)")
    });
    (cells, note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use std::path::Path;

    fn cells() -> Vec<Cell> {
        let text = "version = 1\nname = \"s\"\n[[experiments]]\nname = \"mm\"\nworkload = \"matmul\"\n[experiments.matrix]\nn = [8, 16, 32]\ndtype = [\"f32\"]\ndevice = [\"cpu\"]\n";
        Plan::from_bytes(Path::new("s.toml"), text.as_bytes())
            .unwrap()
            .cells()
            .cloned()
            .collect()
    }

    #[test]
    fn a_plain_run_skips_ok_rows_and_retry_takes_only_failed_ones() {
        let all = cells();
        let (ok, failed) = (all[0].id.clone(), all[1].id.clone());
        let status = |c: &Cell| {
            let id = c.id.as_str();
            if id == ok {
                Some(Status::Ok)
            } else if id == failed {
                Some(Status::Failed)
            } else {
                None
            }
        };
        let (plain, note) = cells_to_run(all.clone(), Resume::default(), status);
        assert_eq!(plain.len(), 2);
        assert!(note.unwrap().contains("1 cell(s) are already measured"));
        let forced = Resume {
            remeasure_ok: true,
            ..Resume::default()
        };
        assert_eq!(cells_to_run(all.clone(), forced, status).0.len(), 3);
        let retry = Resume {
            retry_failed_only: true,
            ..Resume::default()
        };
        let (only, note) = cells_to_run(all, retry, status);
        assert_eq!(only.iter().map(|c| &c.id).collect::<Vec<_>>(), [&failed]);
        assert!(note.unwrap().contains("did not fail before"));
    }
}
