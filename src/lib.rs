//! benchplan: performance studies of ML workloads declared in TOML plans.
//!
//! The pipeline, module by module: [`plan`] (TOML → checked plan → cells), [`workload`] (what a
//! cell runs, on a candle [`device`]), [`runner`] (warm-up, timing, events), [`stats`] (summaries
//! of raw samples), [`results`] (Parquet result sets and their metadata). [`cli`] ties them to
//! the command line.

pub mod ab;
pub mod claims;
pub mod cli;
pub mod console;
pub mod contain;
pub mod data;
pub mod device;
pub mod diagnostic;
pub mod diff;
pub mod energy;
pub mod exit;
pub mod format;
pub mod hash;
pub mod limits;
pub mod memory;
pub mod plan;
pub mod report;
pub mod results;
pub mod rng;
pub mod runner;
pub mod scale;
pub mod stats;
pub mod verbosity;
pub mod workload;

/// Every binary built on this library counts its host allocations (see [`memory`]).
#[global_allocator]
static ALLOCATOR: memory::CountingAlloc = memory::CountingAlloc;
