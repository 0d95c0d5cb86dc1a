//! Statistics over raw samples: per-cell summaries now; comparisons between result sets
//! (rank tests, ratio intervals, multiple-comparison control) live beside them.

pub mod compare;
pub mod summary;

pub use summary::{median, Summary};
