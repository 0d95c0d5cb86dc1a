//! The integration tests, as one test binary: each file under `tests/` is a module of it. Every
//! `tests/*.rs` used to be a binary of its own, each linking the library with candle and polars
//! again; one binary links once.

mod common;

mod ab;
mod architecture;
mod authoring;
mod bad_plans;
mod book;
mod command;
mod corrupt_sets;
mod crash;
mod diff_cli;
mod isolation;
mod models;
mod noise_replay;
mod optimizations;
mod report;
mod run_cli;
mod scale;
mod shipped_plans;
