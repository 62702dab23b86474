//! Scan targets: which IPv4 addresses and which ports.
//!
//! - [`TargetSet`]: addresses as merged ranges, with O(log ranges) random
//!   access by index and the inverse, so the scanner can walk a permutation
//!   of `0..len` and map replies back without materialising the addresses.
//! - [`parse_target`] / [`TargetSet::from_specs`]: nmap-style target
//!   specifications (address, CIDR, `a.b.c.d-e.f.g.h`, octet ranges).
//! - [`read_spec_file`] / [`TargetSet::from_file`]: `-iL` and
//!   `--excludefile` files.
//! - [`AddressPolicy`]: the default blocklist ([`DEFAULT_BLOCKLIST`], IANA's
//!   special-purpose ranges), `--blocklist-file`, `--allowlist-file` and
//!   `--exclude`, resolved into what may actually be scanned.
//! - [`PortList`]: nmap `-p` syntax with protocol prefixes, O(1) reverse
//!   lookup.
//!
//! Names are never resolved: this module does no I/O besides reading the
//! target files it is given.

mod error;
mod file;
mod iana;
mod policy;
mod ports;
#[cfg(test)]
mod properties;
mod set;
mod spec;
#[cfg(test)]
mod temp_file;

pub use error::{SpecError, TargetError};
pub use file::read_spec_file;
pub use iana::{DEFAULT_BLOCKLIST, SpecialRange};
pub use policy::{AddressPolicy, Applied, Blocklist, PolicyError, Removed};
pub use ports::{PortError, PortList};
pub use set::{TargetSet, TargetSetBuilder};
pub use spec::parse_target;
