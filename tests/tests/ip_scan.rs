//! The IP protocol scan (-sO) against real Linux stacks in the lab, protocol for protocol
//! beside nmap's, over a whole /17, and through the target's ICMP rate limiting.

mod common;

use std::{collections::BTreeMap, net::Ipv4Addr};

use common::{nmap, parse_json_lines_of, run, scanner};
use scanner_tests::{Lab, LabConfig};

/// Protocol number -> state, for every protocol of `protocols` (nmap's "Ignored State" fills
/// the ones its grepable output leaves out).
fn nmap_states(lab: &Lab, host: Ipv4Addr, protocols: &str) -> BTreeMap<u16, String> {
    let host_arg = host.to_string();
    let text = nmap::grepable(lab, &["-sO", "-p", protocols, &host_arg]);
    let line = text
        .lines()
        .find(|l| l.contains("Protocols:"))
        .unwrap_or_else(|| panic!("no Protocols: line in nmap's output:\n{text}"));
    let mut states: BTreeMap<u16, String> = nmap::states(line)
        .into_iter()
        .map(|((_, number), state)| (number, state))
        .collect();
    if let Some(ignored) = line.split("Ignored State: ").nth(1) {
        let (state, count) = ignored.split_once(" (").expect("Ignored State: STATE (N)");
        let count: usize = count.trim_end_matches(')').parse().unwrap();
        let listed = states.len();
        for number in protocol_list(protocols) {
            states.entry(number).or_insert_with(|| state.to_owned());
        }
        assert_eq!(
            states.len(),
            listed + count,
            "nmap ignored exactly one state: {line}"
        );
    }
    states
}

/// The numbers of a `-p` list of protocols ("0-255", "1,6,17").
fn protocol_list(spec: &str) -> Vec<u16> {
    spec.split(',')
        .flat_map(|item| match item.split_once('-') {
            Some((low, high)) => (low.parse().unwrap()..=high.parse().unwrap()).collect(),
            None => vec![item.parse().unwrap()],
        })
        .collect()
}

/// Our -sO of `hosts`: (host, protocol) -> state for every protocol probed (silence is nmap's
/// open|filtered), and the summary.
fn our_states(
    lab: &Lab,
    hosts: &[Ipv4Addr],
    protocols: &str,
    extra: &[&str],
) -> (BTreeMap<(Ipv4Addr, u16), String>, String) {
    let output = run(scanner(lab)
        .args(["-sO", "-p", protocols, "-oJ", "-"])
        .args(extra)
        .args(hosts.iter().map(Ipv4Addr::to_string)));
    let found = parse_json_lines_of(&output.stdout, "ip");
    let mut states = BTreeMap::new();
    for f in &found {
        assert!(
            states.insert((f.ip, f.port), f.state.clone()).is_none(),
            "two results for {}:{}",
            f.ip,
            f.port
        );
    }
    for &host in hosts {
        for number in protocol_list(protocols) {
            states
                .entry((host, number))
                .or_insert_with(|| "open|filtered".to_owned());
        }
    }
    (states, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn compare_with_nmap(lab: &Lab, host: Ipv4Addr) {
    let protocols = "0-255";
    let ours: BTreeMap<u16, String> = our_states(lab, &[host], protocols, &["--wait", "1"])
        .0
        .into_iter()
        .map(|((_, number), state)| (number, state))
        .collect();
    let theirs = nmap_states(lab, host, protocols);
    assert_eq!(theirs.len(), 256);
    let differing: Vec<_> = (0..=255u16)
        .filter(|n| ours.get(n) != theirs.get(n))
        .map(|n| format!("{n}: ours {:?}, nmap {:?}", ours.get(&n), theirs.get(&n)))
        .collect();
    assert!(differing.is_empty(), "{host}: {differing:#?}");
}

/// A plain Linux host (ICMP rate limiting off): ICMP, TCP and UDP open, IGMP, PIM and UDP-Lite
/// open|filtered (Linux speaks them but stays silent), everything else closed.
#[test]
fn states_equal_nmaps_on_a_plain_host() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    compare_with_nmap(&lab, Lab::TARGET_IP);
}

/// A host whose firewall drops some protocols (ICMP among them) and rejects others with
/// ICMP admin-prohibited (UDP among them: no port unreachable gets through).
#[test]
fn states_equal_nmaps_behind_a_firewall() {
    let Some(lab) = common::lab(LabConfig {
        dropped_protocols: vec![1, 47, 89],
        rejected_protocols: vec![17, 50, 51, 132],
        ..LabConfig::default()
    }) else {
        return;
    };
    compare_with_nmap(&lab, Lab::TARGET_IP);
}

/// A few protocols over all 32768 addresses of the lab's /17 at a sweep's rate: every host
/// has exactly the states its stack and firewall give.
#[test]
fn sweep_over_the_lab_17_reports_every_host() {
    let Some(lab) = common::lab(LabConfig {
        dropped_protocols: vec![89],
        rejected_protocols: vec![50],
        ..LabConfig::default()
    }) else {
        return;
    };
    let (base, prefix) = Lab::TARGET_RANGE;
    let range = format!("{base}/{prefix}");
    let output = run(scanner(&lab).args([
        "-sO",
        "-p",
        "1,6,17,47,50,89",
        "--rate",
        "100000",
        "--wait",
        "1",
        "-oJ",
        "-",
        &range,
    ]));
    let found = parse_json_lines_of(&output.stdout, "ip");
    let expected = [
        (1, "open"),
        (6, "open"),
        (17, "open"),
        (47, "closed"),
        (50, "filtered"),
    ];
    let mut per_protocol: BTreeMap<(u16, String), u64> = BTreeMap::new();
    for f in &found {
        *per_protocol.entry((f.port, f.state.clone())).or_default() += 1;
    }
    let hosts = 1u64 << (32 - prefix);
    let wanted: BTreeMap<(u16, String), u64> = expected
        .iter()
        .map(|&(number, state)| ((number, state.to_owned()), hosts))
        .collect();
    assert_eq!(
        per_protocol, wanted,
        "89 (dropped) must stay silent: open|filtered"
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(
        summary.contains(&format!("{hosts} open|filtered")),
        "{summary}"
    );
}

/// With Linux's default ICMP rate limiting (one error a second per peer after a burst of six)
/// every closed protocol is still found closed: the scan resends for as long as that recovers
/// answers, far beyond --retries.
#[test]
fn closed_protocols_survive_icmp_rate_limiting() {
    let Some(lab) = common::lab(LabConfig {
        icmp_ratelimit: true,
        ..LabConfig::default()
    }) else {
        return;
    };
    let protocols = "0-24";
    let (states, summary) = our_states(&lab, &[Lab::TARGET_IP], protocols, &["--retries", "3"]);
    for number in protocol_list(protocols) {
        let wanted = match number {
            1 | 6 | 17 => "open",
            2 => "open|filtered",
            _ => "closed",
        };
        assert_eq!(
            states[&(Lab::TARGET_IP, number)],
            wanted,
            "protocol {number}"
        );
    }
    // The limit was met: more retry packets than --retries passes could ever send.
    let retries: u64 = summary
        .split(" retries)")
        .next()
        .and_then(|head| head.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count in the summary: {summary}"));
    assert!(retries > 3 * 25, "{retries} retries: {summary}");
}
