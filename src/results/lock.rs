//! One writer per result set: a run holds an exclusive `flock` on `<set>/.lock` while it
//! writes, so a second `run` of the same study, machine and commit is refused with the owner's
//! pid, host and start time instead of interleaving rows with the first.
//!
//! The lock belongs to the open file, so the kernel drops it when the process ends in any way,
//! `kill -9` included: there are no stale locks to clean up. The file's text only describes
//! the holder for the refusal message.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Name of the lock file inside a result set's folder.
pub const LOCK_FILE: &str = ".lock";

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the lock of the set in `dir` (created if missing), or explains who holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the results folder `{}`", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock `{}`", path.display()))?;
        if !try_lock(&file) {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            bail!(
                "another run is writing this result set ({}); wait for it to finish, or give this run another `--results` folder (lock: `{}`)",
                if owner.is_empty() { "owner unknown" } else { owner },
                path.display()
            );
        }
        let host = crate::results::metadata::hostname();
        let started = crate::results::metadata::rfc3339(std::time::SystemTime::now());
        file.set_len(0)?;
        file.rewind()?;
        write!(
            file,
            "pid {} on `{host}`, started {started}",
            std::process::id()
        )?;
        file.flush()?;
        Ok(RunLock { _file: file, path })
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> bool {
    // No advisory locks here: runs are not guarded against each other.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_owner_and_the_lock_frees_on_drop() {
        let dir = std::env::temp_dir().join(format!("benchplan-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = RunLock::acquire(&dir).unwrap();
        let err = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(
            err.contains("another run is writing this result set"),
            "{err}"
        );
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains(".lock"), "{err}");
        drop(first);
        RunLock::acquire(&dir).expect("free again once the holder is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
