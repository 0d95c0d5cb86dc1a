//! The report's sections, one file each: the rows a section's table shows and how they are
//! built from the result set's `ok` cells. [`view`](super::view) assembles them into a
//! [`Report`](super::Report).

pub mod dataload;
pub mod energy;
pub mod matmul;
pub mod memory;
pub mod models;
pub mod optimizations;
pub mod other;
pub mod pipeline;
pub mod recommendations;
