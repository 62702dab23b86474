//! nmap-compatible TCP/IP OS detection (-O), the pure part: probe packets, the tests computed
//! from the replies, fingerprints and their text, nmap-os-db and matching. No sockets here:
//! the engine sends [`probes`], files replies with [`replies`], and hands the result to
//! [`attributes`]; [`matcher`] names the OS.
//!
//! nmap's sources (osscan2.cc, osscan.cc) define the semantics; this is an independent
//! implementation of them.

pub mod attributes;
pub mod db;
pub mod expr;
pub mod fingerprint;
pub mod ipid;
pub mod matcher;
pub mod packet;
pub mod probes;
pub mod replies;
pub mod sequence;
pub mod tcp_options;
