//! Per-port totals: how many hosts gave each port each state and reason, silence included —
//! what stands for the host tables of a scan too large for them. Counted reply by reply as
//! they are decided (a few entries per port, whatever the scan's size); silence is added at
//! the end from the probes that went out.

use std::collections::HashMap;

use super::{PortEntry, build::Silence};
use crate::{
    order::ScanSpace,
    verdict::{PortState, Reason},
};

#[derive(Debug, Default)]
pub struct Totals {
    counts: HashMap<(u16, PortState, Reason), u64>,
    answered_per_port: HashMap<u16, u64>,
}

impl Totals {
    /// A reply's verdict.
    pub fn count(&mut self, entry: &PortEntry) {
        *self
            .counts
            .entry((entry.port, entry.state, entry.reason))
            .or_default() += 1;
        *self.answered_per_port.entry(entry.port).or_default() += 1;
    }

    /// Silence's verdict on each probe that went out and got no reply.
    pub fn add_silence(&mut self, space: &ScanSpace, silence: &Silence<'_>) {
        for (port_index, port) in space.ports().iter().enumerate() {
            let sent = silence.walked.count_in(space.port_range(port_index));
            let answered = self.answered_per_port.get(&port).copied().unwrap_or(0);
            let quiet = sent.saturating_sub(answered);
            if quiet > 0 {
                let verdict = silence.verdict;
                *self
                    .counts
                    .entry((port, verdict.state, verdict.reason))
                    .or_default() += quiet;
            }
        }
    }

    /// Replies that found a port open.
    pub fn open(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((_, state, _), _)| *state == PortState::Open)
            .map(|(_, count)| count)
            .sum()
    }

    /// `(port, state, reason, hosts)` by port, then state and reason in nmap's order.
    pub fn rows(&self) -> Vec<(u16, PortState, Reason, u64)> {
        let mut rows: Vec<_> = self
            .counts
            .iter()
            .map(|(&(port, state, reason), &count)| (port, state, reason, count))
            .collect();
        rows.sort_unstable();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        order::Walked,
        report::examples::entry,
        targets::{PortList, TargetSet},
        verdict::Verdict,
    };

    fn space(ports: &str) -> ScanSpace {
        ScanSpace::new(
            TargetSet::from_specs(["198.18.128.0/30"]).unwrap(),
            PortList::parse(ports).unwrap(),
        )
    }

    fn silence(walked: &Walked) -> Silence<'_> {
        Silence {
            verdict: Verdict::new(PortState::Filtered, Reason::NoResponse),
            walked,
        }
    }

    #[test]
    fn replies_and_silence_count_every_probe_once() {
        let space = space("80");
        let mut totals = Totals::default();
        totals.count(&entry(80, PortState::Open, Reason::SynAck, 64));
        totals.count(&entry(80, PortState::Open, Reason::SynAck, 64));
        totals.count(&entry(80, PortState::Closed, Reason::Reset, 64));
        totals.add_silence(&space, &silence(&Walked::All { len: space.len() }));
        assert_eq!(
            totals.rows(),
            [
                (80, PortState::Open, Reason::SynAck, 2),
                (80, PortState::Closed, Reason::Reset, 1),
                (80, PortState::Filtered, Reason::NoResponse, 1),
            ]
        );
    }

    #[test]
    fn probes_an_interrupted_scan_never_sent_are_not_counted() {
        // The walk covers port 80 of all four addresses, then stopped before 8081.
        let space = space("80,8081");
        let mut totals = Totals::default();
        totals.count(&entry(80, PortState::Open, Reason::SynAck, 64));
        totals.count(&entry(80, PortState::Closed, Reason::Reset, 64));
        totals.add_silence(&space, &silence(&Walked::from_indices(space.len(), 0..4)));
        assert_eq!(
            totals.rows(),
            [
                (80, PortState::Open, Reason::SynAck, 1),
                (80, PortState::Closed, Reason::Reset, 1),
                (80, PortState::Filtered, Reason::NoResponse, 2),
            ]
        );
    }
}
