//! The host tables: each responding host's replies, kept until the scan is over so that its
//! table lists every port — but only while the responding hosts fit in `--max-host-tables`.
//! Past that the report keeps no table at all: each reply is written on its own the moment it
//! is decided (as masscan writes), and only which hosts and which (host, port) pairs answered
//! is kept, in compressed bitmaps — a few bytes per reply instead of a table entry — to count
//! the hosts and to give silence its lines at the end.

use std::{collections::BTreeMap, net::Ipv4Addr};

use roaring::{RoaringBitmap, RoaringTreemap};

use super::PortEntry;

/// Each responding host's replies, in the order they arrived (the first is why it is up).
pub type Kept = BTreeMap<Ipv4Addr, Vec<PortEntry>>;

pub enum HostTables {
    Kept {
        limit: usize,
        hosts: Kept,
    },
    /// Too many hosts for tables: only who answered, and on which ports.
    Streaming(Answered),
}

/// Which hosts answered, and which (host, port) pairs.
#[derive(Default)]
pub struct Answered {
    hosts: RoaringBitmap,
    pairs: RoaringTreemap,
}

impl Answered {
    fn insert(&mut self, ip: Ipv4Addr, port: u16) {
        self.hosts.insert(u32::from(ip));
        self.pairs.insert(pair(ip, port));
    }

    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.hosts.iter().map(Ipv4Addr::from)
    }

    /// Whether `port` of `ip` answered.
    pub fn contains(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.pairs.contains(pair(ip, port))
    }
}

fn pair(ip: Ipv4Addr, port: u16) -> u64 {
    u64::from(u32::from(ip)) << 16 | u64::from(port)
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
        match listed {
            Some(hosts) if hosts > limit as u64 => Self::streaming(),
            _ => Self::Kept {
                limit,
                hosts: Kept::new(),
            },
        }
    }

    fn streaming() -> Self {
        Self::Streaming(Answered::default())
    }

    pub fn keep(&mut self, ip: Ipv4Addr, entry: PortEntry) -> Keep {
        match self {
            Self::Kept { limit, hosts } => {
                if let Some(replies) = hosts.get_mut(&ip) {
                    replies.push(entry);
                    return Keep::Kept;
                }
                if hosts.len() < *limit {
                    hosts.insert(ip, vec![entry]);
                    return Keep::Kept;
                }
                let kept = std::mem::take(hosts);
                let mut answered = Answered::default();
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
