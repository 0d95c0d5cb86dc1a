//! Results: the record of one cell ([`record`]), the run's metadata ([`metadata`]), where
//! result sets live ([`layout`]), how they are stored as Parquet ([`store`]), which sets
//! exist ([`catalog`]) and what earlier runs tell ([`history`]). Every command reads stored
//! results through this module, never through `report` or `scale`.

pub mod calibration;
pub mod catalog;
pub mod history;
pub mod integrity;
pub mod layout;
pub mod lock;
pub mod metadata;
pub mod record;
pub mod schema;
pub mod store;

pub use metadata::RunMetadata;
pub use record::{CellRecord, Status};
