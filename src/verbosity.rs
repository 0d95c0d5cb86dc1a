//! How much benchplan says on stderr: `--quiet` (errors, failed cells and the final summary
//! only), normal, or `--verbose` (each cell's measurement settings and wall time too). Data
//! (lists, tables, JSON, reports to `-`) always goes to stdout, whatever the level.

use std::sync::atomic::{AtomicU8, Ordering};

const QUIET: u8 = 0;
const NORMAL: u8 = 1;
const VERBOSE: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(NORMAL);

/// Sets the level from the command line's flags (`--quiet` wins over `--verbose`).
pub fn set(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => QUIET,
        (false, true) => VERBOSE,
        _ => NORMAL,
    };
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == QUIET
}

pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) == VERBOSE
}

/// Prints a line of progress or information to stderr, unless `--quiet`.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::verbosity::quiet() {
            $crate::errln!($($arg)*);
        }
    };
}
