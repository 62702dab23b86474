//! The probe path in one loop: scan space -> order -> pacer -> template patch -> send ring.

use std::{
    io,
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use scanner_common::cookie::{Cookie, Key, ProbeId};

use super::{answered::Answered, retry::RetryPolicy};
use crate::{
    order::ScanSpace,
    probe::Probe,
    rate::Pacer,
    send::af_packet::{MAX_BATCH, PacketSender},
};

/// What the sender thread needs; everything shared is read-only or atomic.
pub struct SendJob<P> {
    pub probe: Arc<P>,
    pub space: Arc<ScanSpace>,
    pub answered: Arc<Answered>,
    pub key: Key,
    pub source_ip: Ipv4Addr,
    pub rate: Option<u64>,
    /// At most this many retry passes (see [`RetryPolicy`]).
    pub retries: u32,
    /// How long to wait for replies after each pass.
    pub wait: Duration,
    pub stop: Arc<AtomicBool>,
    /// Probes sent so far, for progress reports.
    pub sent: Arc<AtomicU64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Probes sent in each pass (the first, then the retries).
    pub per_pass: Vec<u64>,
    /// Time spent sending, waits excluded.
    pub sending: Duration,
}

impl SendReport {
    pub fn total(&self) -> u64 {
        self.per_pass.iter().sum()
    }
}

impl<P: Probe> SendJob<P> {
    /// Sends the first pass and the retry passes the policy allows, waiting for replies after
    /// each; returns early when every probe is answered or `stop` is raised.
    pub fn run(self, mut sender: PacketSender) -> io::Result<SendReport> {
        let mut report = SendReport::default();
        let mut policy = RetryPolicy::new(self.retries);
        while !self.stopped() && policy.next_pass(self.answered.count(), self.answered.all()) {
            let retry = !report.per_pass.is_empty();
            let started = Instant::now();
            let sent = self.send_pass(&mut sender, retry)?;
            report.sending += started.elapsed();
            report.per_pass.push(sent);
            self.wait_for_replies();
        }
        Ok(report)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn send_pass(&self, sender: &mut PacketSender, skip_answered: bool) -> io::Result<u64> {
        let mut pacer = Pacer::new(self.rate);
        let batch = pacer.batch_size(MAX_BATCH);
        let source = u32::from(self.source_ip);
        let mut filled = 0;
        let mut sent = 0u64;
        for index in 0..self.space.len() {
            if skip_answered && self.answered.contains(index) {
                continue;
            }
            let Some((target, port)) = self.space.probe(index) else {
                break;
            };
            let id = ProbeId {
                source,
                target: u32::from(target),
                port,
                proto: P::IP_PROTO,
            };
            let cookie = Cookie::of(&self.key, &id);
            self.probe.patch(sender.slot(filled), target, port, cookie);
            filled += 1;
            if filled == batch {
                pacer.wait_for(filled);
                sender.send(filled)?;
                sent += filled as u64;
                self.sent.fetch_add(filled as u64, Ordering::Relaxed);
                filled = 0;
                if self.stopped() {
                    return Ok(sent);
                }
            }
        }
        if filled > 0 {
            pacer.wait_for(filled);
            sender.send(filled)?;
            sent += filled as u64;
            self.sent.fetch_add(filled as u64, Ordering::Relaxed);
        }
        Ok(sent)
    }

    fn wait_for_replies(&self) {
        let deadline = Instant::now() + self.wait;
        while Instant::now() < deadline && !self.stopped() && !self.answered.all() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
