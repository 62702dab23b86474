//! Which of a host's ports are listed and which are folded into nmap's "Not shown" line
//! (`extraports` in XML, `Ignored State` in grepable output): nmap's `isIgnoredState`,
//! `nextIgnoredState` and `get_state_reason_summary` (portlist.cc, portreasons.cc).

use crate::verdict::{PortState, Proto, Reason};

use super::{PortEntry, ScanInfo};

/// Nmap folds a state once it holds more than this many ports (without -v or -d).
const MAX_PER_STATE: usize = 25;

/// A folded state: how many ports, and which reasons for it on which ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    pub state: PortState,
    pub count: usize,
    /// Most ports first.
    pub reasons: Vec<ExtraReasons>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraReasons {
    pub reason: Reason,
    pub proto: Proto,
    /// Ascending.
    pub ports: Vec<u16>,
}

/// A host's ports split as nmap prints them.
#[derive(Debug)]
pub struct Folded<'a> {
    /// Most ports first (ties: nmap's state order).
    pub ignored: Vec<Ignored>,
    /// The ports listed one by one, in the host's order.
    pub shown: Vec<&'a PortEntry>,
}

impl Folded<'_> {
    pub fn ignored_count(&self) -> usize {
        self.ignored.iter().map(|ignored| ignored.count).sum()
    }
}

/// Splits `ports` (in nmap's order) as nmap would for `scan`'s verbosity and `--open`.
pub fn fold<'a>(ports: &'a [PortEntry], scan: &ScanInfo) -> Folded<'a> {
    let count = |state| ports.iter().filter(|entry| entry.state == state).count();
    let mut ignored: Vec<(PortState, usize)> = STATES
        .iter()
        .map(|&state| (state, count(state)))
        .filter(|&(state, count)| count > 0 && is_ignored(state, count, scan))
        .collect();
    // nextIgnoredState: most ports first; ties in the order of nmap's state numbers.
    ignored.sort_by_key(|&(state, count)| (std::cmp::Reverse(count), nmap_number(state)));
    let folded = ignored
        .iter()
        .map(|&(state, count)| Ignored {
            state,
            count,
            reasons: reasons(ports, state),
        })
        .collect();
    Folded {
        ignored: folded,
        shown: ports
            .iter()
            .filter(|entry| !ignored.iter().any(|&(state, _)| state == entry.state))
            .collect(),
    }
}

const STATES: [PortState; 4] = [
    PortState::Open,
    PortState::Closed,
    PortState::Filtered,
    PortState::OpenFiltered,
];

/// Nmap's PORT_* numbers (portlist.h), which break ties between folded states.
fn nmap_number(state: PortState) -> u8 {
    match state {
        PortState::Closed => 1,
        PortState::Open => 2,
        PortState::Filtered => 3,
        PortState::OpenFiltered => 7,
    }
}

/// nmap's `isIgnoredState`.
fn is_ignored(state: PortState, count: usize, scan: &ScanInfo) -> bool {
    if scan.debug > 2 || state == PortState::Open {
        return false;
    }
    if state == PortState::OpenFiltered && scan.verbose > 2 {
        return false;
    }
    // --open hides every state that cannot be open.
    if scan.open_only && state != PortState::OpenFiltered {
        return true;
    }
    let (verbose, debug) = (usize::from(scan.verbose), usize::from(scan.debug));
    let mut max = MAX_PER_STATE;
    if verbose > 0 || debug > 0 {
        max *= match scan.kind.proto() {
            Proto::Ip => (verbose + 1) + 3 * debug,
            _ => (verbose + 1) + 20 * debug,
        };
    }
    count > max
}

/// nmap's `get_state_reason_summary`: one entry per (reason, protocol) in order of first
/// appearance, then sorted by port count, largest first; its merge sort puts the later of
/// two equal counts first.
fn reasons(ports: &[PortEntry], state: PortState) -> Vec<ExtraReasons> {
    let mut reasons: Vec<ExtraReasons> = Vec::new();
    for entry in ports.iter().filter(|entry| entry.state == state) {
        match reasons
            .iter_mut()
            .find(|r| r.reason == entry.reason && r.proto == entry.proto)
        {
            Some(known) => known.ports.push(entry.port),
            None => reasons.push(ExtraReasons {
                reason: entry.reason,
                proto: entry.proto,
                ports: vec![entry.port],
            }),
        }
    }
    reasons.reverse();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.ports.len()));
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ScanKind, examples};

    fn scan(kind: ScanKind) -> ScanInfo {
        examples::scan(kind)
    }

    fn entry(port: u16, state: PortState, reason: Reason) -> PortEntry {
        examples::entry(port, state, reason, 64)
    }

    /// nmap -sS of a Linux host on its top 1000 ports: 3 open, 997 closed.
    fn typical() -> Vec<PortEntry> {
        (1..=1000)
            .map(|port| match port {
                22 | 80 | 443 => entry(port, PortState::Open, Reason::SynAck),
                _ => entry(port, PortState::Closed, Reason::Reset),
            })
            .collect()
    }

    #[test]
    fn more_than_25_in_a_state_are_folded() {
        let ports = typical();
        let folded = fold(&ports, &scan(ScanKind::Syn));
        assert_eq!(folded.ignored.len(), 1);
        assert_eq!(folded.ignored[0].state, PortState::Closed);
        assert_eq!(folded.ignored[0].count, 997);
        assert_eq!(folded.ignored[0].reasons.len(), 1);
        assert_eq!(folded.ignored[0].reasons[0].reason, Reason::Reset);
        assert_eq!(folded.ignored[0].reasons[0].ports.len(), 997);
        let shown: Vec<u16> = folded.shown.iter().map(|e| e.port).collect();
        assert_eq!(shown, [22, 80, 443]);
        assert_eq!(folded.ignored_count(), 997);
    }

    #[test]
    fn open_is_never_folded_and_25_is_not_enough() {
        let ports: Vec<_> = (1..=25)
            .map(|port| entry(port, PortState::Closed, Reason::Reset))
            .chain((100..200).map(|port| entry(port, PortState::Open, Reason::SynAck)))
            .collect();
        let folded = fold(&ports, &scan(ScanKind::Syn));
        assert!(folded.ignored.is_empty());
        assert_eq!(folded.shown.len(), 125);
    }

    #[test]
    fn verbosity_raises_the_limit_more_for_ports_than_protocols() {
        let closed = |count: u16| -> Vec<_> {
            (1..=count)
                .map(|port| entry(port, PortState::Closed, Reason::Reset))
                .collect()
        };
        let mut verbose = scan(ScanKind::Syn);
        verbose.verbose = 1;
        // (1 + 1) times 25 with -v.
        assert!(fold(&closed(50), &verbose).ignored.is_empty());
        assert_eq!(fold(&closed(51), &verbose).ignored.len(), 1);
        let ports = closed(60);
        let mut debug = scan(ScanKind::IpProto);
        debug.debug = 1;
        // (0 + 1) + 3 * 1 = 4 times 25 for -sO -d.
        assert!(fold(&ports, &debug).ignored.is_empty());
        assert_eq!(fold(&closed(101), &debug).ignored.len(), 1);
    }

    #[test]
    fn states_fold_largest_first_and_reasons_by_count() {
        let mut ports: Vec<_> = (1..=40)
            .map(|port| entry(port, PortState::Filtered, Reason::NoResponse))
            .collect();
        ports.extend((41..=45).map(|p| entry(p, PortState::Filtered, Reason::AdminProhibited)));
        ports.extend((46..=145).map(|p| entry(p, PortState::Closed, Reason::Reset)));
        let folded = fold(&ports, &scan(ScanKind::Syn));
        let states: Vec<_> = folded.ignored.iter().map(|i| (i.state, i.count)).collect();
        assert_eq!(
            states,
            [(PortState::Closed, 100), (PortState::Filtered, 45)]
        );
        let reasons: Vec<_> = folded.ignored[1]
            .reasons
            .iter()
            .map(|r| (r.reason, r.ports.len()))
            .collect();
        assert_eq!(
            reasons,
            [(Reason::NoResponse, 40), (Reason::AdminProhibited, 5)]
        );
        assert!(folded.shown.is_empty());
    }

    #[test]
    fn equal_counts_fold_in_nmaps_state_order_and_later_reason_first() {
        let mut ports: Vec<_> = (1..=30)
            .map(|port| entry(port, PortState::Filtered, Reason::NoResponse))
            .collect();
        ports.extend((31..=60).map(|p| entry(p, PortState::Closed, Reason::Reset)));
        let folded = fold(&ports, &scan(ScanKind::Syn));
        let states: Vec<_> = folded.ignored.iter().map(|i| i.state).collect();
        assert_eq!(states, [PortState::Closed, PortState::Filtered]);

        let tie: Vec<_> = (1..=20)
            .map(|port| entry(port, PortState::Filtered, Reason::NoResponse))
            .chain((21..=40).map(|p| entry(p, PortState::Filtered, Reason::HostProhibited)))
            .collect();
        let folded = fold(&tie, &scan(ScanKind::Syn));
        let reasons: Vec<_> = folded.ignored[0].reasons.iter().map(|r| r.reason).collect();
        assert_eq!(reasons, [Reason::HostProhibited, Reason::NoResponse]);
    }

    #[test]
    fn open_only_folds_everything_that_cannot_be_open() {
        let ports = [
            entry(22, PortState::Open, Reason::SynAck),
            entry(23, PortState::Closed, Reason::Reset),
            entry(24, PortState::OpenFiltered, Reason::NoResponse),
        ];
        let mut open = scan(ScanKind::Syn);
        open.open_only = true;
        let folded = fold(&ports, &open);
        let shown: Vec<u16> = folded.shown.iter().map(|e| e.port).collect();
        assert_eq!(shown, [22, 24]);
        assert_eq!(folded.ignored.len(), 1);
        assert_eq!(folded.ignored[0].state, PortState::Closed);
    }
}
