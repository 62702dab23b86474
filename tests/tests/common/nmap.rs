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
