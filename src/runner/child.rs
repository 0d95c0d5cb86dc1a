//! Child processes that must not outlive the run: a `command` cell's program and an isolated
//! cell run in process groups of their own (so that a timeout can kill everything they
//! started), which also keeps the terminal's Ctrl-C from reaching them. On Linux they are
//! told to receive SIGKILL when benchplan dies, so an interrupted run leaves no orphan behind.

use std::process::Command;

/// Arranges for the child of `command` to be killed when this process dies (Linux).
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
