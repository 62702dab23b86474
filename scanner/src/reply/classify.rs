//! Turns the XDP program's records into results: the probe module's verdict, once per probe.

use std::net::Ipv4Addr;

use scanner_common::ReplyRecord;

use crate::{engine::answered::Answered, order::ScanSpace, probe::Probe, results::ScanResult};

/// Why a record produced no new result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Further replies to a probe that already has its result (retransmitted SYN-ACKs, ...).
    pub duplicates: u64,
    /// Replies the probe module draws no conclusion from.
    pub inconclusive: u64,
    /// Valid cookies for probes outside this scan's space (cannot happen without a key leak).
    pub foreign: u64,
}

pub struct Classifier<'a, P> {
    probe: &'a P,
    space: &'a ScanSpace,
    answered: &'a Answered,
    pub discarded: Discarded,
}

impl<'a, P: Probe> Classifier<'a, P> {
    pub fn new(probe: &'a P, space: &'a ScanSpace, answered: &'a Answered) -> Self {
        Self {
            probe,
            space,
            answered,
            discarded: Discarded::default(),
        }
    }

    /// The result a record decides, if it is the first conclusive one for its probe.
    pub fn classify(&mut self, record: &ReplyRecord) -> Option<ScanResult> {
        let Some(verdict) = self.probe.verdict(record) else {
            self.discarded.inconclusive += 1;
            return None;
        };
        let target = Ipv4Addr::from(record.target);
        let Some(index) = self.space.index_of(target, record.port) else {
            self.discarded.foreign += 1;
            return None;
        };
        if !self.answered.insert(index) {
            self.discarded.duplicates += 1;
            return None;
        }
        let responder = Ipv4Addr::from(record.responder);
        Some(ScanResult {
            ip: target,
            port: record.port,
            proto: P::PROTO,
            state: verdict.state,
            reason: verdict.reason,
            ttl: record.ttl,
            responder: (responder != target).then_some(responder),
        })
    }
}
