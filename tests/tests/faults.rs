//! Faults of the network path. In the middle of a scan: the scanner's link set down, the
//! target's namespace deleted (its end takes the veth pair, so the scanner's interface
//! disappears); either way the scan says in one line what happened and how far it got, keeps
//! every result it had in its outputs (closed, the XML marked as ended in error), and exits 1
//! at once. Before it: no route, a next hop that answers no ARP, and a stale neighbour entry
//! with an old MAC (the cause of a scan that once heard nothing at all).

mod common;

use std::{
    path::PathBuf,
    process::{Child, Stdio},
    thread,
    time::Duration,
};

use common::{Found, parse_json_lines, scanner, wait_bounded, wait_until_attached};
use scanner_tests::{Lab, LabConfig, PortTruth};

/// 1024 addresses x 2 ports at 500 pps: four seconds of sending, cut after one.
const PORTS: [u16; 2] = [22, 23];
const RANGE: &str = "198.18.128.0/22";
const RATE: &str = "500";

/// Starts the scan the fault interrupts, its XML going to `xml`.
fn start(lab: &Lab, xml: &PathBuf) -> Child {
    scanner(lab)
        .args(["-p", "22,23", RANGE, "--rate", RATE, "-oJ", "-", "-oX"])
        .arg(xml)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the scanner")
}

/// What the summary's `replies:` line says was read in user space, less its duplicates: the
/// results the scanner had when it stopped.
fn results_read(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|line| line.trim_start().starts_with("replies:"))
        .unwrap_or_else(|| panic!("no replies line: {stderr}"));
    let before = |label: &str| -> usize {
        let at = line
            .find(label)
            .unwrap_or_else(|| panic!("{label:?} in {line:?}"));
        line[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    before(" read,") - before(" duplicates;")
}

/// The checks both faults share: exit 1 with one error line naming the interface and how far
/// the scan got; every result read is in -oJ, true to the lab, once; the XML closed in error.
/// Returns the error line. With `listeners_gone`, the lab's listeners closed before the end
/// (a namespace's sockets go before it does): an open port may have answered closed last.
fn assert_stopped_with_results(
    lab: &Lab,
    child: &mut Child,
    xml: &PathBuf,
    fault: &str,
    listeners_gone: bool,
) -> String {
    let output = wait_bounded(child, Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert_eq!(output.status.code(), Some(1), "{fault}: {stderr}");
    let error = stderr
        .lines()
        .find(|line| line.starts_with("scanner: error: "))
        .unwrap_or_else(|| panic!("{fault}: no error line in: {stderr}"));
    assert!(
        error.starts_with(&format!(
            "scanner: error: sending probes on {}: ",
            lab.scanner_if()
        )) && error.contains("the scan stopped after ")
            && error.contains(" of 2048 probes"),
        "{fault}: {error}"
    );
    assert!(stderr.contains("stopped by a send error"), "{stderr}");
    assert!(stderr.contains("probes not sent"), "{stderr}");

    let found = parse_json_lines(&output.stdout);
    assert!(
        !found.is_empty(),
        "{fault}: the results before it were lost"
    );
    assert_eq!(
        found.len(),
        results_read(&stderr),
        "{fault}: every result read is written, once"
    );
    let config = lab.config();
    for Found {
        port, state, ip, ..
    } in &found
    {
        let truths: &[&str] = match config.truth(*port) {
            PortTruth::Open if listeners_gone => &["open", "closed"],
            PortTruth::Open => &["open"],
            PortTruth::Closed => &["closed"],
            other => panic!("{other:?} among {PORTS:?}"),
        };
        assert!(
            truths.contains(&state.as_str()),
            "{fault}: {ip}:{port} {state}"
        );
    }
    let written = std::fs::read_to_string(xml).unwrap();
    assert!(
        written.ends_with("</runstats>\n</nmaprun>\n")
            && written.contains(r#"exit="error" errormsg="sending probes failed"#),
        "{fault}: the XML is closed, in error: {}",
        &written[written.len().saturating_sub(400)..]
    );
    let _ = std::fs::remove_file(xml);
    error.to_owned()
}

fn xml_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("scanner-{name}-{}.xml", std::process::id()))
}

#[test]
fn the_link_set_down_mid_scan_ends_it_with_the_results_so_far() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let xml = xml_path("link-down");
    let mut child = start(&lab, &xml);
    wait_until_attached(&lab);
    thread::sleep(Duration::from_secs(1));
    let down = lab
        .command_in_scanner("ip")
        .args(["link", "set", lab.scanner_if(), "down"])
        .status()
        .unwrap();
    assert!(down.success(), "ip link set down: {down}");
    let error = assert_stopped_with_results(&lab, &mut child, &xml, "link down", false);
    assert!(error.contains("Network is down"), "{error}");
}

#[test]
fn the_target_namespace_deleted_mid_scan_ends_it_with_the_results_so_far() {
    let Some(mut lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let xml = xml_path("netns-gone");
    let mut child = start(&lab, &xml);
    wait_until_attached(&lab);
    thread::sleep(Duration::from_secs(1));
    lab.delete_target_ns()
        .expect("deleting the target namespace");
    assert_stopped_with_results(&lab, &mut child, &xml, "target namespace deleted", true);
}

/// The all-silent scan: a neighbour entry the kernel has not confirmed lately (STALE) holding
/// the next hop's old MAC sent every probe to a MAC nobody has, and 40 probes came back 40
/// `filtered`. Now an unconfirmed entry is checked with an ARP request first: the scan finds
/// the truth and says the table was out of date. A next hop that does not answer ARP keeps
/// the table's MAC, with a note.
#[test]
fn a_stale_neighbour_entry_is_checked_by_arp_before_the_scan() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let neighbour = |mac: &str| {
        let set = lab
            .command_in_scanner("ip")
            .args([
                "neigh",
                "replace",
                &Lab::TARGET_IP.to_string(),
                "lladdr",
                mac,
            ])
            .args(["dev", lab.scanner_if(), "nud", "stale"])
            .status()
            .unwrap();
        assert!(set.success(), "ip neigh replace: {set}");
    };
    let scan = || common::run(scanner(&lab).args(["-p", "22,23", "198.18.128.20-39", "-oJ", "-"]));
    let expected = |found: &[Found]| {
        let config = lab.config();
        assert_eq!(found.len(), 40, "{found:?}");
        for f in found {
            let truth = config.truth(f.port).nmap_state();
            assert_eq!(f.state, truth, "{}:{}", f.ip, f.port);
        }
    };

    neighbour("02:00:00:00:00:99");
    let output = scan();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "scanner: note: the neighbour table's MAC for 198.18.0.2 on vs0, 02:00:00:00:00:99, \
             was out of date: 02:00:00:00:00:02 answered our ARP request"
        ),
        "{stderr}"
    );
    expected(&parse_json_lines(&output.stdout));

    // A next hop that answers no ARP: the table's MAC (right, here) is used, with a note.
    let arp_off = lab
        .command_in_target("ip")
        .args(["link", "set", lab.target_if(), "arp", "off"])
        .status()
        .unwrap();
    assert!(arp_off.success(), "ip link set arp off: {arp_off}");
    neighbour("02:00:00:00:00:02");
    let output = scan();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("scanner: note: 198.18.0.2 on vs0 did not answer ARP within 500ms")
            && stderr.contains("the probes go to 02:00:00:00:00:02"),
        "{stderr}"
    );
    expected(&parse_json_lines(&output.stdout));
}

/// A target without a route, and a next hop that answers no ARP, are one line each naming
/// the address (and the interface), exit code 1, nothing sent.
#[test]
fn no_route_and_an_unresolvable_next_hop_are_one_line_each() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let fails = |target: &str| {
        let output = scanner(&lab)
            .args(["-p", "22", target])
            .output()
            .expect("running the scanner");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        stderr.trim_end().to_owned()
    };
    // The lab routes 198.18.0.0/24 and 198.18.128.0/17 only, and has no default route.
    assert_eq!(
        fails("198.18.64.1"),
        "scanner: error: no route to 198.18.64.1"
    );

    // The target stops answering ARP, and the scanner forgets what it knew.
    let arp_off = lab
        .command_in_target("ip")
        .args(["link", "set", lab.target_if(), "arp", "off"])
        .status()
        .unwrap();
    let flushed = lab
        .command_in_scanner("ip")
        .args(["neigh", "flush", "dev", lab.scanner_if()])
        .status()
        .unwrap();
    assert!(
        arp_off.success() && flushed.success(),
        "{arp_off}, {flushed}"
    );
    assert_eq!(
        fails("198.18.128.1"),
        "scanner: error: could not resolve the MAC address of 198.18.0.2 on vs0 (no ARP reply \
         within 1s); give it with --gateway-mac"
    );
}
