//! The lab fixture for the scanner's integration tests, demos and benchmarks: two network
//! namespaces (scanner and target) joined by a veth pair, addressed only from 198.18.0.0/15,
//! with no default route, torn down on every exit path (drop, panic, Ctrl-C/SIGTERM/SIGHUP,
//! and — for labs of runs killed with SIGKILL — on the next [`Lab::up`] or `cargo xtask lab
//! down`). Needs root, `ip` (iproute2) and `nft` (nftables).
//!
//! ```no_run
//! use scanner_tests::{Lab, LabConfig};
//! let lab = Lab::up(LabConfig::default())?;
//! let status = lab
//!     .command_in_scanner("nmap")
//!     .args(["-Pn", "-sS", "-p", "22,8081", "198.18.128.77"])
//!     .status()?;
//! assert!(status.success());
//! lab.down();
//! # anyhow::Ok(())
//! ```

pub mod lab;
pub mod slurm;

/// The allowlist every lab scan passes (`--allowlist-file`): the lab's 198.18.0.0/15, which
/// the scanner's default blocklist holds.
pub const LAB_ALLOWLIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lab-allowlist.txt");

pub use lab::{
    Lab, LabConfig, NAMESPACE_PREFIX, NETNS_DIR, PortTruth, ResponderCounts, ResponderSettings,
    SctpPeer, Truth, UdpService, cleanup_stale, lab_namespaces, namespace_owner,
};
