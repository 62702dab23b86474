//! The default blocklist: IANA's special-purpose IPv4 ranges.
//!
//! The entries are exactly those ZMap ships in `conf/blocklist.conf` (from the
//! IANA IPv4 Special-Purpose and Multicast registries), listed here in address
//! order. Addresses in them are private, reserved, or not unicast, so probing
//! them on a public scan is at best wasted and at worst a nuisance. That
//! includes 198.18.0.0/15, the benchmarking range our lab uses: a lab scan has
//! to allow it explicitly (`--allowlist-file`) or replace the list
//! (`--blocklist-file`).

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// One special-purpose range: its CIDR block, what it is for, and the RFC
/// that reserves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block.
    pub net: Ipv4Net,
    /// IANA's purpose, short and lowercase, e.g. `"benchmarking"`.
    pub name: &'static str,
    /// The RFC number, e.g. `2544`.
    pub rfc: u16,
}

impl SpecialRange {
    const fn new(octets: [u8; 4], prefix_len: u8, name: &'static str, rfc: u16) -> Self {
        let [a, b, c, d] = octets;
        Self {
            // Const evaluation fails the build on a prefix length above 32.
            net: Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix_len),
            name,
            rfc,
        }
    }
}

/// `198.18.0.0/15 benchmarking, RFC 2544`
impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}, RFC {}", self.net, self.name, self.rfc)
    }
}

/// ZMap's default blocklist (conf/blocklist.conf), in address order.
///
/// 255.255.255.255/32 lies inside 240.0.0.0/4; ZMap lists both, and so do we,
/// so that a broadcast target is reported under its own name.
pub const DEFAULT_BLOCKLIST: [SpecialRange; 16] = [
    SpecialRange::new([0, 0, 0, 0], 8, "this network", 1122),
    SpecialRange::new([10, 0, 0, 0], 8, "private-use", 1918),
    SpecialRange::new([100, 64, 0, 0], 10, "shared address space", 6598),
    SpecialRange::new([127, 0, 0, 0], 8, "loopback", 1122),
    SpecialRange::new([169, 254, 0, 0], 16, "link-local", 3927),
    SpecialRange::new([172, 16, 0, 0], 12, "private-use", 1918),
    SpecialRange::new([192, 0, 0, 0], 24, "IETF protocol assignments", 6890),
    SpecialRange::new([192, 0, 2, 0], 24, "documentation (TEST-NET-1)", 5737),
    SpecialRange::new([192, 88, 99, 0], 24, "6to4 relay anycast", 3068),
    SpecialRange::new([192, 168, 0, 0], 16, "private-use", 1918),
    SpecialRange::new([198, 18, 0, 0], 15, "benchmarking", 2544),
    SpecialRange::new([198, 51, 100, 0], 24, "documentation (TEST-NET-2)", 5737),
    SpecialRange::new([203, 0, 113, 0], 24, "documentation (TEST-NET-3)", 5737),
    SpecialRange::new([224, 0, 0, 0], 4, "multicast", 5771),
    SpecialRange::new([240, 0, 0, 0], 4, "reserved", 1112),
    SpecialRange::new([255, 255, 255, 255], 32, "limited broadcast", 919),
];
