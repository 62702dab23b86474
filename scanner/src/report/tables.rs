//! The host tables: each responding host's replies, kept until the scan is over so that its
//! table lists every port — but only while the responding hosts fit in `--max-host-tables`.
//! Past that the report keeps no table at all: each reply is written on its own the moment it
//! is decided (as masscan writes), and only which hosts and which (host, port) pairs answered
//! is kept, in compressed bitmaps — a few bytes per reply instead of a table entry — to count
//! the hosts and to give silence its lines at the end — while they stay under
//! [`MAX_PAIRS`] pairs; past that only the hosts are, and silence is only counted. Kept tables
//! end too past [`MAX_KEPT_PORTS`] ports, so neither grows with the scan beyond its budget.

use std::{collections::BTreeMap, net::Ipv4Addr};

use roaring::{RoaringBitmap, RoaringTreemap};

use super::PortEntry;

/// Each responding host's replies, in the order they arrived (the first is why it is up).
pub type Kept = BTreeMap<Ipv4Addr, Vec<PortEntry>>;

/// The most (host, port) pairs kept to give silence its lines: about 30 MiB resident at the
/// limit (a roaring treemap of a sweep's pairs measured 3.6 B a pair, container slack included,
/// and the heap keeps it once given up).
pub const MAX_PAIRS: u64 = 1 << 23;
/// The most ports kept in host tables, all hosts together (about 40 MiB).
pub const MAX_KEPT_PORTS: usize = 1 << 20;

pub enum HostTables {
    Kept {
        limit: usize,
        hosts: Kept,
        ports: usize,
        budget: Budget,
    },
    /// Too many hosts for tables: only who answered, and on which ports.
    Streaming(Answered),
}

/// Which hosts answered, and which (host, port) pairs while they are few enough.
pub struct Answered {
    max_pairs: u64,
    hosts: RoaringBitmap,
    pairs: Option<RoaringTreemap>,
    /// Pairs inserted, until `pairs` is given up.
    pair_count: u64,
    /// More than [`MAX_PAIRS`] pairs answered: silence is not listed.
    pairs_given_up: bool,
}

impl Answered {
    fn new(max_pairs: u64) -> Self {
        Self {
            max_pairs,
            hosts: RoaringBitmap::new(),
            pairs: None,
            pair_count: 0,
            pairs_given_up: false,
        }
    }

    fn insert(&mut self, ip: Ipv4Addr, port: u16) {
        self.hosts.insert(u32::from(ip));
        if self.pairs_given_up {
            return;
        }
        let pairs = self.pairs.get_or_insert_default();
        self.pair_count += u64::from(pairs.insert(pair(ip, port)));
        if self.pair_count > self.max_pairs {
            self.pairs = None;
            self.pairs_given_up = true;
        }
    }

    /// Whether silent ports can be listed: false once more pairs answered than are kept.
    pub fn lists_silence(&self) -> bool {
        !self.pairs_given_up
    }

    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.hosts.iter().map(Ipv4Addr::from)
    }

    /// Whether `port` of `ip` answered.
    pub fn contains(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.pairs
            .as_ref()
            .is_some_and(|pairs| pairs.contains(pair(ip, port)))
    }
}

fn pair(ip: Ipv4Addr, port: u16) -> u64 {
    u64::from(u32::from(ip)) << 16 | u64::from(port)
}

/// How much the tables may hold.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub kept_ports: usize,
    pub pairs: u64,
}

impl Budget {
    pub const DEFAULT: Self = Self {
        kept_ports: MAX_KEPT_PORTS,
        pairs: MAX_PAIRS,
    };
}

/// What the report does with a reply.
#[derive(Debug, PartialEq)]
pub enum Keep {
    /// Kept for its host's table.
    Kept,
    /// The reply that took the hosts past the limit: what was kept until now, to be written
    /// on its own like this reply and every later one.
    Overflow(Kept),
    /// Written on its own.
    Stream,
}

impl HostTables {
    /// Tables for up to `limit` responding hosts; none when `listed` (the hosts listed
    /// whatever they answer: every target, with -Pn) is already more.
    pub fn new(limit: usize, listed: Option<u64>) -> Self {
        Self::with_budget(limit, listed, Budget::DEFAULT)
    }

    pub fn with_budget(limit: usize, listed: Option<u64>, budget: Budget) -> Self {
        match listed {
            Some(hosts) if hosts > limit as u64 => Self::Streaming(Answered::new(budget.pairs)),
            _ => Self::Kept {
                limit,
                hosts: Kept::new(),
                ports: 0,
                budget,
            },
        }
    }

    pub fn keep(&mut self, ip: Ipv4Addr, entry: PortEntry) -> Keep {
        match self {
            Self::Kept {
                limit,
                hosts,
                ports,
                budget,
            } => {
                if *ports < budget.kept_ports {
                    if let Some(replies) = hosts.get_mut(&ip) {
                        replies.push(entry);
                        *ports += 1;
                        return Keep::Kept;
                    }
                    if hosts.len() < *limit {
                        hosts.insert(ip, vec![entry]);
                        *ports += 1;
                        return Keep::Kept;
                    }
                }
                let kept = std::mem::take(hosts);
                let mut answered = Answered::new(budget.pairs);
                for (&ip, replies) in &kept {
                    for reply in replies {
                        answered.insert(ip, reply.port);
                    }
                }
                answered.insert(ip, entry.port);
                *self = Self::Streaming(answered);
                Keep::Overflow(kept)
            }
            Self::Streaming(answered) => {
                answered.insert(ip, entry.port);
                Keep::Stream
            }
        }
    }

    /// The responding hosts.
    pub fn answered(&self) -> u64 {
        match self {
            Self::Kept { hosts, .. } => hosts.len() as u64,
            Self::Streaming(answered) => answered.hosts.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        report::examples::entry,
        verdict::{PortState, Reason},
    };

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 128, last)
    }

    #[test]
    fn keeps_replies_per_host_until_one_host_too_many() {
        let open = entry(22, PortState::Open, Reason::SynAck, 64);
        let closed = entry(23, PortState::Closed, Reason::Reset, 64);
        let mut tables = HostTables::new(2, None);
        assert_eq!(tables.keep(ip(1), open), Keep::Kept);
        assert_eq!(tables.keep(ip(2), open), Keep::Kept);
        assert_eq!(
            tables.keep(ip(1), closed),
            Keep::Kept,
            "a known host's replies still fit"
        );
        let Keep::Overflow(kept) = tables.keep(ip(3), open) else {
            panic!("the third host is one too many");
        };
        assert_eq!(kept[&ip(1)], [open, closed], "in arrival order");
        assert_eq!(kept[&ip(2)], [open]);
        assert!(
            !kept.contains_key(&ip(3)),
            "the overflowing reply is the caller's"
        );
        assert_eq!(tables.keep(ip(4), open), Keep::Stream);
        assert_eq!(tables.keep(ip(1), open), Keep::Stream);
        assert_eq!(tables.answered(), 4);
        let HostTables::Streaming(answered) = &tables else {
            panic!("streaming");
        };
        assert!(answered.contains(ip(1), 23), "kept before the overflow");
        assert!(answered.contains(ip(3), 22) && answered.contains(ip(4), 22));
        assert!(!answered.contains(ip(2), 23) && !answered.contains(ip(4), 23));
        let hosts: Vec<Ipv4Addr> = answered.hosts().collect();
        assert_eq!(hosts, [ip(1), ip(2), ip(3), ip(4)]);
    }

    #[test]
    fn neither_tables_nor_pairs_outgrow_their_budget() {
        let budget = Budget {
            kept_ports: 3,
            pairs: 4,
        };
        let mut tables = HostTables::with_budget(100, None, budget);
        let reply = |port| entry(port, PortState::Closed, Reason::Reset, 64);
        for port in 1..=3 {
            assert_eq!(tables.keep(ip(1), reply(port)), Keep::Kept);
        }
        assert!(
            matches!(tables.keep(ip(1), reply(4)), Keep::Overflow(kept) if kept[&ip(1)].len() == 3),
            "the fourth port is past the budget, though the host has a table"
        );
        let HostTables::Streaming(answered) = &tables else {
            panic!("streaming");
        };
        assert!(answered.lists_silence() && answered.contains(ip(1), 4));
        assert_eq!(tables.keep(ip(2), reply(1)), Keep::Stream);
        let HostTables::Streaming(answered) = &tables else {
            panic!("streaming");
        };
        assert!(!answered.lists_silence(), "a fifth pair is past the budget");
        assert!(!answered.contains(ip(1), 4));
        assert_eq!(tables.answered(), 2, "hosts are still counted");
    }

    #[test]
    fn more_listed_hosts_than_tables_stream_from_the_start() {
        let mut tables = HostTables::new(2, Some(3));
        assert_eq!(
            tables.keep(ip(1), entry(22, PortState::Open, Reason::SynAck, 64)),
            Keep::Stream
        );
        assert!(matches!(
            HostTables::new(3, Some(3)),
            HostTables::Kept { .. }
        ));
    }
}
