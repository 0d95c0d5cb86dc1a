//! `noop`: an iteration that does nothing. Its samples are what timing itself costs (two clock
//! reads, a device synchronization, storing the sample): the floor under every other cell,
//! like hyperfine's measurement of the shell it spawns.
//!
//! Its `fault` parameter makes the iteration fail on purpose — a panic, an abort, a segfault,
//! a hang — so that a setup's isolation (a child process per cell, `run`'s default) can be checked before a long study
//! depends on it. The tests use it too.

use anyhow::Result;

use super::{Bench, BenchInfo, Prepared};
use crate::plan::Cell;

#[derive(Clone, Copy)]
enum Fault {
    None,
    Panic,
    Abort,
    Segfault,
    Hang,
}

struct Noop(Fault);

impl Bench for Noop {
    fn iterate(&mut self) -> candle_core::Result<()> {
        match self.0 {
            // Nothing: what is left is the runner's own cost.
            Fault::None => {}
            Fault::Panic => panic!("injected panic (noop fault = \"panic\")"),
            Fault::Abort => std::process::abort(),
            Fault::Segfault => {
                #[cfg(unix)]
                // SAFETY: raising a signal at ourselves; the default action ends the process,
                // which is the point.
                unsafe {
                    libc::raise(libc::SIGSEGV);
                }
                #[cfg(not(unix))]
                std::process::abort();
            }
            // Never returns, like a kernel that deadlocks: only a child process can be stopped.
            Fault::Hang => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
        }
        Ok(())
    }
}

pub fn prepare(cell: &Cell) -> Result<Prepared> {
    let fault = match cell.get("fault").and_then(|v| v.as_str()).unwrap_or("none") {
        "panic" => Fault::Panic,
        "abort" => Fault::Abort,
        "segfault" => Fault::Segfault,
        "hang" => Fault::Hang,
        _ => Fault::None,
    };
    Ok(Prepared {
        bench: Box::new(Noop(fault)),
        info: BenchInfo::default(),
    })
}
