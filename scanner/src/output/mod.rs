//! The end of the reply path: the report's writers, one file per format, each knowing only the
//! report model ([`crate::report`]); `summary` is the run's statistics on standard error, and
//! `table` the per-port totals the terminal shows for scans too large for host tables.

pub mod csv;
pub mod fields;
pub mod grepable;
pub mod json;
pub mod list;
pub mod normal;
pub mod sinks;
pub mod stream;
pub mod summary;
pub mod table;
pub mod xml;
