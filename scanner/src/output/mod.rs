//! The end of the reply path: the report's writers, one file per format, each knowing only the
//! report model ([`crate::report`]); `table` renders the per-port totals the terminal and -oN
//! show for scans too large for host tables, and `sinks` feeds them all.

pub mod csv;
pub mod fields;
pub mod grepable;
pub mod json;
pub mod list;
pub mod normal;
pub mod records;
pub mod sinks;
pub mod stream;
pub mod table;
pub mod xml;
