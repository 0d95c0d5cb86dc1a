//! Statistics over raw samples: per-cell summaries ([`summary`]); comparisons between result
//! sets, on rounds as the replicates ([`between`]), with the distributions they need
//! ([`distributions`]) and multiple-comparison control ([`compare`], which also keeps the
//! within-run rank test and ratio interval).

pub mod between;
pub mod compare;
pub mod distributions;
pub mod summary;

pub use summary::{geomean, median, Summary};
