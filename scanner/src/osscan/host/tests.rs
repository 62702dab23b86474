//! The state machine driven by a synthetic clock (`base` plus whole milliseconds) and
//! counting dice, so every send time and every packet is exact and repeatable.

use scanner_common::checksum::Sum;

use super::*;
use crate::os::{
    packet::{Ipv4, Tcp},
    probes::tcp_flags::{ACK, RST, SYN},
};

const SOURCE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OPEN: u16 = 80;
const CLOSED: u16 = 81;
const IDENTITY: OsIdentity = OsIdentity {
    tcp_port_base: 40_000,
    udp_port_base: 50_000,
    echo_id_base: 0x1234,
};
/// nmap's windows of SEQ1-SEQ6 (prbWindowSz), which tell the SEQ probes apart on the wire.
const SEQ_WINDOWS: [u16; 6] = [1, 63, 4, 4, 16, 512];
/// SEQ1's (and OPS1's and T1's) TCP options: WScale 10, NOP, MSS 1460, Timestamp, SACK.
const SEQ1_OPTIONS: [u8; 20] = [
    3, 3, 10, 1, 2, 4, 0x05, 0xb4, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
];
/// With no replies: a probe is resent 1 s (INITIAL_TIMEOUT) after it left.
const NO_RTT_TIMEOUT_MS: u64 = 1000;

/// Deterministic dice: counts up, so every draw differs and every run is the same.
struct CountingDice(u32);

impl Dice for CountingDice {
    fn u16(&mut self) -> u16 {
        self.0 += 1;
        self.0 as u16
    }
    fn u32(&mut self) -> u32 {
        self.0 += 1;
        self.0.wrapping_mul(0x9e37_79b9)
    }
}

fn target() -> OsTarget {
    OsTarget {
        address: TARGET,
        open_tcp_port: Some(OPEN),
        closed_tcp_port: Some(CLOSED),
    }
}

fn seq(n: usize) -> Probe {
    Probe::Seq(SeqNo::ALL[n - 1])
}

fn ops(n: usize) -> Probe {
    Probe::Ops(SeqNo::ALL[n - 1])
}

fn t(n: u8) -> Probe {
    Probe::T(TNo::new(n).unwrap())
}

/// What follows SEQ6, in the order it goes out.
fn after_seq() -> Vec<Probe> {
    let mut rest = vec![Probe::Ie1, Probe::Ie2, Probe::U1, Probe::Ecn];
    rest.extend((2..=7).map(t));
    rest
}

/// A packet handed out by `poll`, with when (ms after `base`) and what it is on the wire.
#[derive(Clone, Debug)]
struct Out {
    ms: u64,
    round: u8,
    probe: Probe,
    packet: Vec<u8>,
}

/// Which round and probe a sent packet is, read from its ports / echo id alone (the way the
/// replies are filed), checking it goes from SOURCE to TARGET.
fn classify(packet: &[u8]) -> (u8, Probe) {
    let ip = Ipv4::parse(packet).expect("an IPv4 packet");
    assert_eq!((ip.source(), ip.destination()), (SOURCE, TARGET));
    let l4 = ip.payload();
    let be16 = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    match ip.protocol() {
        6 => {
            let offset = be16(0) - IDENTITY.tcp_port_base;
            ((offset / 20) as u8, Probe::ALL[usize::from(offset % 20)])
        }
        1 => {
            assert_eq!(l4[0], 8, "an echo request");
            let offset = be16(4) - IDENTITY.echo_id_base;
            let probe = [Probe::Ie1, Probe::Ie2][usize::from(offset % 2)];
            ((offset / 2) as u8, probe)
        }
        17 => ((be16(0) - IDENTITY.udp_port_base) as u8, Probe::U1),
        other => panic!("protocol {other}"),
    }
}

fn tcp_of(packet: &[u8]) -> Tcp<'_> {
    Tcp::parse(Ipv4::parse(packet).unwrap().payload()).expect("a TCP segment")
}

/// A host scan and everything it handed out, polled on a synthetic clock.
struct Run {
    /// Taken by [`Run::run`] when the scan is done.
    scan: Option<HostScan<'static>>,
    base: Instant,
    dice: CountingDice,
    sent: Vec<Out>,
    next: Next,
    /// When the last poll happened (ms).
    polled: u64,
}

impl Run {
    fn new(target: OsTarget, max_tries: u8) -> Self {
        let base = Instant::now();
        let mut dice = CountingDice(0);
        let scan = HostScan::new(SOURCE, target, IDENTITY, max_tries, None, base, &mut dice);
        Run {
            scan: Some(scan),
            base,
            dice,
            sent: Vec::new(),
            next: Next::At(base),
            polled: 0,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    /// The instant the scan asked for, in whole ms (it never asks for anything finer here).
    fn next_ms(&self) -> Option<u64> {
        match self.next {
            Next::At(at) => {
                let after = at.duration_since(self.base);
                assert_eq!(after.subsec_nanos() % 1_000_000, 0, "{after:?}");
                Some(after.as_millis() as u64)
            }
            Next::Done => None,
        }
    }

    /// Polls at `ms`; returns what went out.
    fn poll(&mut self, ms: u64) -> Vec<Out> {
        let mut packets = Vec::new();
        let at = self.at(ms);
        self.next = self
            .scan
            .as_mut()
            .unwrap()
            .poll(at, &mut self.dice, &mut |p| packets.push(p.to_vec()));
        self.polled = ms;
        let out: Vec<Out> = packets
            .into_iter()
            .map(|packet| {
                let (round, probe) = classify(&packet);
                Out {
                    ms,
                    round,
                    probe,
                    packet,
                }
            })
            .collect();
        self.sent.extend(out.iter().cloned());
        out
    }

    fn reply(&mut self, packet: &[u8], ms: u64) -> bool {
        let at = self.at(ms);
        self.scan.as_mut().unwrap().on_reply(packet, at)
    }

    /// Runs to the end, polling when the scan asks and 1 ms after each probe `answers`
    /// picks (its reply arriving then, as the engine polls on replies).
    fn run(&mut self, answers: impl FnMut(&Out) -> bool) -> HostOs<'static> {
        self.run_from(0, answers)
    }

    /// As [`Run::run`], from a poll at `now` ms.
    fn run_from(&mut self, mut now: u64, mut answers: impl FnMut(&Out) -> bool) -> HostOs<'static> {
        for _ in 0..10_000 {
            let out = self.poll(now);
            let mut replied = false;
            for o in out.iter().filter(|o| answers(o)) {
                assert!(self.reply(&answer(o), now + 1), "{o:?} is answered");
                replied = true;
            }
            now = match self.next_ms() {
                None => {
                    assert!(!replied, "done while replies were due");
                    return self.scan.take().unwrap().finish();
                }
                Some(_) if replied => now + 1,
                Some(next) => {
                    assert!(next > now, "asked to poll at {next} ms at {now} ms");
                    next
                }
            };
        }
        panic!("never done");
    }

    /// (ms, probe) of what round `round` sent, in order.
    fn timeline(&self, round: u8) -> Vec<(u64, Probe)> {
        self.sent
            .iter()
            .filter(|o| o.round == round)
            .map(|o| (o.ms, o.probe))
            .collect()
    }

    fn rounds_sent(&self) -> Vec<u8> {
        let mut rounds: Vec<u8> = self.sent.iter().map(|o| o.round).collect();
        rounds.dedup();
        rounds
    }
}

/// An IPv4 packet from `from` to SOURCE with a valid header checksum.
fn ipv4_from(from: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0x56, 0x78, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&from.octets());
    p.extend_from_slice(&SOURCE.octets());
    let sum = Sum::of(&p).finish();
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The target's answer to `o`, as a cooperative stack gives it: SYN-ACK to the SYNs to the
/// open port, RST to the T probes, an echo reply to IE1/IE2, a port unreachable to U1.
fn answer(o: &Out) -> Vec<u8> {
    answer_from(TARGET, o)
}

fn answer_from(from: Ipv4Addr, o: &Out) -> Vec<u8> {
    let sent = Ipv4::parse(&o.packet).unwrap();
    match o.probe {
        Probe::Ie1 | Probe::Ie2 => {
            let mut icmp = sent.payload().to_vec();
            icmp[0] = 0; // echo reply; id, sequence and data as requested
            icmp[2..4].fill(0);
            let sum = Sum::of(&icmp).finish();
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            ipv4_from(from, 1, &icmp)
        }
        Probe::U1 => {
            // Port unreachable quoting the whole datagram, TTL unchanged: one hop away.
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&o.packet);
            let sum = Sum::of(&icmp).finish();
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            ipv4_from(from, 1, &icmp)
        }
        Probe::T(_) => tcp_reply(from, &o.packet, RST | ACK),
        Probe::Seq(_) | Probe::Ops(_) | Probe::Ecn => tcp_reply(from, &o.packet, SYN | ACK),
    }
}

/// A TCP reply from the probe's destination port to its source port, ack = seq + 1.
fn tcp_reply(from: Ipv4Addr, sent: &[u8], flags: u8) -> Vec<u8> {
    let probe = tcp_of(sent);
    let mut seg = Vec::with_capacity(20);
    seg.extend_from_slice(&probe.destination_port().to_be_bytes());
    seg.extend_from_slice(&probe.source_port().to_be_bytes());
    seg.extend_from_slice(&0x5eed_0000u32.to_be_bytes());
    seg.extend_from_slice(&probe.seq().wrapping_add(1).to_be_bytes());
    seg.extend_from_slice(&[5 << 4, flags]);
    seg.extend_from_slice(&29_200u16.to_be_bytes());
    seg.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    let sum = Sum::of(&from.octets())
        .combine(Sum::of(&SOURCE.octets()))
        .add16(6)
        .add16(seg.len() as u16)
        .combine(Sum::of(&seg))
        .finish();
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    ipv4_from(from, 6, &seg)
}

#[test]
fn round_one_sends_seq_100_ms_apart_then_the_rest_at_600_ms() {
    let mut run = Run::new(target(), 1);
    let mut seq_packets = Vec::new();
    for n in 1..=6 {
        let ms = 100 * (n as u64 - 1);
        if n > 1 {
            // Early: nothing is due, and the scan still asks for the same instant.
            assert!(run.poll(ms - 50).is_empty());
            assert_eq!(run.next_ms(), Some(ms));
        }
        let out = run.poll(ms);
        assert_eq!(out.len(), 1, "one SEQ at {ms} ms");
        assert_eq!((out[0].round, out[0].probe), (0, seq(n)));
        assert_eq!(run.next_ms(), Some(ms + 100));
        seq_packets.push(out[0].packet.clone());
    }
    // The packets themselves are SEQ1..6: nmap's windows, SEQ1's options, seq numbers
    // counting up from the first.
    let tcp: Vec<Tcp> = seq_packets.iter().map(|p| tcp_of(p)).collect();
    let windows: Vec<u16> = tcp.iter().map(|t| t.window()).collect();
    assert_eq!(windows, SEQ_WINDOWS);
    assert_eq!(tcp[0].options(), SEQ1_OPTIONS);
    for (i, segment) in tcp.iter().enumerate() {
        assert_eq!(segment.flags(), SYN);
        assert_eq!(segment.destination_port(), OPEN);
        assert_eq!(segment.source_port(), IDENTITY.tcp_port_base + i as u16);
        assert_eq!(segment.seq().wrapping_sub(tcp[0].seq()), i as u32);
    }

    let out = run.poll(600);
    let rest: Vec<(u64, Probe)> = out.iter().map(|o| (o.ms, o.probe)).collect();
    let expected: Vec<(u64, Probe)> = after_seq().into_iter().map(|p| (600, p)).collect();
    assert_eq!(rest, expected);
    let t7 = tcp_of(&out.last().unwrap().packet);
    assert_eq!((t7.destination_port(), t7.window()), (CLOSED, 65535));
    // Next: SEQ1's timeout, 1 s after it left.
    assert_eq!(run.next_ms(), Some(NO_RTT_TIMEOUT_MS));
}

#[test]
fn unanswered_probes_are_sent_once_more_then_the_round_ends() {
    let mut run = Run::new(target(), 2);
    let host = run.run(|_| false);

    let mut expected: Vec<(u64, Probe)> = (1..=6).map(|n| (100 * (n as u64 - 1), seq(n))).collect();
    expected.extend(after_seq().into_iter().map(|p| (600, p)));
    // Each SEQn by OPSn 1 s after it left; SEQ1 also by T1.
    expected.push((1000, ops(1)));
    expected.push((1000, t(1)));
    expected.extend((2..=6).map(|n| (1000 + 100 * (n as u64 - 1), ops(n))));
    // The rest as themselves, 1 s after 600 ms.
    expected.extend(after_seq().into_iter().map(|p| (1600, p)));
    assert_eq!(run.timeline(0), expected);

    // Each OPS leaves from its own port with SEQn's window and the base sequence number;
    // T1 from port base + 13 with SEQ1's shape.
    let seq1 = tcp_of(&run.sent[0].packet).seq();
    for o in run.sent.iter().filter(|o| o.round == 0) {
        let Probe::Ops(n) = o.probe else { continue };
        let ops = tcp_of(&o.packet);
        assert_eq!(
            ops.source_port(),
            IDENTITY.tcp_port_base + 6 + n.index() as u16
        );
        assert_eq!(ops.destination_port(), OPEN);
        assert_eq!(ops.window(), SEQ_WINDOWS[n.index()]);
        assert_eq!(ops.seq(), seq1);
    }
    let t1 = run.sent.iter().find(|o| o.probe == t(1)).unwrap();
    let t1 = tcp_of(&t1.packet);
    assert_eq!(t1.source_port(), IDENTITY.tcp_port_base + 13);
    assert_eq!((t1.destination_port(), t1.window()), (OPEN, 1));
    assert_eq!(t1.options(), SEQ1_OPTIONS);

    // The last resends (1600 ms) time out at 2600 ms, and round two starts right then from
    // its own ports; it runs just like round one.
    let round2 = run.timeline(1);
    assert_eq!(round2[0], (2600, seq(1)));
    let first = run.sent.iter().find(|o| o.round == 1).unwrap();
    assert_eq!(
        tcp_of(&first.packet).source_port(),
        IDENTITY.tcp_port_base_of(1)
    );
    let shifted: Vec<(u64, Probe)> = expected.iter().map(|&(ms, p)| (ms + 2600, p)).collect();
    assert_eq!(round2, shifted);
    assert_eq!(run.polled, 5200, "done when round two's resends time out");

    assert_eq!(host.rounds.len(), 2);
    assert_eq!(host.probes_sent, 2 * (16 + 17));
    // Nothing answered: the ten tests with an R attribute say R=N.
    let text = host.rounds[0].fingerprint.to_string();
    assert_eq!(text.matches("R=N").count(), 10, "{text}");
    assert_eq!(host.rounds[0].hop_distance, None);
}

#[test]
fn a_fully_answered_round_ends_at_its_last_reply() {
    for max_tries in [1, 2, 3] {
        let mut run = Run::new(target(), max_tries);
        let host = run.run(|_| true);

        // Every round: sixteen probes on nmap's schedule, nothing resent, and the next
        // round starts as the last reply (1 ms after 600 ms) comes, not at a timeout.
        for round in 0..max_tries {
            let start = 601 * u64::from(round);
            let mut expected: Vec<(u64, Probe)> = (1..=6)
                .map(|n| (start + 100 * (n as u64 - 1), seq(n)))
                .collect();
            expected.extend(after_seq().into_iter().map(|p| (start + 600, p)));
            assert_eq!(run.timeline(round), expected, "round {round}");
        }
        if max_tries > 1 {
            let first = run.sent.iter().find(|o| o.round == 1).unwrap();
            assert_eq!(
                tcp_of(&first.packet).source_port(),
                IDENTITY.tcp_port_base_of(1)
            );
        }
        assert_eq!(
            run.polled,
            601 * u64::from(max_tries),
            "Done at the last reply"
        );
        assert_eq!(run.sent.len(), 16 * usize::from(max_tries));

        assert_eq!(host.rounds.len(), usize::from(max_tries));
        assert_eq!(host.probes_sent, 16 * u32::from(max_tries));
        assert!(host.matches.is_empty(), "no database, no matches");
        for round in &host.rounds {
            let text = round.fingerprint.to_string();
            assert_eq!(text.matches("R=Y").count(), 10, "{text}");
            assert!(!text.contains("R=N"), "{text}");
        }
        assert_eq!(
            host.hop_distance,
            Some(1),
            "U1 quoted with its TTL unchanged"
        );
        assert!((host.max_timing_ratio - 1.0).abs() < 1e-9);
        assert_eq!(host.unsubmittable(), None);
    }
}

#[test]
fn a_duplicate_reply_is_not_filed_twice() {
    let mut run = Run::new(target(), 1);
    let out = run.poll(0);
    let reply = answer(&out[0]);
    assert!(run.reply(&reply, 1));
    assert!(!run.reply(&reply, 2));
}

#[test]
fn max_tries_caps_the_rounds() {
    let mut run = Run::new(target(), 3);
    let host = run.run(|_| false);
    assert_eq!(run.rounds_sent(), [0, 1, 2]);
    assert_eq!(host.rounds.len(), 3);
    assert_eq!(run.polled, 3 * 2600);
    for round in 0..3 {
        let first = run.sent.iter().find(|o| o.round == round).unwrap();
        assert_eq!(first.probe, seq(1));
        assert_eq!(
            tcp_of(&first.packet).source_port(),
            IDENTITY.tcp_port_base_of(round)
        );
    }
}

#[test]
fn an_unsubmittable_fingerprint_stops_after_two_rounds() {
    // No closed port known: T5-T7 still go, to a random port, but nmap would not accept
    // the fingerprint, so it stops after STANDARD_OS2_TRIES.
    let mut run = Run::new(
        OsTarget {
            closed_tcp_port: None,
            ..target()
        },
        5,
    );
    let host = run.run(|_| false);
    assert_eq!(run.rounds_sent(), [0, 1]);
    assert_eq!(host.rounds.len(), 2);
    assert!(host.unsubmittable().unwrap().contains("closed TCP port"));
    assert!((30_000..=44_780).contains(&host.closed_tcp_port));
    let t5 = run.sent.iter().find(|o| o.probe == t(5)).unwrap();
    assert_eq!(tcp_of(&t5.packet).destination_port(), host.closed_tcp_port);

    // No open port: no SEQ, OPS, ECN or T1-T4, each probe sent twice per round, and
    // two rounds.
    let mut run = Run::new(
        OsTarget {
            open_tcp_port: None,
            ..target()
        },
        5,
    );
    let host = run.run(|_| false);
    assert_eq!(host.rounds.len(), 2);
    assert!(host.unsubmittable().unwrap().contains("open TCP port"));
    let probes: Vec<Probe> = run.sent.iter().map(|o| o.probe).collect();
    let sending = [Probe::Ie1, Probe::Ie2, Probe::U1, t(5), t(6), t(7)];
    assert_eq!(probes, [sending; 4].concat());
    // No SEQ phase to wait for: round one's probes all leave at once, at the start.
    assert!(run.sent[..sending.len()].iter().all(|out| out.ms == 0));
}

#[test]
fn a_late_poll_sends_one_seq_and_paces_the_next_from_it() {
    // The caller is late (a busy CPU): at 350 ms only SEQ2 goes, and each next SEQ waits
    // 100 ms after the one before actually left, as nmap paces them by the last send, so
    // the spacing SP, ISR and TS measure is never bunched. The rest follows SEQ6 by 100 ms.
    let mut run = Run::new(target(), 1);
    assert_eq!(run.poll(0).len(), 1);
    let late: Vec<Probe> = run.poll(350).iter().map(|o| o.probe).collect();
    assert_eq!(late, [seq(2)]);
    assert_eq!(run.next_ms(), Some(450));
    for n in 3..=6 {
        let ms = 450 + 100 * (n as u64 - 3);
        assert!(run.poll(ms - 1).is_empty(), "SEQ{n} not before {ms} ms");
        let out: Vec<Probe> = run.poll(ms).iter().map(|o| o.probe).collect();
        assert_eq!(out, [seq(n)], "at {ms} ms");
    }
    assert!(run.poll(849).is_empty());
    let rest: Vec<Probe> = run.poll(850).iter().map(|o| o.probe).collect();
    assert_eq!(rest, after_seq());
}

#[test]
fn late_seq_probes_make_the_fingerprint_unsubmittable() {
    // The caller polls at 800 ms instead of 100 ms: SEQ2 goes then and SEQ3-SEQ6 100 ms
    // apart after it, so SEQ1 to SEQ6 take 1200 ms, 2.4 times the 500 ms planned (over
    // nmap's 1.4): two rounds at most.
    let mut run = Run::new(target(), 5);
    assert_eq!(run.poll(0).len(), 1);
    let late: Vec<Probe> = run.poll(800).iter().map(|o| o.probe).collect();
    assert_eq!(late, [seq(2)]);
    let host = run.run_from(800, |_| false);
    assert_eq!(host.rounds.len(), 2);
    assert!((host.max_timing_ratio - 2.4).abs() < 1e-9);
    assert!(host.unsubmittable().unwrap().contains("maxTimingRatio"));
}

#[test]
fn a_measured_rtt_shrinks_the_timeout_to_its_minimum() {
    // Everything but U1 answered 1 ms after it left: U1 is resent 100 ms after it left
    // (srtt + 4 rttvar is 3 ms, below the 100 ms floor), not 1 s.
    let mut run = Run::new(target(), 1);
    let host = run.run(|o| o.probe != Probe::U1);
    let u1: Vec<u64> = run
        .sent
        .iter()
        .filter(|o| o.probe == Probe::U1)
        .map(|o| o.ms)
        .collect();
    assert_eq!(u1, [600, 700]);
    assert_eq!(run.sent.len(), 17, "nothing else resent");
    assert_eq!(run.polled, 800, "the round ends when U1's resend times out");
    assert_eq!(host.probes_sent, 17);
}

#[test]
fn a_reply_to_a_resent_probe_gives_no_rtt_sample() {
    // Only IE1's resend (1600 ms) is answered, 1 ms later. Karn's rule: which sending it
    // answers is unknown, so the timeout stays 1 s and the round still ends at 2600 ms
    // (a 1 ms sample would have ended it at 1700 ms).
    let mut run = Run::new(target(), 1);
    let host = run.run(|o| o.probe == Probe::Ie1 && o.ms == 1600);
    assert_eq!(run.polled, 2600);
    assert_eq!(host.probes_sent, 16 + 17);
}

#[test]
fn replies_from_elsewhere_or_to_other_rounds_are_ignored() {
    let mut run = Run::new(target(), 2);
    let out = run.poll(0);
    let seq1 = out[0].clone();

    // SEQ1's reply, but from another host: not filed.
    let stranger = Ipv4Addr::new(198, 18, 0, 3);
    assert!(!run.reply(&answer_from(stranger, &seq1), 1));
    // A reply to the port SEQ1 will have in round two: not filed now.
    let mut early = seq1.clone();
    early.packet[20..22].copy_from_slice(&IDENTITY.tcp_port_base_of(1).to_be_bytes());
    assert!(!run.reply(&answer(&early), 1));

    // Run round one out unanswered, keeping its packets; then offer their replies in
    // round two: all late, all ignored, and round two still resends everything.
    let mut now = 0;
    for _ in 0..100 {
        let next = run.next_ms().unwrap();
        assert!(next > now, "asked to poll at {next} ms at {now} ms");
        now = next;
        if run.poll(now).iter().any(|o| o.round == 1) {
            break;
        }
    }
    assert_eq!(now, 2600);
    // The two stray replies did not count as SEQ1's: it got its OPS1 and T1 fallbacks.
    assert!(run.timeline(0).contains(&(1000, ops(1))));
    assert!(run.timeline(0).contains(&(1000, t(1))));
    let old: Vec<Out> = run.sent.iter().filter(|o| o.round == 0).cloned().collect();
    for o in &old {
        assert!(!run.reply(&answer(o), now), "{:?} from round one", o.probe);
    }
    let host = run.run_from(now, |_| false);
    assert_eq!(host.rounds.len(), 2);
    assert_eq!(run.timeline(1).len(), 16 + 17, "round two got no answer");
}

#[test]
fn a_reply_from_another_port_than_the_probe_went_to_is_not_filed() {
    // A port scan's SYN-ACK from the open port, retransmitted late to a source port that is
    // also T7's (which went to the closed port), is no answer to T7.
    let mut run = Run::new(target(), 1);
    let mut now = 0;
    let t7 = loop {
        if let Some(o) = run.poll(now).into_iter().find(|o| o.probe == t(7)) {
            break o;
        }
        now = run.next_ms().expect("T7 is sent in round one");
    };
    let mut from_open_port = t7.packet.clone();
    from_open_port[22..24].copy_from_slice(&OPEN.to_be_bytes());
    assert!(!run.reply(&tcp_reply(TARGET, &from_open_port, SYN | ACK), now + 1));
    assert!(
        run.reply(&answer(&t7), now + 2),
        "T7's own answer still counts"
    );
}
