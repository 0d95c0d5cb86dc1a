//! The trees an A/B run measures: a git revision checked out into a temporary worktree (removed
//! again when dropped), or the working tree as it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One side's tree: where its files are, and the commit they are.
#[derive(Debug)]
pub struct Tree {
    /// The root of the tree (a worktree, or the repository's own working tree).
    pub root: PathBuf,
    /// The full commit hash.
    pub commit: String,
    /// Tracked files differ from the commit (only the working tree can be).
    pub dirty: bool,
    /// The revision as the user wrote it (`HEAD~1`, `main`), or `working tree`.
    pub label: String,
    /// The repository whose worktree this is, to remove it on drop; `None` for the working tree.
    owner: Option<PathBuf>,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("cannot run git: an A/B run checks its revisions out with git worktrees")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed in `{}`: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The root of the repository holding `path` (a file or folder).
pub fn repository_of(path: &Path) -> Result<PathBuf> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    git(dir, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .with_context(|| {
            format!(
                "`{}` is not in a git repository: an A/B run compares two revisions of one",
                path.display()
            )
        })
}

impl Tree {
    /// The repository's working tree as it is, uncommitted changes included.
    pub fn working(repo: &Path) -> Result<Tree> {
        let commit = git(repo, &["rev-parse", "HEAD"])?;
        let status = git(repo, &["status", "--porcelain", "--untracked-files=no"])?;
        Ok(Tree {
            root: repo.to_owned(),
            commit,
            dirty: !status.is_empty(),
            label: "working tree".to_owned(),
            owner: None,
        })
    }

    /// `revision` of `repo` checked out (detached) into `into`, which must not exist.
    pub fn checkout(repo: &Path, revision: &str, into: &Path) -> Result<Tree> {
        let commit = git(
            repo,
            &["rev-parse", "--verify", &format!("{revision}^{{commit}}")],
        )
        .with_context(|| format!("`{revision}` names no commit of `{}`", repo.display()))?;
        // Worktrees whose folder is gone (an A/B run that was killed) are forgotten first.
        let _ = git(repo, &["worktree", "prune"]);
        let target = into.to_string_lossy().into_owned();
        git(
            repo,
            &["worktree", "add", "--detach", "--force", &target, &commit],
        )?;
        Ok(Tree {
            root: into.to_owned(),
            commit,
            dirty: false,
            label: revision.to_owned(),
            owner: Some(repo.to_owned()),
        })
    }

    /// The commit as the results layout names it: 12 hex digits, `-dirty` when the tree was.
    pub fn commit_label(&self) -> String {
        let short: String = self.commit.chars().take(12).collect();
        if self.dirty {
            format!("{short}-dirty")
        } else {
            short
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(repo) = &self.owner {
            let root = self.root.to_string_lossy().into_owned();
            let _ = git(repo, &["worktree", "remove", "--force", &root]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_revision_is_checked_out_apart_and_removed_after() {
        let tmp =
            std::env::temp_dir().join(format!("benchplan-worktree-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let repo = tmp.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q"]);
        std::fs::write(repo.join("f.txt"), "one").unwrap();
        sh(&repo, &["add", "f.txt"]);
        sh(&repo, &["commit", "-q", "-m", "one"]);
        std::fs::write(repo.join("f.txt"), "two").unwrap();
        sh(&repo, &["commit", "-q", "-am", "two"]);
        std::fs::write(repo.join("f.txt"), "three").unwrap();

        let working = Tree::working(&repo).unwrap();
        assert!(working.dirty);
        assert!(working.commit_label().ends_with("-dirty"));
        let wt = tmp.join("old");
        {
            let old = Tree::checkout(&repo, "HEAD~1", &wt).unwrap();
            assert_eq!(std::fs::read_to_string(wt.join("f.txt")).unwrap(), "one");
            assert!(!old.dirty);
            assert_ne!(old.commit, working.commit);
        }
        assert!(!wt.exists(), "the worktree is removed when dropped");
        let err = Tree::checkout(&repo, "no-such-rev", &wt).unwrap_err();
        assert!(
            format!("{err:#}").contains("`no-such-rev` names no commit"),
            "{err:#}"
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
