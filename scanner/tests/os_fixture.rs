//! Real data: nmap 7.93 `-O -d` against a Linux TCP stack in a private network namespace,
//! every packet captured (fixtures/os/capture.sh). From the capture alone we rebuild nmap's
//! probes byte for byte, file the replies, compute the tests, and compare them with the
//! fingerprint nmap printed.
//!
//! SP, GCD and ISR depend on send times, which we take from the capture rather than from
//! nmap's clock; GCD must still be equal, ISR within 1 and SP within 8 (a factor of 2 in the
//! ISN rate deviation).

use std::{fs::File, path::PathBuf, time::Duration};

use pcap_file::{DataLink, pcap::PcapReader};
use scanner::os::{
    attributes::{RoundFingerprint, fingerprint_round},
    db::{Dialect, OsDb, SYSTEM_DB_PATH, parse_subject},
    fingerprint::{SubjectFingerprint, TestName, render_submission, unwrap},
    matcher::{GUESS_THRESHOLD, best_round, match_fingerprint},
    probes::{Probe, ProbePlan},
    replies::RoundReplies,
};

const ETH_LEN: usize = 14;
const NMAP: [u8; 4] = [198, 18, 0, 1];
const TARGET: [u8; 4] = [198, 18, 0, 2];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/os")
        .join(name)
}

/// IPv4 packets of the capture with their capture times.
fn packets(pcap: &str) -> Vec<(Duration, Vec<u8>)> {
    let mut reader = PcapReader::new(File::open(fixture(pcap)).expect("fixture")).expect("pcap");
    assert_eq!(reader.header().datalink, DataLink::ETHERNET);
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        let frame = &packet.data;
        if frame.len() > ETH_LEN && frame[12..14] == [0x08, 0x00] {
            out.push((packet.timestamp, frame[ETH_LEN..].to_vec()));
        }
    }
    out
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn from_nmap(ip: &[u8]) -> bool {
    ip[12..16] == NMAP && ip[16..20] == TARGET
}

/// SEQ1: a SYN with window 1 and nmap's first option block.
fn is_seq1(ip: &[u8]) -> bool {
    from_nmap(ip)
        && ip[9] == 6
        && ip[20 + 13] == 0x02
        && be16(ip, 20 + 14) == 1
        && ip[40..43] == [3, 3, 10]
}

/// One OS-detection round of the capture: the packets from its SEQ1 to the next round.
struct Round {
    plan: ProbePlan,
    packets: Vec<(Duration, Vec<u8>)>,
}

fn rounds(pcap: &str) -> Vec<Round> {
    let all = packets(pcap);
    let starts: Vec<usize> = (0..all.len()).filter(|&i| is_seq1(&all[i].1)).collect();
    starts
        .iter()
        .enumerate()
        .map(|(r, &start)| {
            let end = starts.get(r + 1).copied().unwrap_or(all.len());
            let packets = all[start..end].to_vec();
            let seq1 = &packets[0].1;
            let ie1 = packets
                .iter()
                .map(|(_, p)| p)
                .find(|p| from_nmap(p) && p[9] == 1 && p[20] == 8)
                .expect("IE1 in every round");
            let u1 = packets
                .iter()
                .map(|(_, p)| p)
                .find(|p| from_nmap(p) && p[9] == 17)
                .expect("U1 in every round");
            let plan = ProbePlan {
                source: NMAP.into(),
                target: TARGET.into(),
                open_tcp_port: Some(be16(seq1, 22)),
                closed_tcp_port: Some(81),
                closed_udp_port: be16(u1, 22),
                tcp_port_base: be16(seq1, 20),
                udp_source_port: be16(u1, 20),
                tcp_seq_base: be32(seq1, 24),
                tcp_ack: be32(seq1, 28),
                icmp_echo_id: be16(ie1, 24),
                ttl: seq1[8],
                udp_ttl: u1[8],
                u1_ip_id: be16(u1, 4),
            };
            Round { plan, packets }
        })
        .collect()
}

/// Files a round's packets: our rebuilt probe must equal each probe nmap sent.
fn replay(round: &Round) -> (RoundReplies, usize) {
    let mut replies = RoundReplies::new();
    let mut rebuilt = 0;
    for (at, packet) in &round.packets {
        if from_nmap(packet) {
            if let Some(probe) = sent_probe(&round.plan, packet) {
                let plan = ProbePlan {
                    ttl: packet[8],
                    ..round.plan.clone()
                };
                let ours = plan.packet(probe, be16(packet, 4)).expect("port known");
                assert_eq!(&ours, packet, "{probe:?} differs from nmap's");
                replies.record_sent(probe, *at);
                rebuilt += 1;
            }
        } else {
            replies.record_reply(&round.plan, packet);
        }
    }
    (replies, rebuilt)
}

/// Which probe nmap sent, told by the same fields replies are filed by.
fn sent_probe(plan: &ProbePlan, packet: &[u8]) -> Option<Probe> {
    match packet[9] {
        // The kernel of nmap's host resets the SYN-ACKs nmap's raw SYNs drew.
        6 if packet[20 + 13] == 0x04 => None,
        6 => {
            let offset = be16(packet, 20).checked_sub(plan.tcp_port_base)?;
            Probe::ALL
                .get(usize::from(offset))
                .copied()
                .filter(|_| offset < 20)
        }
        1 if packet[20] == 8 => match be16(packet, 24).wrapping_sub(plan.icmp_echo_id) {
            0 => Some(Probe::Ie1),
            1 => Some(Probe::Ie2),
            _ => None,
        },
        17 => Some(Probe::U1),
        _ => None,
    }
}

/// nmap's printed fingerprint (the `OS:` lines after "TCP/IP fingerprint:").
fn printed(nmap_txt: &str) -> String {
    let text = std::fs::read_to_string(fixture(nmap_txt)).expect("fixture");
    let block = text
        .split("TCP/IP fingerprint:\n")
        .nth(1)
        .expect("a fingerprint");
    block
        .lines()
        .take_while(|l| l.starts_with("OS:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn hex(fp: &SubjectFingerprint, attr: &str) -> i64 {
    let value = fp
        .test(TestName::Seq)
        .and_then(|t| t.get(attr))
        .expect(attr);
    i64::from_str_radix(value, 16).expect("hex")
}

fn check_variant(pcap: &str, nmap_txt: &str) -> Vec<RoundFingerprint> {
    let wrapped = printed(nmap_txt);
    let nmap_fp = parse_subject(&unwrap(&wrapped)).expect("nmap's fingerprint parses");
    let rounds = rounds(pcap);
    assert_eq!(rounds.len(), 5, "nmap tried five times");
    let mut results = Vec::new();
    for (r, round) in rounds.iter().enumerate() {
        let (replies, rebuilt) = replay(round);
        // 6 SEQ, IE1, IE2, U1, ECN, T2-T7 at least once each (T2 and T3 are retried).
        assert!(rebuilt >= 16, "round {r}: {rebuilt} probes rebuilt");
        let ours = fingerprint_round(&round.plan, &replies, None);
        assert_eq!(ours.hop_distance, Some(1));
        eprintln!(
            "{pcap} round {} ({rebuilt} probes rebuilt):\n{}",
            r + 1,
            ours.fingerprint
        );
        results.push(ours);
    }

    // nmap 7.93 merges the rounds' tests by attribute names only, so it printed round 1's.
    let ours = &results[0].fingerprint;
    for name in TestName::ALL {
        let (Some(theirs), Some(mine)) = (nmap_fp.test(name), ours.test(name)) else {
            assert_eq!(
                nmap_fp.test(name).is_some(),
                ours.test(name).is_some(),
                "{name}"
            );
            continue;
        };
        if name != TestName::Seq {
            assert_eq!(mine.to_string(), theirs.to_string(), "{name}");
            continue;
        }
        for attr in ["TI", "CI", "II", "SS", "TS", "GCD"] {
            assert_eq!(mine.get(attr), theirs.get(attr), "SEQ.{attr}");
        }
        for (attr, tolerance) in [("ISR", 1), ("SP", 8)] {
            let (a, b) = (hex(ours, attr), hex(&nmap_fp, attr));
            eprintln!("SEQ.{attr}: ours {a:X}, nmap {b:X}");
            assert!(
                (a - b).abs() <= tolerance,
                "SEQ.{attr}: ours {a:X}, nmap {b:X}"
            );
        }
    }

    // With nmap's timing-dependent values, our text is nmap's, wrapping included.
    let mut same_timing = ours.clone();
    let seq = same_timing.test_mut(TestName::Seq).unwrap();
    for attr in ["SP", "ISR"] {
        seq.set(
            attr,
            nmap_fp
                .test(TestName::Seq)
                .unwrap()
                .get(attr)
                .unwrap()
                .clone(),
        );
    }
    let scan = scan_info(&wrapped);
    assert_eq!(render_submission(&scan, &[same_timing], true), wrapped);
    results
}

/// The SCAN line's fields, read back from nmap's text.
fn scan_info(wrapped: &str) -> scanner::os::fingerprint::ScanInfo {
    use scanner::os::fingerprint::{DistanceMethod, ScanInfo};
    let text = unwrap(wrapped);
    let scan = text
        .strip_prefix("SCAN(")
        .and_then(|s| s.split(')').next())
        .expect("SCAN");
    let field = |name: &str| {
        scan.split('%')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_owned()
    };
    let port = |name| field(name).parse().ok();
    let (month, day) = field("D")
        .split_once('/')
        .map(|(m, d)| (m.parse().unwrap(), d.parse().unwrap()))
        .unwrap();
    let mac = field("M");
    ScanInfo {
        version: field("V"),
        month,
        day,
        open_tcp_port: port("OT"),
        closed_tcp_port: port("CT"),
        closed_udp_port: port("CU"),
        private_address: field("PV") == "Y",
        distance: Some((field("DS").parse().unwrap(), DistanceMethod::Direct)),
        good: field("G") == "Y",
        mac_prefix: Some(std::array::from_fn(|i| {
            u8::from_str_radix(&mac[2 * i..2 * i + 2], 16).unwrap()
        })),
        unix_time: u32::from_str_radix(&field("TM"), 16).unwrap(),
        platform: field("P"),
    }
}

#[test]
fn linux_default_matches_nmap() {
    let rounds = check_variant("linux.pcap", "linux.nmap.txt");
    // The target does not change between rounds: neither do the tests that ignore timing.
    for round in &rounds[1..] {
        for name in &TestName::ALL[1..] {
            assert_eq!(
                round.fingerprint.test(*name).map(ToString::to_string),
                rounds[0].fingerprint.test(*name).map(ToString::to_string),
            );
        }
    }
    report_matches(&rounds[0].fingerprint);
}

#[test]
fn linux_without_timestamps_matches_nmap() {
    let rounds = check_variant("linux-nots.pcap", "linux-nots.nmap.txt");
    let seq = rounds[0].fingerprint.test(TestName::Seq).unwrap();
    assert_eq!(seq.get("TS").map(String::as_str), Some("U"));
}

/// nmap's "Aggressive OS guesses" come from the round whose best match scored highest
/// (osscan2.cc: findBestFPs); ours must be the same list, names, order and percentages.
#[test]
fn guesses_match_nmaps() {
    let Some(db) = system_db() else { return };
    let text = std::fs::read_to_string(fixture("linux-guess.nmap.txt")).expect("fixture");
    let printed = text
        .lines()
        .find(|l| l.starts_with("Aggressive OS guesses: "))
        .expect("nmap's guesses");
    let mut distance = None;
    let mut per_round = Vec::new();
    for round in rounds("linux-guess.pcap") {
        let (replies, _) = replay(&round);
        let result = fingerprint_round(&round.plan, &replies, distance);
        distance = result.hop_distance;
        per_round.push(match_fingerprint(&result.fingerprint, &db, GUESS_THRESHOLD));
    }
    let best = best_round(&per_round).expect("matches");
    assert_eq!(per_round[best].verdict().to_string(), printed);
}

fn system_db() -> Option<OsDb> {
    if !std::path::Path::new(SYSTEM_DB_PATH).exists() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "{SYSTEM_DB_PATH} is required when CI=true (apt-get install nmap)"
        );
        eprintln!("skipping: {SYSTEM_DB_PATH} not installed");
        return None;
    }
    // nmap 7.93 installed: its reading of R, which the guesses below depend on.
    Some(OsDb::load(SYSTEM_DB_PATH, Dialect::Nmap793).expect("system db"))
}

/// Where our matcher puts this Linux (nmap printed no exact match and no guesses).
fn report_matches(subject: &SubjectFingerprint) {
    let Some(db) = system_db() else { return };
    let matches = match_fingerprint(subject, &db, GUESS_THRESHOLD);
    eprintln!("verdict: {:?}", matches.verdict());
    assert_eq!(matches.perfect, 0, "nmap found no exact match either");
}
