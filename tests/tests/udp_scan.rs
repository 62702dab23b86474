//! The UDP scan (-sU) against a real Linux stack in the lab, port for port beside nmap's: UDP
//! services that answer (an echo, a DNS server answering the cookie-carrying query), closed
//! ports (ICMP port unreachable), a firewall's drops and rejects; and closed ports through the
//! kernel's default ICMP rate limit, which must still come out closed.

mod common;

use std::collections::BTreeMap;

use common::{nmap, parse_json_states_of, run, scanner};
use scanner_tests::{Lab, LabConfig, UdpService};

/// Port -> state of our -sU of the target (every port probed is listed: -oJ has the silent
/// ones too), and the summary.
fn our_states(lab: &Lab, ports: &str) -> (BTreeMap<u16, String>, String) {
    let output =
        run(scanner(lab).args(["-sU", "-p", ports, "-oJ", "-", &Lab::TARGET_IP.to_string()]));
    let mut states = BTreeMap::new();
    for found in parse_json_states_of(&output.stdout, "udp") {
        assert_eq!(found.ip, Lab::TARGET_IP);
        assert!(
            states.insert(found.port, found.state).is_none(),
            "two results for port {}",
            found.port
        );
    }
    (states, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Port -> state of nmap's -sU, its "Ignored State" filled in for every port of `ports`.
fn nmap_states(lab: &Lab, ports: &[u16]) -> BTreeMap<u16, String> {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let text = nmap::grepable(
        lab,
        &["-sU", "-p", &list.join(","), &Lab::TARGET_IP.to_string()],
    );
    let line = text
        .lines()
        .find(|l| l.contains("Ports:"))
        .unwrap_or_else(|| panic!("no Ports: line in nmap's output:\n{text}"));
    let mut states: BTreeMap<u16, String> = nmap::states(line)
        .into_iter()
        .map(|((_, port), state)| (port, state))
        .collect();
    if let Some(ignored) = line.split("Ignored State: ").nth(1) {
        let state = ignored
            .split_once(" (")
            .expect("Ignored State: STATE (N)")
            .0;
        for &port in ports {
            states.entry(port).or_insert_with(|| state.to_owned());
        }
    }
    states
}

fn lab_with_services(icmp_ratelimit: bool) -> Option<Lab> {
    common::lab(LabConfig {
        udp_services: vec![(7, UdpService::Echo), (53, UdpService::Dns)],
        dropped_udp_ports: vec![8081],
        rejected_udp_ports: vec![8082],
        icmp_ratelimit,
        ..LabConfig::default()
    })
}

#[test]
fn states_equal_nmaps_and_the_truth() {
    let Some(lab) = lab_with_services(false) else {
        return;
    };
    let ports = [7, 9, 53, 123, 161, 500, 8081, 8082, 40000];
    let spec: Vec<String> = ports.iter().map(u16::to_string).collect();
    let (ours, summary) = our_states(&lab, &spec.join(","));
    let truth: BTreeMap<u16, String> = [
        (7, "open"),
        (9, "closed"),
        (53, "open"),
        (123, "closed"),
        (161, "closed"),
        (500, "closed"),
        (8081, "open|filtered"),
        (8082, "filtered"),
        (40000, "closed"),
    ]
    .into_iter()
    .map(|(port, state)| (port, state.to_owned()))
    .collect();
    assert_eq!(ours, truth, "{summary}");
    assert_eq!(
        nmap_states(&lab, &ports),
        ours,
        "nmap -sU on the same ports"
    );
    assert!(summary.contains(" 0 bad cookies"), "{summary}");
}

/// Linux answers closed ports with one ICMP error a second after a burst: 40 closed ports of
/// one host take passes for as long as they recover answers, and all come out closed, as
/// nmap's do (nmap slows down for it; we resend).
#[test]
fn closed_ports_behind_the_default_icmp_rate_limit_are_closed() {
    let Some(lab) = lab_with_services(true) else {
        return;
    };
    let ports: Vec<u16> = (1..=40).collect();
    let (ours, summary) = our_states(&lab, "1-40");
    assert_eq!(ours.len(), 40, "{summary}");
    for (&port, state) in &ours {
        let expected = if port == 7 { "open" } else { "closed" };
        assert_eq!(state, expected, "port {port}: {summary}");
    }
    assert!(summary.contains("retries"), "{summary}");
    assert_eq!(
        nmap_states(&lab, &ports),
        ours,
        "nmap -sU on the same ports"
    );
}
