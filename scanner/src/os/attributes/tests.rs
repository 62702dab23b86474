use std::time::Duration;

use super::*;
use crate::os::probes::tests::plan;

/// An IPv4 header from the target to the plan's source.
fn ip(plan: &ProbePlan, proto: u8, ttl: u8, df: bool, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
    p.extend_from_slice(&[ttl, proto, 0, 0]);
    p.extend_from_slice(&plan.target.octets());
    p.extend_from_slice(&plan.source.octets());
    let sum = Sum::of(&p).finish();
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

struct Seg<'a> {
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: &'a [u8],
    data: &'a [u8],
    x2: u8,
    urgent: u16,
}

const LINUX_OPTS: [u8; 20] = [
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0x10, 0, 0xff, 0xff, 0xff, 0xff, 1, 3, 3, 7,
];

fn seg(seq: u32, ack: u32, flags: u8, window: u16) -> Seg<'static> {
    Seg {
        seq,
        ack,
        flags,
        window,
        options: &[],
        data: &[],
        x2: 0,
        urgent: 0,
    }
}

/// A TCP reply to `probe`, from the port it went to.
fn tcp(plan: &ProbePlan, probe: Probe, id: u16, df: bool, s: Seg) -> Vec<u8> {
    let offset = probe.index() as u16;
    let mut t = Vec::new();
    // From the port the probe went to.
    let from = plan.tcp_destination(probe).unwrap_or(80);
    t.extend_from_slice(&from.to_be_bytes());
    t.extend_from_slice(&(plan.tcp_port_base + offset).to_be_bytes());
    t.extend_from_slice(&s.seq.to_be_bytes());
    t.extend_from_slice(&s.ack.to_be_bytes());
    t.push((((20 + s.options.len()) / 4) as u8) << 4 | s.x2);
    t.push(s.flags);
    t.extend_from_slice(&s.window.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&s.urgent.to_be_bytes());
    t.extend_from_slice(s.options);
    t.extend_from_slice(s.data);
    ip(plan, 6, 64, df, id, &t)
}

fn echo_reply(plan: &ProbePlan, second: bool, code: u8, df: bool, id: u16) -> Vec<u8> {
    let mut icmp = vec![0, code, 0, 0];
    icmp.extend_from_slice(&(plan.icmp_echo_id.wrapping_add(second as u16)).to_be_bytes());
    icmp.extend_from_slice(&(295 + second as u16).to_be_bytes());
    icmp.resize(8 + 120, 0);
    ip(plan, 1, 64, df, id, &icmp)
}

/// Linux's port unreachable: the whole U1 datagram quoted, TTL as U1 arrived (one hop).
fn port_unreachable(plan: &ProbePlan, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut quoted = plan.packet(Probe::U1, 0).unwrap();
    edit(&mut quoted);
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    ip(plan, 1, 64, false, 0x3456, &icmp)
}

fn linux_round(plan: &ProbePlan) -> RoundReplies {
    let mut r = RoundReplies::new();
    let syn_ack = |n: u32| Seg {
        options: &LINUX_OPTS,
        ..seg(
            0x5000_0000 + n * 1_000_003,
            plan.tcp_seq_base + n + 1,
            SYN | ACK,
            0xfe88,
        )
    };
    for n in SeqNo::ALL {
        r.record_sent(Probe::Seq(n), Duration::from_millis(100 * n.index() as u64));
        let reply = tcp(plan, Probe::Seq(n), 0, true, syn_ack(n.index() as u32));
        assert_eq!(r.record_reply(plan, &reply), Some(Probe::Seq(n)));
    }
    let ecn = Seg {
        options: &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7],
        ..seg(0x7000_0000, plan.tcp_seq_base + 1, SYN | ACK | ECE, 0xfaf0)
    };
    r.record_reply(plan, &tcp(plan, Probe::Ecn, 0, true, ecn));
    let t = |n| Probe::T(TNo::new(n).unwrap());
    r.record_reply(
        plan,
        &tcp(plan, t(4), 0, true, seg(plan.tcp_ack, 0, RST, 0)),
    );
    r.record_reply(
        plan,
        &tcp(
            plan,
            t(5),
            0,
            true,
            seg(0, plan.tcp_seq_base + 1, ACK | RST, 0),
        ),
    );
    r.record_reply(
        plan,
        &tcp(plan, t(6), 0, true, seg(plan.tcp_ack, 0, RST, 0)),
    );
    r.record_reply(
        plan,
        &tcp(
            plan,
            t(7),
            0,
            true,
            seg(0, plan.tcp_seq_base + 1, ACK | RST, 0),
        ),
    );
    r.record_reply(plan, &port_unreachable(plan, |_| {}));
    r.record_reply(plan, &echo_reply(plan, false, 0, false, 0x1000));
    r.record_reply(plan, &echo_reply(plan, true, 0, false, 0x1001));
    r
}

#[test]
fn a_linux_round() {
    let p = plan();
    let fp = fingerprint_round(&p, &linux_round(&p), None);
    assert_eq!(fp.hop_distance, Some(1));
    // ISN +1000003 per 100 ms: 10000030/s, log2 * 8 = 186.1 -> BA; GCD 1000003 = F4243.
    // Timestamps: 0x1000 constant -> TS omitted.
    assert_eq!(
        fp.fingerprint.to_string(),
        "SEQ(SP=0%GCD=F4243%ISR=BA%TI=Z%CI=Z%II=I)
OPS(O1=M5B4ST11NW7%O2=M5B4ST11NW7%O3=M5B4ST11NW7%O4=M5B4ST11NW7%O5=M5B4ST11NW7%O6=M5B4ST11NW7)
WIN(W1=FE88%W2=FE88%W3=FE88%W4=FE88%W5=FE88%W6=FE88)
ECN(R=Y%DF=Y%T=40%W=FAF0%O=M5B4NNSNW7%CC=Y%Q=)
T1(R=Y%DF=Y%T=40%S=O%A=S+%F=AS%RD=0%Q=)
T2(R=N)
T3(R=N)
T4(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)
T5(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
T6(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)
T7(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
U1(R=Y%DF=N%T=40%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)
IE(R=Y%DFI=N%T=40%CD=Z)
"
    );
}

#[test]
fn without_u1_ttls_are_guessed_and_missing_tests_say_r_n() {
    let p = plan();
    let mut r = RoundReplies::new();
    let t3 = Seg {
        data: b"no",
        x2: 1,
        urgent: 7,
        ..seg(
            p.tcp_ack + 1,
            p.tcp_seq_base,
            SYN | FIN | PSH | RST | ECE,
            5,
        )
    };
    r.record_reply(&p, &tcp(&p, Probe::T(TNo::new(3).unwrap()), 9, false, t3));
    let fp = fingerprint_round(&p, &r, None).fingerprint;
    let text = fp.to_string();
    assert!(
        text.contains("T3(R=Y%DF=N%TG=40%W=5%S=A+%A=S%F=EPRSF%O=%RD=67AA281F%Q=RU)"),
        "{text}"
    );
    for absent in ["ECN(R=N)", "T1(R=N)", "T7(R=N)", "U1(R=N)", "IE(R=N)"] {
        assert!(text.contains(absent), "{absent} in {text}");
    }
    assert!(fp.test(TestName::Ops).is_none() && fp.test(TestName::Win).is_none());
    assert_eq!(fp.test(TestName::Seq).unwrap().to_string(), "SEQ()");

    // Without ports nothing was sent: only U1, IE and SEQ remain.
    let no_ports = ProbePlan {
        open_tcp_port: None,
        closed_tcp_port: None,
        ..p
    };
    let fp = fingerprint_round(&no_ports, &RoundReplies::new(), Some(3)).fingerprint;
    assert_eq!(fp.to_string(), "SEQ()\nU1(R=N)\nIE(R=N)\n");
}

#[test]
fn u1_reports_what_the_target_changed_in_the_quote() {
    let p = plan();
    let reply = port_unreachable(&p, |q| {
        q[3] = q[3].wrapping_add(20); // total length +20 in the quote
        q[5] ^= 1; // IP ID
        q[8] = 55; // TTL seen five hops in
        q[26] ^= 0xff; // UDP checksum
        q[100] = b'X'; // payload
        q.truncate(200); // a short quote
    });
    let mut r = RoundReplies::new();
    assert_eq!(r.record_reply(&p, &reply), Some(Probe::U1));
    let out = fingerprint_round(&p, &r, None);
    assert_eq!(out.hop_distance, Some(6), "udp_ttl 60 - 55 + 1");
    let u1 = out.fingerprint.test(TestName::U1).unwrap().to_string();
    let ruck = p.u1_udp_checksum() ^ 0xff00;
    assert_eq!(
        u1,
        format!("U1(R=Y%DF=N%T=45%IPL=E4%UN=0%RIPL=15C%RID=1043%RIPCK=I%RUCK={ruck:X}%RUD=I)")
    );

    let zero_checksum = port_unreachable(&p, |q| q[10..12].fill(0));
    let mut r = RoundReplies::new();
    r.record_reply(&p, &zero_checksum);
    let u1 = fingerprint_round(&p, &r, Some(2)).fingerprint;
    assert_eq!(u1.test(TestName::U1).unwrap().get("RIPCK").unwrap(), "Z");
    assert_eq!(
        u1.test(TestName::U1).unwrap().get("T").unwrap(),
        "41",
        "64 + 2 - 1"
    );
}

#[test]
fn ie_codes_and_df() {
    let p = plan();
    let mut r = RoundReplies::new();
    r.record_reply(&p, &echo_reply(&p, true, 0, false, 7));
    r.record_reply(&p, &echo_reply(&p, false, 9, true, 8));
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(
        fp.test(TestName::Ie).unwrap().to_string(),
        "IE(R=Y%DFI=S%T=40%CD=S)"
    );
    let mut r = RoundReplies::new();
    r.record_reply(&p, &echo_reply(&p, false, 4, false, 7));
    r.record_reply(&p, &echo_reply(&p, true, 4, true, 8));
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(
        fp.test(TestName::Ie).unwrap().to_string(),
        "IE(R=Y%DFI=O%T=40%CD=4)"
    );
    // II needs two replies; one gives R=N and no II.
    let mut r = RoundReplies::new();
    r.record_reply(&p, &echo_reply(&p, false, 0, false, 7));
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(fp.test(TestName::Ie).unwrap().to_string(), "IE(R=N)");
}

#[test]
fn ecn_quirks() {
    let p = plan();
    let ecn = Seg {
        x2: 8,
        urgent: 0xF7F5,
        options: &[2, 6, 5, 0], // an MSS option claiming 6 bytes of 4: O= (empty)
        ..seg(1, 2, SYN | ACK | ECE | CWR, 0x2000)
    };
    let mut r = RoundReplies::new();
    r.record_reply(&p, &tcp(&p, Probe::Ecn, 1, false, ecn));
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(
        fp.test(TestName::Ecn).unwrap().to_string(),
        "ECN(R=Y%DF=N%T=40%W=2000%O=%CC=S%Q=RU)"
    );
}

#[test]
fn truncated_and_hostile_replies_never_panic() {
    let p = plan();
    let full = linux_round(&p);
    let replies: Vec<Vec<u8>> = full
        .answered()
        .map(|probe| full.reply(probe).unwrap().to_vec())
        .collect();
    for reply in &replies {
        for end in 0..=reply.len() {
            let mut r = RoundReplies::new();
            r.record_reply(&p, &reply[..end]);
            let _ = fingerprint_round(&p, &r, None);
            // Every header field overwritten with junk, one byte at a time.
            if end < reply.len() && end < 64 {
                let mut bent = reply.clone();
                bent[end] ^= 0xff;
                let mut r = RoundReplies::new();
                r.record_reply(&p, &bent);
                let _ = fingerprint_round(&p, &r, None);
            }
        }
    }
}

#[test]
fn first_reply_wins_and_strays_are_ignored() {
    let p = plan();
    let mut r = RoundReplies::new();
    let reply = echo_reply(&p, false, 0, false, 1);
    assert_eq!(r.record_reply(&p, &reply), Some(Probe::Ie1));
    assert_eq!(r.record_reply(&p, &reply), None, "duplicate");
    let mut elsewhere = reply.clone();
    elsewhere[12] = 10; // another source
    assert_eq!(r.record_reply(&p, &elsewhere), None);
    let mut other_id = echo_reply(&p, false, 0, false, 1);
    other_id[24] ^= 0x80;
    assert_eq!(r.record_reply(&p, &other_id), None);
}

#[test]
fn reset_data_checksum_is_crc32() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn ops_and_t1_fall_back_to_their_own_probes() {
    let p = plan();
    let mut r = RoundReplies::new();
    let reply = |window| Seg {
        options: &LINUX_OPTS,
        ..seg(0x5000_0000, p.tcp_seq_base + 1, SYN | ACK, window)
    };
    // SEQ1-5 answered, SEQ6 not; its OPS resend and a separate T1 were.
    for n in &SeqNo::ALL[..5] {
        r.record_sent(Probe::Seq(*n), Duration::ZERO);
        r.record_reply(&p, &tcp(&p, Probe::Seq(*n), 0, true, reply(0x100)));
    }
    r.record_reply(
        &p,
        &tcp(&p, Probe::Ops(SeqNo::ALL[5]), 0, true, reply(0x600)),
    );
    // An OPS reply arriving after its SEQ reply does not replace it.
    r.record_reply(
        &p,
        &tcp(&p, Probe::Ops(SeqNo::ALL[0]), 0, true, reply(0x999)),
    );
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(
        fp.test(TestName::Win).unwrap().to_string(),
        "WIN(W1=100%W2=100%W3=100%W4=100%W5=100%W6=600)"
    );
    assert!(
        fp.test(TestName::T1)
            .unwrap()
            .get("R")
            .is_some_and(|r| r == "Y")
    );

    let mut r = RoundReplies::new();
    let t1 = Probe::T(TNo::new(1).unwrap());
    r.record_reply(&p, &tcp(&p, t1, 0, false, seg(0, 0, RST, 0)));
    let fp = fingerprint_round(&p, &r, Some(1)).fingerprint;
    assert_eq!(
        fp.test(TestName::T1).unwrap().to_string(),
        "T1(R=Y%DF=N%T=40%S=Z%A=Z%F=R%RD=0%Q=)"
    );
    assert!(
        fp.test(TestName::Win).is_none(),
        "no SEQ or OPS replies: no WIN test"
    );
}
