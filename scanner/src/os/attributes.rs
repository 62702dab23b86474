//! The response tests of one round, from the raw replies and what was sent (osscan2.cc:
//! processResp and its process*Resp helpers, makeFP). Replies that do not parse count as
//! missing, as nmap drops them before any test looks at them.

use super::fingerprint::{SubjectFingerprint, Test, TestName};
use super::packet::{Icmp, Ipv4, Tcp};
use super::probes::{
    Probe, ProbePlan, SeqNo, TNo, U1_IP_LEN, U1_PAYLOAD_BYTE,
    tcp_flags::{ACK, CWR, ECE, FIN, PSH, RST, SYN, URG},
};
use super::replies::RoundReplies;
use super::sequence::{SeqInputs, SeqSample, seq_test};
use super::tcp_options;

use scanner_common::checksum::Sum;

/// One round's fingerprint and what it taught about the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundFingerprint {
    pub fingerprint: SubjectFingerprint,
    /// Hops to the target, from the TTL quoted in U1's reply (nmap's hss->distance):
    /// `udp_ttl - quoted TTL + 1`. Can be below 1 for odd paths, as in nmap.
    pub hop_distance: Option<i32>,
}

/// Computes the thirteen tests of a round. `known_distance` is a hop distance learnt in an
/// earlier round (nmap keeps the first one it learns); this round's U1 reply is used only
/// when there is none.
pub fn fingerprint_round(
    plan: &ProbePlan,
    replies: &RoundReplies,
    known_distance: Option<i32>,
) -> RoundFingerprint {
    let tcp_reply = |probe| {
        let ip = Ipv4::parse(replies.reply(probe)?)?;
        Some((ip, Tcp::parse(ip.payload())?))
    };
    // nmap takes whichever of two replies filling one test came first.
    let first_tcp_reply = |a: Probe, b: Probe| match (tcp_reply(a), tcp_reply(b)) {
        (Some(x), Some(y)) => Some(if replies.arrived_after(a, b) { y } else { x }),
        (x, y) => x.or(y),
    };

    let mut fp = SubjectFingerprint::default();
    let mut seq_inputs = seq_inputs(replies, &tcp_reply);

    let ops_replies: Vec<_> = SeqNo::ALL
        .iter()
        .filter_map(|&n| first_tcp_reply(Probe::Seq(n), Probe::Ops(n)))
        .collect();
    if ops_replies.len() == 6 {
        let mut ops = Test::new(TestName::Ops);
        let mut win = Test::new(TestName::Win);
        for (i, (_, tcp)) in ops_replies.iter().enumerate() {
            ops.set(TestName::Ops.attributes()[i], options(tcp));
            win.set(TestName::Win.attributes()[i], hex(tcp.window()));
        }
        fp.insert(ops);
        fp.insert(win);
    }

    if let Some((ip, tcp)) = tcp_reply(Probe::Ecn) {
        fp.insert(ecn_test(&ip, &tcp));
    }
    for t in TNo::ALL {
        let reply = if t.number() == 1 {
            first_tcp_reply(Probe::Seq(SeqNo::ALL[0]), Probe::T(t))
        } else {
            tcp_reply(Probe::T(t))
        };
        if let Some((ip, tcp)) = reply {
            fp.insert(t_test(t, plan, &ip, &tcp));
            if t.to_closed_port() {
                seq_inputs.closed_ip_ids.push(ip.id());
            }
        }
    }

    let mut hop_distance = known_distance;
    if let Some((test, distance)) = replies.reply(Probe::U1).and_then(|r| u1_test(plan, r)) {
        fp.insert(test);
        hop_distance.get_or_insert(distance);
    }

    let echoes = [Probe::Ie1, Probe::Ie2].map(|p| {
        let ip = Ipv4::parse(replies.reply(p)?)?;
        Some((ip, Icmp::parse(ip.payload())?))
    });
    for (ip, _) in echoes.iter().flatten() {
        seq_inputs.icmp_ip_ids.push(ip.id());
    }
    if let [Some(first), Some(second)] = &echoes {
        // TTL comes from the reply that completed the pair.
        let last = if replies.arrived_after(Probe::Ie1, Probe::Ie2) {
            first
        } else {
            second
        };
        fp.insert(ie_test(first, second, &last.0));
    }

    fp.insert(seq_test(&seq_inputs));
    finish(&mut fp, plan, hop_distance);
    RoundFingerprint {
        fingerprint: fp,
        hop_distance,
    }
}

/// The SEQ samples: SYN-ACKs to SEQ1-SEQ6 in probe order, skipping repeated IP IDs (nmap's
/// guard against duplicated packets) and resets.
fn seq_inputs<'a>(
    replies: &'a RoundReplies,
    tcp_reply: &impl Fn(Probe) -> Option<(Ipv4<'a>, Tcp<'a>)>,
) -> SeqInputs {
    let mut inputs = SeqInputs::default();
    let mut last_ip_id = 0;
    for n in SeqNo::ALL {
        let (Some((ip, tcp)), Some(sent_at)) = (tcp_reply(Probe::Seq(n)), replies.seq_sent_at(n))
        else {
            continue;
        };
        if last_ip_id != 0 && ip.id() == last_ip_id {
            continue;
        }
        last_ip_id = ip.id();
        if tcp.flags() & RST != 0 || tcp.flags() & (SYN | ACK) != SYN | ACK {
            continue;
        }
        inputs.samples.push(SeqSample {
            sent_at,
            isn: tcp.seq(),
            timestamp: tcp_options::timestamp(tcp.options()),
        });
        inputs.tcp_ip_ids.push(ip.id());
    }
    inputs
}

fn hex(value: impl Into<u32>) -> String {
    format!("{:X}", value.into())
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// O: the option string, empty when the options are malformed.
fn options(tcp: &Tcp) -> String {
    tcp_options::option_string(tcp.options()).unwrap_or_default()
}

/// Q: `R` for a non-zero reserved field, `U` for an urgent pointer without URG.
fn quirks(tcp: &Tcp) -> String {
    let mut q = String::new();
    if tcp.reserved() != 0 {
        q.push('R');
    }
    if tcp.flags() & URG == 0 && tcp.urgent_pointer() != 0 {
        q.push('U');
    }
    q
}

fn ecn_test(ip: &Ipv4, tcp: &Tcp) -> Test<String> {
    let mut test = Test::new(TestName::Ecn);
    test.set("R", "Y");
    test.set("DF", yes_no(ip.dont_fragment()));
    test.set("T", hex(ip.ttl()));
    test.set("W", hex(tcp.window()));
    test.set("O", options(tcp));
    let (ece, cwr) = (tcp.flags() & ECE != 0, tcp.flags() & CWR != 0);
    let cc = match (ece, cwr) {
        (true, true) => "S",  // both echoed back
        (true, false) => "Y", // ECN supported
        (false, false) => "N",
        (false, true) => "O",
    };
    test.set("CC", cc);
    test.set("Q", quirks(tcp));
    test
}

fn t_test(t: TNo, plan: &ProbePlan, ip: &Ipv4, tcp: &Tcp) -> Test<String> {
    let name = TestName::t(t.number()).expect("TNo is 1-7");
    let mut test = Test::new(name);
    test.set("R", "Y");
    test.set("DF", yes_no(ip.dont_fragment()));
    test.set("T", hex(ip.ttl()));
    // T1 is a SYN-ACK to SEQ1, whose window and options OPS and WIN already record.
    if t.number() != 1 {
        test.set("W", hex(tcp.window()));
    }
    let seq = match tcp.seq() {
        0 => "Z",
        s if s == plan.tcp_ack => "A",
        s if s == plan.tcp_ack.wrapping_add(1) => "A+",
        _ => "O",
    };
    test.set("S", seq);
    let ack = match tcp.ack() {
        0 => "Z",
        a if a == plan.tcp_seq_base => "S",
        a if a == plan.tcp_seq_base.wrapping_add(1) => "S+",
        _ => "O",
    };
    test.set("A", ack);
    let flags: String = [
        (ECE, 'E'),
        (URG, 'U'),
        (ACK, 'A'),
        (PSH, 'P'),
        (RST, 'R'),
        (SYN, 'S'),
        (FIN, 'F'),
    ]
    .iter()
    .filter(|(bit, _)| tcp.flags() & bit != 0)
    .map(|(_, c)| c)
    .collect();
    test.set("F", flags);
    if t.number() != 1 {
        test.set("O", options(tcp));
    }
    // RD: the CRC-32 of data in a reset (some stacks explain the reset in text).
    let rd = if tcp.flags() & RST != 0 && !tcp.payload().is_empty() {
        hex(crc32(tcp.payload()))
    } else {
        "0".into()
    };
    test.set("RD", rd);
    test.set("Q", quirks(tcp));
    test
}

/// U1 from the port unreachable, and the hop distance its quoted TTL gives.
fn u1_test(plan: &ProbePlan, packet: &[u8]) -> Option<(Test<String>, i32)> {
    let ip = Ipv4::parse(packet)?;
    let icmp = Icmp::parse(ip.payload())?;
    let quoted = icmp.quoted_udp()?;
    let mut test = Test::new(TestName::U1);
    test.set("R", "Y");
    test.set("DF", yes_no(ip.dont_fragment()));
    test.set("T", hex(ip.ttl()));
    test.set("IPL", hex(ip.total_length()));
    test.set("UN", hex(icmp.unused()));
    let quoted_len = quoted.ip.total_length();
    test.set(
        "RIPL",
        if quoted_len == U1_IP_LEN {
            "G".into()
        } else {
            hex(quoted_len)
        },
    );
    let quoted_id = quoted.ip.id();
    test.set(
        "RID",
        if quoted_id == plan.u1_ip_id {
            "G".into()
        } else {
            hex(quoted_id)
        },
    );
    test.set("RIPCK", quoted_ip_checksum(quoted.ip.header()));
    let ruck = quoted.checksum;
    test.set(
        "RUCK",
        if ruck == plan.u1_udp_checksum() {
            "G".into()
        } else {
            hex(ruck)
        },
    );
    let intact = quoted.payload.iter().all(|&b| b == U1_PAYLOAD_BYTE);
    test.set("RUD", if intact { "G" } else { "I" });
    let distance = i32::from(plan.udp_ttl) - i32::from(quoted.ip.ttl()) + 1;
    Some((test, distance))
}

/// RIPCK: `Z` for a zeroed checksum, `G` if it is right for the quoted header's first 20
/// bytes (what nmap sums, options or not), `I` if the target changed the header under it.
fn quoted_ip_checksum(header: &[u8]) -> &'static str {
    let stored = u16::from_be_bytes([header[10], header[11]]);
    if stored == 0 {
        return "Z";
    }
    let mut copy = [0u8; 20];
    copy.copy_from_slice(&header[..20]);
    copy[10..12].fill(0);
    if Sum::of(&copy).finish() == stored {
        "G"
    } else {
        "I"
    }
}

fn ie_test(first: &(Ipv4, Icmp), second: &(Ipv4, Icmp), last: &Ipv4) -> Test<String> {
    let mut test = Test::new(TestName::Ie);
    test.set("R", "Y");
    // IE1 asked for DF, IE2 did not.
    let dfi = match (first.0.dont_fragment(), second.0.dont_fragment()) {
        (true, true) => "Y",
        (true, false) => "S",
        (false, false) => "N",
        (false, true) => "O",
    };
    test.set("DFI", dfi);
    test.set("T", hex(last.ttl()));
    // IE1 carried code 9, IE2 code 0.
    let cd = match (first.1.code(), second.1.code()) {
        (0, 0) => "Z".into(),
        (a, b) if a == b => hex(a),
        (9, 0) => "S".into(),
        _ => "O".into(),
    };
    test.set("CD", cd);
    test
}

/// makeFP: R=N for tests whose probes went out unanswered, and received TTLs turned into
/// initial TTLs: exact (T) when the hop distance is known, else a guess (TG).
fn finish(fp: &mut SubjectFingerprint, plan: &ProbePlan, hop_distance: Option<i32>) {
    for name in &TestName::ALL[TestName::Ecn.index()..] {
        let sent = match name {
            TestName::Ecn | TestName::T1 | TestName::T2 | TestName::T3 | TestName::T4 => {
                plan.open_tcp_port.is_some()
            }
            TestName::T5 | TestName::T6 | TestName::T7 => plan.closed_tcp_port.is_some(),
            _ => true,
        };
        match fp.test_mut(*name) {
            Some(test) => {
                let Some(ttl) = test
                    .remove("T")
                    .and_then(|t| u32::from_str_radix(&t, 16).ok())
                else {
                    continue;
                };
                match hop_distance {
                    // nmap's int arithmetic, printed with %X.
                    Some(hops) => test.set("T", format!("{:X}", (ttl as i32 + hops - 1) as u32)),
                    None => test.set("TG", hex(initial_ttl_guess(ttl))),
                }
            }
            None if sent => {
                let mut test = Test::new(*name);
                test.set("R", "N");
                fp.insert(test);
            }
            None => {}
        }
    }
}

/// The usual initial TTL at or above `ttl` (get_initial_ttl_guess; 60 rounds to 64).
fn initial_ttl_guess(ttl: u32) -> u32 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

/// CRC-32 (IEEE 802.3, as zlib and nmap's nbase_crc32).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests;
