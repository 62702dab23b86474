//! One round's record, filled by the engine: when each SEQ probe left and the first reply
//! to each probe, in arrival order. nmap keeps only the first reply per probe too (later
//! ones are duplicates or retransmission echoes).

use std::time::Duration;

use super::probes::{Probe, ProbePlan};

#[derive(Clone, Debug, Default)]
pub struct RoundReplies {
    /// Send time of SEQ1-SEQ6, from any fixed origin.
    seq_sent_at: [Option<Duration>; 6],
    replies: [Option<Vec<u8>>; 23],
    /// Probes in the order their replies arrived.
    arrivals: Vec<Probe>,
}

impl RoundReplies {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes when a probe left; only the SEQ probes' times matter (SP, ISR, TS). A resent
    /// probe keeps its first time.
    pub fn record_sent(&mut self, probe: Probe, at: Duration) {
        if let Probe::Seq(n) = probe {
            self.seq_sent_at[n.index()].get_or_insert(at);
        }
    }

    /// Files an IPv4 packet from the target under the probe it answers. Returns that probe
    /// if this is its first reply, `None` for duplicates and packets that answer nothing.
    pub fn record_reply(&mut self, plan: &ProbePlan, packet: &[u8]) -> Option<Probe> {
        let probe = plan.probe_for_reply(packet)?;
        let slot = &mut self.replies[probe.index()];
        if slot.is_some() {
            return None;
        }
        *slot = Some(packet.to_vec());
        self.arrivals.push(probe);
        Some(probe)
    }

    pub fn reply(&self, probe: Probe) -> Option<&[u8]> {
        self.replies[probe.index()].as_deref()
    }

    pub fn seq_sent_at(&self, probe: super::probes::SeqNo) -> Option<Duration> {
        self.seq_sent_at[probe.index()]
    }

    /// Whether `a`'s reply arrived after `b`'s (false if either is missing).
    pub fn arrived_after(&self, a: Probe, b: Probe) -> bool {
        let position = |p| self.arrivals.iter().position(|&q| q == p);
        matches!((position(a), position(b)), (Some(x), Some(y)) if x > y)
    }

    /// Which probes have a reply.
    pub fn answered(&self) -> impl Iterator<Item = Probe> + '_ {
        self.arrivals.iter().copied()
    }
}
