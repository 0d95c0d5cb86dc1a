//! `noop`: an iteration that does nothing. Its samples are what timing itself costs (two clock
//! reads, a device synchronization, storing the sample): the floor under every other cell,
//! like hyperfine's measurement of the shell it spawns.

use anyhow::Result;

use super::{Bench, BenchInfo, Prepared};

struct Noop;

impl Bench for Noop {
    fn iterate(&mut self) -> candle_core::Result<()> {
        // Nothing: the optimizer may remove this call, which is the point: what is left is
        // the runner's own cost.
        Ok(())
    }
}

pub fn prepare() -> Result<Prepared> {
    Ok(Prepared {
        bench: Box::new(Noop),
        info: BenchInfo::default(),
    })
}
