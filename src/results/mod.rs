//! Results: the record of one cell ([`record`]), the run's metadata ([`metadata`]), where
//! result sets live ([`layout`]) and how they are stored as Parquet ([`store`]).

pub mod layout;
pub mod lock;
pub mod metadata;
pub mod record;
pub mod store;

pub use metadata::RunMetadata;
pub use record::{CellRecord, Status};
