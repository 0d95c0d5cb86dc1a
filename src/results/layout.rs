//! Where result sets live. One result set per study, machine and commit, as asv keeps one per
//! commit and machine:
//!
//! ```text
//! results/<study>/<machine>/<commit>/cells.parquet   one row per cell
//! results/<study>/<machine>/<commit>/plan.toml       the plan that made them
//! ```
//!
//! `<commit>` is the first 12 hex digits of the commit, with `-dirty` when tracked files had
//! changed, or `nogit` outside a repository. Re-running a plan (or part of it, with
//! `--filter`) at the same commit on the same machine updates that set cell by cell.

use std::path::{Path, PathBuf};

use super::metadata::RunMetadata;

pub const CELLS_FILE: &str = "cells.parquet";
pub const PLAN_COPY: &str = "plan.toml";

/// The folder of one result set.
pub fn result_set_dir(results_root: &Path, study: &str, meta: &RunMetadata) -> PathBuf {
    results_root
        .join(study)
        .join(&meta.machine)
        .join(meta.commit_label())
}

/// The cells file of one result set.
pub fn cells_path(results_root: &Path, study: &str, meta: &RunMetadata) -> PathBuf {
    result_set_dir(results_root, study, meta).join(CELLS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::tests::meta;

    #[test]
    fn layout_is_study_machine_commit() {
        let mut m = meta();
        assert_eq!(
            cells_path(Path::new("results"), "quickstart", &m),
            Path::new("results/quickstart/linux-x86_64-test-2c/0123456789ab/cells.parquet")
        );
        m.git_dirty = true;
        assert!(result_set_dir(Path::new("r"), "s", &m).ends_with("0123456789ab-dirty"));
        m.git_commit = "unknown".into();
        assert!(result_set_dir(Path::new("r"), "s", &m).ends_with("nogit"));
    }
}
