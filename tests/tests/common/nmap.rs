//! nmap, the reference the scans are held against: run in the scanner's namespace, read from
//! its grepable output.

use std::{collections::BTreeMap, net::Ipv4Addr};

use scanner_tests::Lab;

/// Runs `nmap -Pn -n <args> -oG -` in the scanner namespace; returns its grepable output.
pub fn grepable(lab: &Lab, args: &[&str]) -> String {
    let output = lab
        .command_in_scanner("nmap")
        .args(["-Pn", "-n"])
        .args(args)
        .args(["-oG", "-"])
        .output()
        .expect("running nmap (apt-get install nmap; cargo xtask setup does)");
    assert!(output.status.success(), "nmap failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(host, port) -> state` of every port (or, for -sO, protocol) grepable output lists; the
/// ports of an "Ignored State" are not listed.
pub fn states(grepable: &str) -> BTreeMap<(Ipv4Addr, u16), String> {
    let mut states = BTreeMap::new();
    for line in grepable.lines() {
        let Some(list) = line
            .split_once("Ports: ")
            .or_else(|| line.split_once("Protocols: "))
            .map(|(_, list)| list.split('\t').next().unwrap_or_default())
        else {
            continue;
        };
        let host: Ipv4Addr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        for entry in list.split(", ") {
            let mut fields = entry.split('/');
            let port = fields.next().unwrap().trim().parse().unwrap();
            states.insert((host, port), fields.next().unwrap().to_owned());
        }
    }
    states
}

/// What `nmap -O -d` printed about one host.
pub struct NmapOs {
    /// The fingerprint block, unwrapped: the SCAN line and one line per test.
    pub fingerprint: String,
    /// The "OS details: ..." or "Aggressive OS guesses: ..." line, if any.
    pub matches_line: Option<String>,
}

/// Runs `nmap -Pn -n -O -d <args>` in the scanner namespace against one host.
pub fn os_detection(lab: &Lab, args: &[&str]) -> NmapOs {
    let output = lab
        .command_in_scanner("nmap")
        .args(["-Pn", "-n", "-O", "-d"])
        .args(args)
        .output()
        .expect("running nmap (apt-get install nmap; cargo xtask setup does)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "nmap failed: {output:?}");
    let wrapped: String = text
        .split("TCP/IP fingerprint:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("nmap printed no fingerprint:\n{text}"))
        .lines()
        .take_while(|line| line.starts_with("OS:"))
        .map(|line| &line[3..])
        .collect();
    NmapOs {
        fingerprint: split_tests(&wrapped).join("\n"),
        matches_line: text
            .lines()
            .find(|line| {
                line.starts_with("OS details: ") || line.starts_with("Aggressive OS guesses: ")
            })
            .map(str::to_owned),
    }
}

/// `SCAN(...)SEQ(...)OPS(...)` -> its tests, each `NAME(...)`.
fn split_tests(unwrapped: &str) -> Vec<&str> {
    let mut tests = Vec::new();
    let mut rest = unwrapped;
    while let Some(end) = rest.find(')') {
        tests.push(&rest[..=end]);
        rest = &rest[end + 1..];
    }
    tests
}
