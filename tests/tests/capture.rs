//! --pcap and --packet-trace on real scans of the lab: tshark reads the capture with every
//! checksum verified, it holds exactly what the summary says was sent and received, the trace
//! lines match it packet for packet, and capturing changes no result.

mod common;

use std::{
    collections::BTreeSet,
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

/// tshark's fields of every packet: source, destination, ports, TCP flags (hex) and ICMP type.
fn packet_fields(pcap: &Path) -> Vec<Vec<String>> {
    common::tshark_fields(
        pcap,
        &[
            "ip.src",
            "ip.dst",
            "tcp.srcport",
            "tcp.dstport",
            "tcp.flags",
            "icmp.type",
        ],
    )
}

/// Packets tshark finds malformed or with a bad IPv4, TCP or ICMP checksum (validation on).
fn tshark_bad_packets(pcap: &Path) -> String {
    let output = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(["-o", "udp.check_checksum:TRUE"])
        .args([
            "-Y",
            "_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == 0 \
             || tcp.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0",
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

#[test]
fn syn_scan_capture_is_valid_complete_and_matches_the_trace() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let pcap = pcap_path("syn");
    let output = run(scanner(&lab).args(ARGS).args([
        "1000",
        "--packet-trace",
        "--pcap",
        pcap.to_str().unwrap(),
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let sent = summary_number(&stderr, "sent ", "sent ");
    let matched = summary_number(&stderr, "replies: ", "replies: ");
    let packets = packet_fields(&pcap);
    assert_eq!(
        packets.len() as u64,
        sent + matched,
        "capture holds sent + received"
    );
    assert!(
        sent >= 64 && matched >= 48,
        "sent {sent}, matched {matched}"
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
    for (line, fields) in trace.iter().zip(&packets) {
        let (src, dst) = (&fields[0], &fields[1]);
        let sent_by_us = src == "198.18.0.1";
        assert_eq!(line.starts_with("SENT"), sent_by_us, "{line} vs {fields:?}");
        if !fields[5].is_empty() {
            // ICMP: the line names both addresses.
            assert!(
                line.contains(src.as_str()) && line.contains(dst.as_str()),
                "{line}"
            );
            assert_eq!(fields[5], "3", "only unreachables come back: {fields:?}");
            continue;
        }
        let endpoints = format!("TCP {src}:{} > {dst}:{} ", fields[2], fields[3]);
        assert!(line.contains(&endpoints), "{line} vs {endpoints}");
        let flags = u8::from_str_radix(fields[4].trim_start_matches("0x"), 16).unwrap();
        let letters = match flags {
            0x02 => " S ",
            0x12 => " SA ",
            0x14 => " RA ",
            other => panic!("unexpected TCP flags {other:#x} in {fields:?}"),
        };
        assert!(line.contains(letters), "{line} lacks {letters:?}");
    }
    std::fs::remove_file(pcap).unwrap();
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
