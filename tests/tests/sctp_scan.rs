//! The SCTP scans (-sY, -sZ) and the SCTP INIT ping (-PY): beside nmap on every kind of lab
//! peer — usrsctp's real stack (open), the XDP responder (open, closed by ABORT, silent), a
//! port behind an nftables drop, and a host without SCTP (protocol unreachable) — and at a
//! sweep's rate against the responder's ground truth.

mod common;

use std::{collections::BTreeMap, net::Ipv4Addr};

use common::{Found, nmap, parse_json_lines_of, run, scanner, sent_packets};
use scanner_tests::{Lab, LabConfig, ResponderSettings, Truth};

fn settings() -> ResponderSettings {
    ResponderSettings::new(common::scanner_bin())
}

/// Ours, the same way: silence is `silent` (filtered for -sY, open|filtered for -sZ).
fn our_states(
    lab: &Lab,
    scan: &str,
    ports: &str,
    targets: &[String],
    silent: &str,
) -> BTreeMap<(Ipv4Addr, u16), String> {
    // A peer silent on every port probed gets no reply at all: exit code 3.
    let output = common::run_answered_or_not(
        scanner(lab)
            .args([scan, "-p", ports, "--wait", "1", "-oJ", "-"])
            .args(targets),
    );
    let found = parse_json_lines_of(&output.stdout, "sctp");
    let mut states: BTreeMap<_, _> = found
        .iter()
        .map(|f| ((f.ip, f.port), f.state.clone()))
        .collect();
    for target in targets {
        for port in ports.split(',') {
            states
                .entry((target.parse().unwrap(), port.parse().unwrap()))
                .or_insert_with(|| silent.to_owned());
        }
    }
    states
}

fn compare(lab: &Lab, ports: &str, targets: &[String], what: &str) {
    for (scan, silent) in [("-sY", "filtered"), ("-sZ", "open|filtered")] {
        let args: Vec<&str> = [scan, "-p", ports]
            .into_iter()
            .chain(targets.iter().map(String::as_str))
            .collect();
        let theirs = nmap::states(&nmap::grepable(lab, &args));
        let ours = our_states(lab, scan, ports, targets, silent);
        assert_eq!(
            theirs.len(),
            targets.len() * ports.split(',').count(),
            "{what} {scan}"
        );
        assert_eq!(ours, theirs, "{what} {scan}: ours vs nmap's");
    }
}

#[test]
fn states_equal_nmaps_on_every_kind_of_peer() {
    let settings = settings();
    let Some(lab) = common::lab(LabConfig {
        dropped_sctp_ports: vec![7],
        responder: Some(settings.clone()),
        ..LabConfig::default()
    }) else {
        return;
    };
    // nmap has no XDP program on vs0 to receive the responder's answers.
    common::gro_on_scanner_side(&lab);
    // A host without SCTP: the kernel answers protocol unreachable (before usrsctp runs, whose
    // raw socket would swallow SCTP for the whole namespace).
    compare(&lab, "9,80", &["198.18.128.1".to_owned()], "no SCTP");
    // The responder: open, closed (ABORT) and silent ports per its truth.
    let hosts: Vec<String> = settings
        .addresses()
        .take(8)
        .map(|ip| ip.to_string())
        .collect();
    let ports = "80,2905,3868,36412";
    let mut kinds = BTreeMap::<Truth, u32>::new();
    for host in &hosts {
        for port in ports.split(',') {
            let truth = settings
                .sctp_truth(host.parse().unwrap(), port.parse().unwrap())
                .unwrap();
            *kinds.entry(truth).or_default() += 1;
        }
    }
    assert_eq!(kinds.len(), 3, "the sample has every kind: {kinds:?}");
    compare(&lab, ports, &hosts, "responder");
    // usrsctp: port 9 open, 10 silent; 7 behind nft drop.
    let _peer = lab
        .start_sctp_peer()
        .expect("starting usrsctp's discard server");
    compare(&lab, "7,9,10", &[Lab::TARGET_IP.to_string()], "usrsctp");
}

/// An INIT sweep of the responder's /16 at 300k probes/s finds exactly its ground truth.
#[test]
fn init_sweep_of_the_responder_equals_its_ground_truth() {
    let settings = settings();
    let Some(mut lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    let ports = [2905u16, 3868, 36412];
    let list = ports.map(|port| port.to_string()).join(",");
    let output = run(scanner(&lab).args([
        "-sY",
        "-p",
        &list,
        &settings.cidr(),
        "--rate",
        "300000",
        "--wait",
        "1",
        "-oJ",
        "-",
    ]));
    let counts = lab.stop_responder().expect("stopping the responder");
    let expected: std::collections::BTreeSet<Found> = settings
        .addresses()
        .flat_map(|ip| ports.map(|port| (ip, port)))
        .filter_map(|(ip, port)| {
            let (state, reason) = match settings.sctp_truth(ip, port).unwrap() {
                Truth::Open => ("open", "init-ack"),
                Truth::Closed => ("closed", "abort"),
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
    common::assert_exactly(parse_json_lines_of(&output.stdout, "sctp"), &expected);
    assert_eq!(
        counts.malformed, 0,
        "every INIT well-formed, CRC32c good: {counts:?}"
    );
}

/// -PY: only the hosts that answer the ping are scanned (the responder's silent ones are not).
#[test]
fn sctp_ping_keeps_only_hosts_that_answer() {
    let settings = settings();
    let Some(lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    let hosts: Vec<Ipv4Addr> = settings.addresses().take(64).collect();
    let up: Vec<Ipv4Addr> = hosts
        .iter()
        .copied()
        .filter(|&ip| settings.sctp_truth(ip, 80).unwrap() != Truth::Silent)
        .collect();
    assert!(
        !up.is_empty() && up.len() < hosts.len(),
        "{} of {}",
        up.len(),
        hosts.len()
    );
    let range = format!("{}-{}", hosts[0], hosts[hosts.len() - 1]);
    let output = run(scanner(&lab).args([
        "-PY", "-sY", "-p", "2905", "--wait", "0.5", "-oJ", "-", &range,
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} of {} hosts up", up.len(), hosts.len())),
        "{stderr}"
    );
    let scanned = sent_packets(&stderr);
    assert!(scanned >= up.len() as u64, "{stderr}");
    for f in parse_json_lines_of(&output.stdout, "sctp") {
        assert!(up.contains(&f.ip), "{} was not up but was scanned", f.ip);
    }
    // The port scan's first pass covered exactly the hosts that were up.
    assert!(
        stderr.contains(&format!("scanner: {} addresses x 1 ports", up.len())),
        "{stderr}"
    );
}

/// Ctrl-C during -PY ends the run there as during a port scan: no port scanned, the outputs
/// closed (the XML says interrupted), the XDP program detached, exit 130.
#[test]
fn a_signal_during_host_discovery_ends_the_run_with_its_outputs_closed() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let xml = std::env::temp_dir().join(format!("scanner-ping-int-{}.xml", std::process::id()));
    // 32768 hosts at 1000 pps: half a minute of pinging, interrupted after a moment.
    let mut child = scanner(&lab)
        .args([
            "-PY",
            "-sY",
            "-p",
            "80",
            "198.18.128.0/17",
            "--rate",
            "1000",
        ])
        .args(["--wait", "1", "-oJ", "-", "-oX"])
        .arg(&xml)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until_attached(&lab);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = common::wait_bounded(&mut child, std::time::Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("scanner: interrupted during host discovery: no port was scanned"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("addresses x 1 ports"),
        "a port scan ran: {stderr}"
    );
    let written = std::fs::read_to_string(&xml).unwrap();
    assert!(
        written.ends_with("</runstats>\n</nmaprun>\n")
            && written.contains(r#"exit="error" errormsg="interrupted""#),
        "{}",
        &written[written.len().saturating_sub(300)..]
    );
    assert!(!lab.xdp_attached().unwrap(), "XDP program left attached");
    let _ = std::fs::remove_file(&xml);
}
