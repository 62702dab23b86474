//! The lab responder (`scanner responder`, XDP on the target's vt0) against its own ground
//! truth: a fast scan by our scanner finds exactly what `truth()` says, and tools without XDP
//! (nmap, a packet capture) see well-formed answers once GRO is on for vs0.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    path::Path,
};

use common::{Found, nmap, parse_json_lines, run, scanner, sent_packets, tshark::LiveCapture};
use scanner_tests::{Lab, LabConfig, ResponderSettings, Truth};

/// The ports of the fast scan: 65536 addresses x 3 ports = 196608 probes.
const PORTS: [u16; 3] = [22, 80, 443];

fn settings() -> ResponderSettings {
    ResponderSettings::new(common::scanner_bin())
}

#[test]
fn a_fast_scan_of_the_responder_finds_exactly_its_ground_truth() {
    let settings = settings();
    let Some(mut lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    let ports = PORTS.map(|port| port.to_string()).join(",");
    let output = run(scanner(&lab).args([
        "-p",
        &ports,
        &settings.cidr(),
        "--rate",
        "300000",
        "--wait",
        "1",
        "-oJ",
        "-",
    ]));
    let counts = lab.stop_responder().expect("stopping the responder");
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}responder: {counts:?}");

    let expected: BTreeSet<Found> = settings
        .addresses()
        .flat_map(|ip| PORTS.map(|port| (ip, port)))
        .filter_map(|(ip, port)| {
            let (state, reason) = match settings.truth(ip, port).unwrap() {
                Truth::Open => ("open", "syn-ack"),
                Truth::Closed => ("closed", "reset"),
                Truth::Silent => return None,
            };
            Some(Found {
                ip,
                port,
                state: state.into(),
                reason: reason.into(),
            })
        })
        .collect();
    let found = parse_json_lines(&output.stdout);
    common::assert_exactly(found, &expected);

    // Every packet the scanner sent reached the responder as a probe, and each got its answer.
    assert_eq!(sent_packets(&stderr), counts.probes, "sent vs probes seen");
    assert_eq!(counts.open + counts.closed + counts.silent, counts.probes);
    assert_eq!(counts.malformed, 0);
    let open = expected.iter().filter(|f| f.state == "open").count() as u64;
    assert!(
        counts.open >= open,
        "{} SYN-ACKs for {open} open",
        counts.open
    );
    assert!(counts.last_probe_ns > counts.first_probe_ns);
}

/// One TCP segment of the capture, as tshark decodes it (checksums verified).
#[derive(Debug)]
struct Segment {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u16,
    ttl: u8,
    /// tshark's checksum status: 1 is "Good".
    ip_checksum: String,
    tcp_checksum: String,
    seq: u32,
    ack: u32,
}

fn segments(file: &Path) -> Vec<Segment> {
    let fields = [
        "ip.src",
        "ip.dst",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.flags",
        "ip.ttl",
        "ip.checksum.status",
        "tcp.checksum.status",
        "tcp.seq_raw",
        "tcp.ack_raw",
    ];
    common::tshark::fields(file, &fields)
        .into_iter()
        .map(|f| {
            assert_eq!(f.len(), fields.len(), "{f:?}");
            Segment {
                src: f[0].parse().unwrap(),
                dst: f[1].parse().unwrap(),
                sport: f[2].parse().unwrap(),
                dport: f[3].parse().unwrap(),
                flags: u16::from_str_radix(f[4].trim_start_matches("0x"), 16).unwrap(),
                ttl: f[5].parse().unwrap(),
                ip_checksum: f[6].clone(),
                tcp_checksum: f[7].clone(),
                seq: f[8].parse().unwrap(),
                ack: f[9].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn answers_are_well_formed_and_reach_tools_without_xdp_through_gro() {
    let settings = settings();
    let Some(mut lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    common::gro_on_scanner_side(&lab);
    let mut capture = LiveCapture::start(&lab, "responder", "tcp");
    let hosts: Vec<Ipv4Addr> = settings.addresses().take(16).collect();
    let targets = format!("{}/28", hosts[0]);
    let nmap = nmap::grepable(
        &lab,
        &["-sS", "--max-retries", "0", "-p", "22,80,443", &targets],
    );
    let file = capture.finish();
    let counts = lab.stop_responder().expect("stopping the responder");

    // nmap sees the ground truth: open, closed, and silence as filtered.
    let states = nmap::states(&nmap);
    let mut answered = 0;
    for &host in &hosts {
        for port in PORTS {
            let expected = match settings.truth(host, port).unwrap() {
                Truth::Open => "open",
                Truth::Closed => "closed",
                Truth::Silent => "filtered",
            };
            answered += usize::from(expected != "filtered");
            assert_eq!(
                states.get(&(host, port)).map(String::as_str),
                Some(expected),
                "{host}:{port}"
            );
        }
    }
    assert!(answered > 0);

    // Every answer: good checksums, TTL 64, the truth's flags, acknowledging its probe.
    let segments = segments(file);
    let probes: BTreeMap<(Ipv4Addr, u16, u16), u32> = segments
        .iter()
        .filter(|s| s.flags == 0x02)
        .map(|s| ((s.dst, s.dport, s.sport), s.seq))
        .collect();
    let answers: Vec<&Segment> = segments.iter().filter(|s| hosts.contains(&s.src)).collect();
    assert_eq!(answers.len(), answered, "{answers:#?}");
    for answer in answers {
        assert_eq!(
            (answer.ip_checksum.as_str(), answer.tcp_checksum.as_str()),
            ("1", "1"),
            "checksums of {answer:?}"
        );
        assert_eq!(answer.ttl, 64, "{answer:?}");
        let flags = match settings.truth(answer.src, answer.sport).unwrap() {
            Truth::Open => 0x12,
            Truth::Closed => 0x14,
            Truth::Silent => panic!("an answer for a silent port: {answer:?}"),
        };
        assert_eq!(answer.flags, flags, "{answer:?}");
        let seq = probes
            .get(&(answer.src, answer.sport, answer.dport))
            .unwrap_or_else(|| panic!("no probe for {answer:?}"));
        assert_eq!(answer.ack, seq.wrapping_add(1), "{answer:?}");
        assert_eq!(answer.dst, Lab::SCANNER_IP);
    }
    assert_eq!(counts.malformed, 0);
    assert_eq!(counts.open + counts.closed, answered as u64);
}
