//! Child processes that must not outlive the run: a `command` cell's program and an isolated
//! cell run in process groups of their own (so that a timeout can kill everything they
//! started), which also keeps the terminal's Ctrl-C from reaching them. On Linux they are
//! told to receive SIGKILL when benchplan dies, so an interrupted run leaves no orphan behind.

use std::process::{Child, Command};

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

/// Sends `signal` to the child's process group, which takes anything it started (data-loader
/// workers, say) with it.
pub fn signal_group(child: &Child, signal: i32) {
    #[cfg(unix)]
    // SAFETY: kill(2) on the process group of our own child; no memory is involved.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), signal);
    }
    #[cfg(not(unix))]
    let _ = (child, signal);
}

/// Whether a process with this id exists (on other systems than Unix: assumed so, which keeps
/// whatever belongs to it).
pub fn process_exists(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        alive || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// A signal by number and by what it usually means.
fn signal_name(signal: i32) -> String {
    #[cfg(unix)]
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV, a segmentation fault",
        libc::SIGABRT => "SIGABRT, an abort",
        libc::SIGKILL => "SIGKILL, killed (out of memory?)",
        libc::SIGBUS => "SIGBUS, a bus error",
        libc::SIGFPE => "SIGFPE, an arithmetic fault",
        libc::SIGILL => "SIGILL, an illegal instruction",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    #[cfg(not(unix))]
    let name = "";
    format!("signal {signal} ({name})")
}

/// How a child that did not succeed ended: `"{who} was killed by signal 11 (SIGSEGV, …)"` or
/// `"{who} exited with status 3"`.
pub fn how_it_ended(who: &str, signal: Option<i32>, code: Option<i32>) -> String {
    match signal {
        Some(signal) => format!("{who} was killed by {}", signal_name(signal)),
        None => format!(
            "{who} exited with status {}",
            code.map_or("unknown".to_owned(), |c| c.to_string())
        ),
    }
}
