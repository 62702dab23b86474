//! Turns the XDP program's records into results: the probe module's verdict, once per probe.

use std::net::Ipv4Addr;

use scanner_common::{
    ReplyKind, ReplyRecord,
    cookie::{Cookie, Key},
};

use crate::{
    engine::answered::Answered,
    order::ScanSpace,
    probe::Probe,
    results::ScanResult,
    verdict::{PortState, Verdict},
};

/// Why a record produced no new result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Further replies to a probe that already has its result (retransmitted SYN-ACKs, ...).
    pub duplicates: u64,
    /// Replies the probe module draws no conclusion from.
    pub inconclusive: u64,
    /// Valid cookies for probes outside this scan's space (cannot happen without a key leak).
    pub foreign: u64,
    /// Packets without a cookie (-sO's responses in other protocols) from someone who is not a
    /// target of the scan.
    pub unsolicited: u64,
}

pub struct Classifier<'a, P> {
    probe: &'a P,
    space: &'a ScanSpace,
    answered: &'a Answered,
    /// The scan's cookie key and source address: what gives each result its probe's source
    /// port back, without any state per probe.
    key: Key,
    source_ip: Ipv4Addr,
    pub discarded: Discarded,
}

impl<'a, P: Probe> Classifier<'a, P> {
    pub fn new(
        probe: &'a P,
        space: &'a ScanSpace,
        answered: &'a Answered,
        key: Key,
        source_ip: Ipv4Addr,
    ) -> Self {
        Self {
            probe,
            space,
            answered,
            key,
            source_ip,
            discarded: Discarded::default(),
        }
    }

    /// Hands `found` the results a record decides: for its own probe, and for another port of
    /// the target when the reply implies one (see [`Probe::implied`]); each only if it is the
    /// first conclusive one for its probe.
    pub fn classify(&mut self, record: &ReplyRecord, mut found: impl FnMut(ScanResult)) {
        let target = Ipv4Addr::from(record.target);
        let Some(index) = self.space.index_of(target, record.port) else {
            match ReplyKind::from_u8(record.kind) {
                Some(kind) if !kind.is_validated() => self.discarded.unsolicited += 1,
                _ => self.discarded.foreign += 1,
            }
            return;
        };
        match self.probe.verdict(record) {
            Some(verdict)
                if self
                    .answered
                    .insert(index, verdict.state == PortState::Open) =>
            {
                found(self.result(record, record.port, verdict));
            }
            Some(_) => self.discarded.duplicates += 1,
            None => self.discarded.inconclusive += 1,
        }
        if let Some((port, verdict)) = self.probe.implied(record)
            && let Some(index) = self.space.index_of(target, port)
            && self
                .answered
                .insert(index, verdict.state == PortState::Open)
        {
            found(self.result(record, port, verdict));
        }
    }

    fn result(&self, record: &ReplyRecord, port: u16, verdict: Verdict) -> ScanResult {
        let target = Ipv4Addr::from(record.target);
        let responder = Ipv4Addr::from(record.responder);
        ScanResult {
            ip: target,
            port,
            proto: P::PROTO,
            state: verdict.state,
            reason: verdict.reason,
            ttl: record.ttl,
            responder: (responder != target).then_some(responder),
            local_port: self.probe.source_port(Cookie::of(
                &self.key,
                &self.probe.id(self.source_ip, target, port),
            )),
        }
    }
}
