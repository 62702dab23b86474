//! The scanner as a library: the binary is a thin shell over [`app::run`], and the tests drive
//! the engine directly.
//!
//! A probe's path: [`targets`] -> [`order`] -> [`rate`] -> [`probe`] (template) -> [`send`]
//! ([`engine::sender`] drives it, one thread per queue).
//! A reply's path: [`reply::xdp`] (in the kernel) -> [`reply::ring`] -> [`engine::reader`]
//! ([`reply::classify`]) -> [`output`]. [`engine`] runs both at once.
//! On the side: [`capture`] and [`trace`] (--pcap, --packet-trace); [`responder`], the lab's
//! XDP target for tests and benchmarks (`scanner responder`), not part of a scan.
//! [`os`]: nmap's OS detection (-O) without the network: probes, tests, fingerprints, matching.
//! [`fuzz`]: the fuzz targets' bodies (`fuzz/`, `cargo xtask fuzz`).
//! [`privilege`]: the capabilities a scan needs, checked first and dropped once set up.

pub mod app;
pub mod capture;
pub mod checkpoint;
pub mod cli;
pub mod discovery;
pub mod engine;
pub mod fuzz;
pub mod merge;
pub mod order;
pub mod os;
pub mod osscan;
pub mod output;
pub mod plan;
pub mod privilege;
pub mod probe;
pub mod protocols;
pub mod rate;
pub mod reply;
pub mod report;
pub mod responder;
pub mod results;
pub mod route;
pub mod send;
pub mod services;
pub mod targets;
pub mod trace;
pub mod verdict;
