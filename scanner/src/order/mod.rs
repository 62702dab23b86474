//! The scan's index space, every (address, port) pair numbered `0..len`, and the order in
//! which the sender threads walk it: a seeded permutation of the space, this shard's part of
//! it, split between the threads.
//!
//! Index `i` is port `i / addresses` of address `i % addresses`.

pub mod permutation;
#[cfg(test)]
mod properties;
pub mod walked;

use std::net::Ipv4Addr;

pub use self::{
    permutation::{Part, PartError, PartWalk, Permutation, WalkState},
    walked::Walked,
};
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

    /// The indices of the probes to the `port_index`-th port.
    pub fn port_range(&self, port_index: usize) -> std::ops::Range<u64> {
        let addresses = self.targets.len();
        let start = port_index as u64 * addresses;
        start..start + addresses
    }

    /// The number of the probe to `target:port`, if the scan has one.
    #[inline]
    pub fn index_of(&self, target: Ipv4Addr, port: u16) -> Option<u64> {
        let address = self.targets.index_of(target)?;
        let port = self.ports.index_of(port)? as u64;
        Some(port * self.targets.len() + address)
    }
}

/// Which probes this run sends, and in which order: the seeded permutation of the space,
/// this shard's part of it, split between the sender threads, each capped by its quota.
#[derive(Clone, Debug)]
pub struct WalkPlan {
    permutation: Permutation,
    /// One part of the permutation per sender thread (ZMap's sub-shards).
    parts: Vec<Part>,
    /// Most probes each thread sends in the first pass.
    quotas: Vec<u64>,
    /// About how many probes the first pass sends.
    planned: u64,
    whole: bool,
}

impl WalkPlan {
    /// The walk of a space of `len` probes for `threads` threads of shard `shard` of
    /// `shards`; `cap` limits the first pass (--max-targets), shared evenly between threads.
    pub fn new(
        len: u64,
        seed: u64,
        shard: u32,
        shards: u32,
        threads: u32,
        cap: Option<u64>,
    ) -> Result<Self, PartError> {
        let parts = (0..threads)
            .map(|thread| Part::for_shard_thread(shard, shards, thread, threads))
            .collect::<Result<Vec<_>, _>>()?;
        let threads = u64::from(threads);
        let quotas = (0..threads)
            .map(|thread| match cap {
                Some(cap) => cap / threads + u64::from(thread < cap % threads),
                None => u64::MAX,
            })
            .collect();
        let shard_len = len.div_ceil(u64::from(shards));
        Ok(Self {
            permutation: Permutation::new(len, seed),
            parts,
            quotas,
            planned: cap.map_or(shard_len, |cap| cap.min(shard_len)),
            whole: shards == 1,
        })
    }

    pub fn threads(&self) -> u32 {
        self.parts.len() as u32
    }

    /// Thread `thread`'s first-pass probes, in order; a retry pass walks the same sequence.
    pub fn thread_walk(&self, thread: u32) -> ThreadWalk {
        ThreadWalk {
            walk: self.permutation.part(self.parts[thread as usize]),
            left: self.quotas[thread as usize],
        }
    }

    /// Thread `thread`'s first-pass probes from `state` on (a place in that walk, from a
    /// checkpoint); `None` when `state` is no place in it.
    pub fn thread_walk_at(&self, thread: u32, state: WalkState) -> Option<ThreadWalk> {
        let left = self.quotas[thread as usize].checked_sub(state.yielded)?;
        let walk = self
            .permutation
            .part(self.parts[thread as usize])
            .resumed(state)?;
        Some(ThreadWalk { walk, left })
    }

    /// About how many probes the first pass sends (exact unless sharded), for progress reports.
    pub fn planned(&self) -> u64 {
        self.planned
    }

    /// The probes the threads walked in the first pass, given how far each got.
    pub fn walked(&self, per_thread: &[u64]) -> Walked {
        let len = self.permutation.len();
        let count = per_thread.iter().sum::<u64>();
        if self.whole && count == len {
            return Walked::All { len };
        }
        if len > crate::engine::answered::EXACT_LIMIT {
            return Walked::Counted { count };
        }
        let indices = per_thread
            .iter()
            .enumerate()
            .flat_map(|(thread, &walked)| self.thread_walk(thread as u32).take(walked as usize));
        Walked::from_indices(len, indices)
    }
}

/// One thread's walk: its part of the permutation, up to its quota.
#[derive(Clone, Debug)]
pub struct ThreadWalk {
    walk: PartWalk,
    /// Probes the quota still allows.
    left: u64,
}

impl ThreadWalk {
    /// Where the walk is, for a checkpoint.
    pub fn state(&self) -> WalkState {
        self.walk.state()
    }

    /// Probes walked so far.
    pub fn walked(&self) -> u64 {
        self.walk.yielded()
    }
}

impl Iterator for ThreadWalk {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        let index = self.walk.next()?;
        self.left -= 1;
        Some(index)
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
    fn port_ranges_hold_exactly_their_ports_probes() {
        let targets = TargetSet::from_specs(["198.18.0.0/30"]).unwrap();
        let space = ScanSpace::new(targets, PortList::parse("80,22,443").unwrap());
        for (port_index, port) in space.ports().iter().enumerate() {
            for index in space.port_range(port_index) {
                assert_eq!(space.probe(index).unwrap().1, port);
            }
        }
    }

    #[test]
    fn walked_set_is_what_the_threads_sent() {
        let plan = WalkPlan::new(1000, 7, 1, 3, 2, Some(100)).unwrap();
        let walks: Vec<Vec<u64>> = (0..2).map(|t| plan.thread_walk(t).collect()).collect();
        assert_eq!(walks[0].len() + walks[1].len(), 100);
        let walked = plan.walked(&[10, 50]);
        assert_eq!(walked.count(), 60);
        assert!(
            walks[0][..10]
                .iter()
                .chain(&walks[1][..50])
                .all(|&i| walked.contains(i))
        );
        assert!(!walked.contains(walks[0][10]));
        let whole = WalkPlan::new(10, 7, 0, 1, 2, None).unwrap();
        assert_eq!(whole.walked(&[5, 5]), Walked::All { len: 10 });
    }
}
