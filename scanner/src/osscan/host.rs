//! One host's OS detection, as nmap runs it: rounds ("tries") of the sixteen probes, SEQ1-6
//! exactly [`SEQ_INTERVAL`] apart and the rest after them; each unanswered probe sent once
//! more when its timeout passes (a missing SEQ reply by nmap's OPS and T1 fallbacks); a new
//! round until a reference matches perfectly or the tries are used up.
//!
//! Pure state: the caller brings the clock, sends the packets [`HostScan::poll`] hands out and
//! offers the replies; nothing here touches a socket, so the timing is testable.

use std::{net::Ipv4Addr, time::Duration, time::Instant};

use scanner_common::os::OsIdentity;

use crate::os::{
    attributes::{RoundFingerprint, fingerprint_round},
    db::OsDb,
    matcher::{GUESS_THRESHOLD, Matches, match_fingerprint},
    probes::{Probe, ProbePlan, SEQ_INTERVAL, SeqNo, TNo, U1_IP_ID},
    replies::RoundReplies,
};

/// The rest of a round follows SEQ6 by one more interval.
const SEQ_PHASE: Duration = Duration::from_millis(600);
/// nmap's timeouts (timing.cc): 1 s until a round trip is measured, then srtt + 4 rttvar,
/// between 100 ms and 10 s.
const INITIAL_TIMEOUT: Duration = Duration::from_secs(1);
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// nmap's try limit for a fingerprint that could not be submitted anyway (STANDARD_OS2_TRIES).
const UNSUBMITTABLE_TRIES: u8 = 2;
/// nmap's limit on SEQ1 to SEQ6 over the 500 ms planned (maxTimingRatio).
const MAX_TIMING_RATIO: f64 = 1.4;

/// What the port scan found on a host, and what OS detection probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsTarget {
    pub address: Ipv4Addr,
    pub open_tcp_port: Option<u16>,
    pub closed_tcp_port: Option<u16>,
}

/// The random choices nmap makes per host and per round, drawn by the caller.
pub trait Dice {
    fn u16(&mut self) -> u16;
    fn u32(&mut self) -> u32;
}

impl<R: rand::Rng> Dice for R {
    fn u16(&mut self) -> u16 {
        rand::RngExt::random(self)
    }
    fn u32(&mut self) -> u32 {
        rand::RngExt::random(self)
    }
}

/// A finished host: every round's fingerprint and, with a database, its matches.
pub struct HostOs<'db> {
    pub target: OsTarget,
    /// T5-T7's destination: the scan's closed port, or (as nmap) a random one in 30000-44780.
    pub closed_tcp_port: u16,
    /// U1's destination: a random port in 30000-44780, as nmap's when no UDP scan ran.
    pub closed_udp_port: u16,
    pub rounds: Vec<RoundFingerprint>,
    pub matches: Vec<Matches<'db>>,
    /// Hops to the target, from the first U1 reply.
    pub hop_distance: Option<i32>,
    /// The slowest SEQ1-to-SEQ6 time of a round over the 500 ms planned.
    pub max_timing_ratio: f64,
    pub probes_sent: u32,
}

impl HostOs<'_> {
    /// Why nmap would not accept this fingerprint as a submission (OmitSubmissionFP), if it
    /// would not; then it also stops after two tries and prints its guesses.
    pub fn unsubmittable(&self) -> Option<String> {
        omit_reason(&self.target, self.hop_distance, self.max_timing_ratio)
    }
}

fn omit_reason(target: &OsTarget, distance: Option<i32>, timing_ratio: f64) -> Option<String> {
    if target.open_tcp_port.is_none() {
        return Some("Missing an open TCP port so results incomplete".into());
    }
    if target.closed_tcp_port.is_none() {
        return Some("Missing a closed TCP port so results incomplete".into());
    }
    match distance {
        Some(hops) if hops < -1 => {
            return Some(format!(
                "Host distance ({hops} network hops) appears to be negative"
            ));
        }
        Some(hops) if hops > 5 => {
            return Some(format!(
                "Host distance ({hops} network hops) is greater than five"
            ));
        }
        _ => {}
    }
    (timing_ratio > MAX_TIMING_RATIO)
        .then(|| format!("maxTimingRatio ({timing_ratio:e}) is greater than 1.4"))
}

/// What a host wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Call [`HostScan::poll`] again at this time (or when a reply came).
    At(Instant),
    /// All rounds are done: take the result with [`HostScan::finish`].
    Done,
}

/// A probe of the current round on its way.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: Instant,
    /// Sent once more (or replaced by its fallbacks): no further sending.
    retried: bool,
}

struct Round {
    plan: ProbePlan,
    replies: RoundReplies,
    start: Instant,
    /// The probes of the first sending, with their offsets from `start`, in order.
    schedule: Vec<(Duration, Probe)>,
    next: usize,
    sent: [Option<Sent>; Probe::ALL.len()],
}

/// One host's OS detection in progress.
pub struct HostScan<'db> {
    source: Ipv4Addr,
    identity: OsIdentity,
    max_tries: u8,
    db: Option<&'db OsDb>,
    result: HostOs<'db>,
    round: Round,
    rtt: Rtt,
}

impl<'db> HostScan<'db> {
    /// Starts round one at `now`. `identity` gives the ports and echo ids the replies are
    /// recognised by; `max_tries` (1-[`scanner_common::os::MAX_TRIES`]) caps the rounds.
    pub fn new(
        source: Ipv4Addr,
        target: OsTarget,
        identity: OsIdentity,
        max_tries: u8,
        db: Option<&'db OsDb>,
        now: Instant,
        dice: &mut impl Dice,
    ) -> Self {
        let mut random_port = || 30_000 + dice.u16() % 14_781;
        let closed_tcp_port = target.closed_tcp_port.unwrap_or_else(&mut random_port);
        let closed_udp_port = random_port();
        let result = HostOs {
            target,
            closed_tcp_port,
            closed_udp_port,
            rounds: Vec::new(),
            matches: Vec::new(),
            hop_distance: None,
            max_timing_ratio: 0.0,
            probes_sent: 0,
        };
        let round = new_round(source, &result, &identity, 0, now, dice);
        Self {
            source,
            identity,
            max_tries: max_tries.clamp(1, scanner_common::os::MAX_TRIES),
            db,
            result,
            round,
            rtt: Rtt::default(),
        }
    }

    pub fn address(&self) -> Ipv4Addr {
        self.result.target.address
    }

    /// Hands `send` every IPv4 packet due by `now` (at most once each), closes the round when
    /// nothing more can come and starts the next one; says when to call again.
    pub fn poll(
        &mut self,
        now: Instant,
        dice: &mut impl Dice,
        send: &mut impl FnMut(&[u8]),
    ) -> Next {
        loop {
            if let Some(at) = self.poll_round(now, dice, send) {
                return Next::At(at);
            }
            // The round is over.
            let round = &self.round;
            let fingerprint =
                fingerprint_round(&round.plan, &round.replies, self.result.hop_distance);
            self.result.hop_distance = self.result.hop_distance.or(fingerprint.hop_distance);
            if let (Some(first), Some(last)) = (
                round.replies.seq_sent_at(SeqNo::ALL[0]),
                round.replies.seq_sent_at(SeqNo::ALL[5]),
            ) {
                let ratio =
                    last.saturating_sub(first).as_secs_f64() / (5.0 * SEQ_INTERVAL.as_secs_f64());
                self.result.max_timing_ratio = self.result.max_timing_ratio.max(ratio);
            }
            let perfect = match self.db {
                Some(db) => {
                    let matches = match_fingerprint(&fingerprint.fingerprint, db, GUESS_THRESHOLD);
                    let perfect = matches.perfect > 0;
                    self.result.matches.push(matches);
                    perfect
                }
                None => false,
            };
            self.result.rounds.push(fingerprint);
            let tries = self.result.rounds.len() as u8;
            let limit = match self.result.unsubmittable() {
                Some(_) => self.max_tries.min(UNSUBMITTABLE_TRIES),
                None => self.max_tries,
            };
            if perfect || tries >= limit {
                return Next::Done;
            }
            self.round = new_round(self.source, &self.result, &self.identity, tries, now, dice);
        }
    }

    /// When to look again, or `None` when the round is over.
    fn poll_round(
        &mut self,
        now: Instant,
        dice: &mut impl Dice,
        send: &mut impl FnMut(&[u8]),
    ) -> Option<Instant> {
        let timeout = self.rtt.timeout();
        let round = &mut self.round;
        let mut emit = |round: &mut Round, probe: Probe, sent_count: &mut u32| {
            if let Some(packet) = round.plan.packet(probe, dice.u16()) {
                send(&packet);
                *sent_count += 1;
                round
                    .replies
                    .record_sent(probe, now.duration_since(round.start));
                round.sent[probe.index()] = Some(Sent {
                    at: now,
                    retried: false,
                });
            }
        };
        while let Some(&(offset, probe)) = round.schedule.get(round.next) {
            let due = due(round, offset, probe);
            if due > now {
                return Some(due);
            }
            emit(round, probe, &mut self.result.probes_sent);
            round.next += 1;
        }
        // Everything went out once: retry what timed out, and wait for what may still come.
        let mut wake: Option<Instant> = None;
        for i in 0..round.schedule.len() {
            let probe = round.schedule[i].1;
            let Some(sent) = round.sent[probe.index()] else {
                continue;
            };
            if round.replies.reply(probe).is_some() {
                continue;
            }
            let expires = sent.at + timeout;
            if !sent.retried {
                if expires > now {
                    wake = Some(wake.map_or(expires, |w| w.min(expires)));
                    continue;
                }
                round.sent[probe.index()] = Some(Sent {
                    retried: true,
                    ..sent
                });
                for fallback in retry_of(probe) {
                    emit(round, fallback, &mut self.result.probes_sent);
                    round.sent[fallback.index()] = Some(Sent {
                        at: now,
                        retried: true,
                    });
                    wake = Some(wake.map_or(now + timeout, |w| w.min(now + timeout)));
                }
                continue;
            }
            // Retried: waiting for the retry (or its fallbacks) to be answered or time out.
            for fallback in retry_of(probe) {
                let Some(again) = round.sent[fallback.index()] else {
                    continue;
                };
                let expires = again.at + timeout;
                if round.replies.reply(fallback).is_none() && expires > now {
                    wake = Some(wake.map_or(expires, |w| w.min(expires)));
                }
            }
        }
        wake
    }

    /// Files an IPv4 packet from the target (the XDP program's copy, Ethernet stripped)
    /// that arrived at `now`. Returns whether it answered a probe of this round first.
    pub fn on_reply(&mut self, packet: &[u8], now: Instant) -> bool {
        let round = &mut self.round;
        let Some(probe) = round.replies.record_reply(&round.plan, packet) else {
            return false;
        };
        if let Some(sent) = round.sent[probe.index()]
            && !sent.retried
        {
            self.rtt.sample(now.saturating_duration_since(sent.at));
        }
        true
    }

    pub fn finish(self) -> HostOs<'db> {
        self.result
    }
}

/// What is sent when `probe` got no answer in time: SEQ*n* is followed by nmap's OPS*n*
/// resend (and SEQ1 also by a separate T1, whose test SEQ1's reply would have given); any
/// other probe is sent again.
fn retry_of(probe: Probe) -> impl Iterator<Item = Probe> {
    let (first, second) = match probe {
        Probe::Seq(n) if n == SeqNo::ALL[0] => (Probe::Ops(n), Some(Probe::T(TNo::ALL[0]))),
        Probe::Seq(n) => (Probe::Ops(n), None),
        other => (other, None),
    };
    std::iter::once(first).chain(second)
}

fn new_round(
    source: Ipv4Addr,
    host: &HostOs<'_>,
    identity: &OsIdentity,
    try_index: u8,
    now: Instant,
    dice: &mut impl Dice,
) -> Round {
    let plan = ProbePlan {
        source,
        target: host.target.address,
        open_tcp_port: host.target.open_tcp_port,
        closed_tcp_port: Some(host.closed_tcp_port),
        closed_udp_port: host.closed_udp_port,
        tcp_port_base: identity.tcp_port_base_of(try_index),
        udp_source_port: identity.udp_port_of(try_index),
        tcp_seq_base: dice.u32(),
        tcp_ack: dice.u32(),
        icmp_echo_id: identity.echo_id_base_of(try_index),
        // nmap: a random TTL in 37-59 for the TCP and ICMP probes, 51-64 for U1.
        ttl: 37 + (dice.u16() % 23) as u8,
        udp_ttl: 51 + (dice.u16() % 14) as u8,
        u1_ip_id: U1_IP_ID,
    };
    // Without an open port there is no SEQ phase to wait for.
    let rest_at = match plan.open_tcp_port {
        Some(_) => SEQ_PHASE,
        None => Duration::ZERO,
    };
    let schedule = plan
        .schedule()
        .into_iter()
        .map(|probe| {
            let offset = match probe {
                Probe::Seq(n) => SEQ_INTERVAL * n.index() as u32,
                _ => rest_at,
            };
            (offset, probe)
        })
        .collect();
    Round {
        plan,
        replies: RoundReplies::new(),
        start: now,
        schedule,
        next: 0,
        sent: [None; Probe::ALL.len()],
    }
}

/// When `probe`, scheduled `offset` into the round, may go out: never sooner than one interval
/// after the SEQ probe before it actually went (nmap paces them by the last send, so a late
/// one — a busy CPU — never bunches the next ones, whose spacing SP, ISR and TS measure), and
/// the rest of the round one interval after SEQ6.
fn due(round: &Round, offset: Duration, probe: Probe) -> Instant {
    let scheduled = round.start + offset;
    let after = match probe {
        Probe::Seq(n) => n.index().checked_sub(1).map(|before| SeqNo::ALL[before]),
        _ if offset > Duration::ZERO => Some(SeqNo::ALL[5]),
        _ => None,
    };
    match after.and_then(|seq| round.sent[Probe::Seq(seq).index()]) {
        Some(previous) => scheduled.max(previous.at + SEQ_INTERVAL),
        None => scheduled,
    }
}

/// Round-trip estimate (RFC 6298, as nmap's timing.cc keeps it).
#[derive(Clone, Copy, Debug, Default)]
struct Rtt {
    estimate: Option<(Duration, Duration)>,
}

impl Rtt {
    fn sample(&mut self, rtt: Duration) {
        self.estimate = Some(match self.estimate {
            None => (rtt, rtt / 2),
            Some((srtt, rttvar)) => {
                let delta = srtt.abs_diff(rtt);
                (srtt * 7 / 8 + rtt / 8, rttvar * 3 / 4 + delta / 4)
            }
        });
    }

    fn timeout(&self) -> Duration {
        match self.estimate {
            None => INITIAL_TIMEOUT,
            Some((srtt, rttvar)) => (srtt + rttvar * 4).clamp(MIN_TIMEOUT, MAX_TIMEOUT),
        }
    }
}

#[cfg(test)]
mod tests;
