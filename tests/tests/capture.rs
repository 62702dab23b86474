//! --pcap and --packet-trace on real scans of the lab: tshark reads the capture with every
//! checksum verified, it holds exactly what the summary says was sent and received, the trace
//! lines match it packet for packet, and capturing changes no result.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use common::{Found, parse_json_lines, run, scanner};
use scanner_tests::LabConfig;

/// A few hosts on an open, a closed, a dropped and a rejected port: every kind of reply.
const ARGS: [&str; 6] = [
    "-p",
    "22,23,8081,8082",
    "198.18.128.0/28",
    "--wait",
    "0.5",
    "--rate",
];

fn pcap_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "scanner-capture-{}-{name}.pcap",
        std::process::id()
    ))
}

/// The figure after `label` in the summary on stderr (`sent 64 packets`, `64 matched`).
fn summary_number(stderr: &str, before: &str, after: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|line| line.trim_start().starts_with(before))
        .unwrap_or_else(|| panic!("no line starting {before:?} in:\n{stderr}"));
    let rest = &line[line.find(after).map_or(0, |i| i + after.len())..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// tshark's fields of every packet (the outer headers': an ICMP error's quote comes after).
#[derive(Debug)]
struct Fields {
    src: String,
    dst: String,
    proto: u8,
    /// Source and destination port of TCP, UDP or SCTP.
    ports: Option<(String, String)>,
    tcp_flags: Option<u8>,
}

fn packet_fields(pcap: &Path) -> Vec<Fields> {
    let names = [
        "ip.src",
        "ip.dst",
        "ip.proto",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "sctp.srcport",
        "sctp.dstport",
        "tcp.flags",
    ];
    common::tshark::fields(pcap, &names)
        .into_iter()
        .map(|f| {
            let proto: u8 = f[2]
                .parse()
                .unwrap_or_else(|_| panic!("no ip.proto: {f:?}"));
            let ports = match proto {
                6 => Some((f[3].clone(), f[4].clone())),
                17 => Some((f[5].clone(), f[6].clone())),
                132 => Some((f[7].clone(), f[8].clone())),
                _ => None,
            };
            let tcp_flags = (proto == 6)
                .then(|| u8::from_str_radix(f[9].trim_start_matches("0x"), 16).unwrap());
            Fields {
                src: f[0].clone(),
                dst: f[1].clone(),
                proto,
                ports,
                tcp_flags,
            }
        })
        .collect()
}

/// Packets tshark finds malformed or with a bad IPv4, TCP, UDP, ICMP or SCTP (CRC32c) checksum,
/// with validation on.
fn tshark_bad_packets(pcap: &Path) -> String {
    let output = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args([
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "sctp.checksum:crc-32c",
        ])
        .args([
            "-Y",
            "_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == 0 \
             || tcp.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0 \
             || sctp.checksum.status == 0",
        ])
        .output()
        .expect("running tshark");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a scan with --packet-trace and --pcap and checks the capture: tshark finds every
/// packet well-formed with good checksums, it holds exactly sent + received of the summary,
/// and the trace lines match it packet for packet. Returns the number of packets per IP
/// protocol.
fn check_capture(lab: &scanner_tests::Lab, name: &str, args: &[&str]) -> BTreeMap<u8, u64> {
    let pcap = pcap_path(name);
    let output =
        run(scanner(lab)
            .args(args)
            .args(["--packet-trace", "--pcap", pcap.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let sent = summary_number(&stderr, "sent ", "sent ");
    let matched = summary_number(&stderr, "replies: ", "replies: ");
    let packets = packet_fields(&pcap);
    assert_eq!(
        packets.len() as u64,
        sent + matched,
        "capture holds sent + received"
    );
    let bad = tshark_bad_packets(&pcap);
    assert!(bad.is_empty(), "tshark finds bad packets:\n{bad}");

    // The trace, line for line with the capture: direction, addresses, ports, flags.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let trace: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("SENT (") || line.starts_with("RCVD ("))
        .collect();
    assert_eq!(
        trace.len(),
        packets.len(),
        "one trace line per captured packet"
    );
    let mut per_protocol = BTreeMap::new();
    for (line, packet) in trace.iter().zip(&packets) {
        *per_protocol.entry(packet.proto).or_default() += 1;
        let sent_by_us = packet.src == "198.18.0.1";
        assert_eq!(line.starts_with("SENT"), sent_by_us, "{line} vs {packet:?}");
        let (src, dst) = (&packet.src, &packet.dst);
        let named = match (packet.proto, &packet.ports) {
            (6, Some((sport, dport))) => format!("TCP {src}:{sport} > {dst}:{dport} "),
            (17, Some((sport, dport))) => format!("UDP {src}:{sport} > {dst}:{dport} "),
            (132, Some((sport, dport))) => format!("SCTP {src}:{sport} > {dst}:{dport} "),
            // ICMP: the line names both addresses.
            (1, _) => format!("{src} > {dst} "),
            (proto, _) => format!("({proto}) {src} > {dst}"),
        };
        assert!(line.contains(&named), "{line} vs {named:?}");
        if let Some(flags) = packet.tcp_flags {
            let letters = match flags {
                0x02 => " S ",
                0x04 => " R ",
                0x10 => " A ",
                0x12 => " SA ",
                0x14 => " RA ",
                other => panic!("unexpected TCP flags {other:#x} in {packet:?}"),
            };
            assert!(line.contains(letters), "{line} lacks {letters:?}");
        }
    }
    std::fs::remove_file(pcap).unwrap();
    per_protocol
}

#[test]
fn syn_scan_capture_is_valid_complete_and_matches_the_trace() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let packets = check_capture(&lab, "syn", &[&ARGS[..], &["1000"]].concat());
    assert!(packets[&6] >= 64 + 32, "{packets:?}");
    assert!(
        packets[&1] >= 16,
        "ICMP 3/13 from the rejected port: {packets:?}"
    );
}

/// All 256 protocols on two hosts: TCP ACKs and RSTs, UDP, ICMP echoes and errors, IGMP, SCTP
/// INITs with their CRC32c, and empty datagrams of every other protocol.
#[test]
fn ip_protocol_scan_capture_is_valid_complete_and_matches_the_trace() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let args = ["-sO", "--wait", "0.5", "198.18.0.2", "198.18.128.7"];
    let packets = check_capture(&lab, "ip", &args);
    for proto in [1, 2, 6, 17, 132, 47, 255] {
        assert!(
            packets.contains_key(&proto),
            "no protocol {proto}: {packets:?}"
        );
    }
    // Two hosts, 256 probes each, and most protocols closed (an ICMP error each).
    assert!(packets[&1] >= 2 * 240, "{packets:?}");
}

#[test]
fn capture_changes_no_result() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let results = |extra: &[&str]| -> BTreeSet<Found> {
        let output = run(scanner(&lab)
            .args(ARGS)
            .args(["1000", "-oJ", "-"])
            .args(extra));
        parse_json_lines(&output.stdout).into_iter().collect()
    };
    let pcap = pcap_path("same");
    let without = results(&[]);
    let with = results(&["--pcap", pcap.to_str().unwrap(), "--pcap-all"]);
    assert_eq!(
        without.len(),
        16 * 3,
        "22 open, 23 closed, 8082 rejected on 16 hosts"
    );
    assert_eq!(without, with);
    std::fs::remove_file(pcap).unwrap();
}

/// SCTP INIT probes (CRC32c) and the protocol unreachables a host without SCTP answers.
#[test]
fn sctp_init_scan_capture_is_valid_complete_and_matches_the_trace() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let args = ["-sY", "-p", "9,80,2905", "--wait", "0.5", "198.18.128.0/29"];
    let packets = check_capture(&lab, "sctp", &args);
    assert_eq!(
        packets.get(&132),
        Some(&24),
        "8 hosts x 3 ports: {packets:?}"
    );
    assert_eq!(
        packets.get(&1),
        Some(&24),
        "one unreachable each: {packets:?}"
    );
}
