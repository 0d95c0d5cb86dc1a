//! Writing to the terminal without panicking. `print!` panics when standard output cannot be
//! written (a full disk, `>/dev/full`) and `eprint!` likewise for standard error: exit 101 for
//! what is the user's environment, not a bug. Here a failed write to standard output is an
//! error the command returns (exit 2, the file named), and a failed write to standard error
//! is remembered, so that the command still finishes (a run keeps measuring and saving) and
//! then exits 2 ([`stderr_failed`]). A closed pipe still ends the process quietly (`main`
//! restores SIGPIPE's default), as Unix tools do.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

/// Writes `text` to standard error; a failure is remembered, not raised.
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    if stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush())
        .is_err()
    {
        STDERR_FAILED.store(true, Ordering::Relaxed);
    }
}

/// Whether a write to standard error failed in this process.
pub fn stderr_failed() -> bool {
    STDERR_FAILED.load(Ordering::Relaxed)
}

/// `print!` that returns an error instead of panicking: `out!("{x}")?`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::out(&format!($($arg)*)) };
}

/// `println!` that returns an error instead of panicking: `outln!("{x}")?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics (see [`err`]).
#[macro_export]
macro_rules! errout {
    ($($arg:tt)*) => { $crate::console::err(&format!($($arg)*)) };
}

/// `eprintln!` that never panics (see [`err`]).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(&format!("{}\n", format_args!($($arg)*))) };
}
