//! The end of the reply path: results as JSON lines, an nmap-like table, and a summary.

pub mod grepable;
pub mod json;
pub mod normal;
pub mod summary;
pub mod table;
pub mod xml;
