//! The scan's index space: every (address, port) pair numbered `0..len`, and the order in
//! which the sender walks it.
//!
//! Index `i` is port `i / addresses` of address `i % addresses`: walking indices in order
//! sends consecutive probes to different hosts, never a burst at one.

pub mod permutation;

use std::net::Ipv4Addr;

use crate::targets::{PortList, TargetSet};

pub struct ScanSpace {
    targets: TargetSet,
    ports: PortList,
}

impl ScanSpace {
    pub fn new(targets: TargetSet, ports: PortList) -> Self {
        Self { targets, ports }
    }

    pub fn targets(&self) -> &TargetSet {
        &self.targets
    }

    pub fn ports(&self) -> &PortList {
        &self.ports
    }

    /// Number of probes in one pass.
    pub fn len(&self) -> u64 {
        self.targets.len() * self.ports.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The probe with number `index` (< `len()`).
    #[inline]
    pub fn probe(&self, index: u64) -> Option<(Ipv4Addr, u16)> {
        let addresses = self.targets.len();
        let port = self.ports.get((index / addresses) as usize)?;
        let target = self.targets.get(index % addresses)?;
        Some((target, port))
    }

    /// Whether probe `index` is among the first `walked` probes of the walk (of an interrupted
    /// scan, say).
    #[inline]
    pub fn is_walked(&self, index: u64, walked: u64) -> bool {
        index < walked
    }

    /// How many probes to the `port_index`-th port are among the first `walked` of the walk.
    pub fn walked_to_port(&self, port_index: usize, walked: u64) -> u64 {
        let addresses = self.targets.len();
        walked
            .saturating_sub(port_index as u64 * addresses)
            .min(addresses)
    }

    /// The number of the probe to `target:port`, if the scan has one.
    #[inline]
    pub fn index_of(&self, target: Ipv4Addr, port: u16) -> Option<u64> {
        let address = self.targets.index_of(target)?;
        let port = self.ports.index_of(port)? as u64;
        Some(port * self.targets.len() + address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_probe_are_inverse_and_interleave_hosts() {
        let targets = TargetSet::from_specs(["198.18.0.1-198.18.0.3", "198.18.1.0/31"]).unwrap();
        let ports = PortList::parse("80,22,443").unwrap();
        let space = ScanSpace::new(targets, ports);
        assert_eq!(space.len(), 15);
        for i in 0..space.len() {
            let (ip, port) = space.probe(i).unwrap();
            assert_eq!(space.index_of(ip, port), Some(i));
        }
        assert_eq!(space.probe(0), Some((Ipv4Addr::new(198, 18, 0, 1), 80)));
        assert_eq!(space.probe(1), Some((Ipv4Addr::new(198, 18, 0, 2), 80)));
        assert_eq!(space.probe(5), Some((Ipv4Addr::new(198, 18, 0, 1), 22)));
        assert_eq!(space.probe(15), None);
        assert_eq!(space.index_of(Ipv4Addr::new(198, 18, 0, 9), 80), None);
        assert_eq!(space.index_of(Ipv4Addr::new(198, 18, 0, 1), 81), None);
    }

    #[test]
    fn walked_counts_agree_with_the_walk() {
        let targets = TargetSet::from_specs(["198.18.0.0/30"]).unwrap();
        let space = ScanSpace::new(targets, PortList::parse("80,22,443").unwrap());
        for walked in 0..=space.len() {
            for (port_index, port) in space.ports().iter().enumerate() {
                let by_index = (0..space.len())
                    .filter(|&i| space.is_walked(i, walked))
                    .filter(|&i| space.probe(i).unwrap().1 == port)
                    .count() as u64;
                assert_eq!(space.walked_to_port(port_index, walked), by_index);
            }
        }
    }
}
