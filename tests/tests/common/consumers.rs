//! The consumers of nmap's output that ours is fed to: xmllint with nmap.dtd, ndiff and
//! python-libnmap (`cargo xtask setup` installs them).

use std::process::Command;

pub const NMAP_DTD: &str = "/usr/share/nmap/nmap.dtd";

/// Runs `program` (a consumer), failing the test if it cannot start.
pub fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("running {program} ({err}); cargo xtask setup installs it"))
}

pub fn assert_valid_xml(path: &str) {
    let out = tool("xmllint", &["--noout", "--dtdvalid", NMAP_DTD, path]);
    assert!(
        out.status.success(),
        "{path} is not valid against {NMAP_DTD}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ndiff's differences beyond the two header lines (`-Nmap 7.93 scan initiated ...`).
pub fn ndiff(theirs: &str, ours: &str) -> Vec<String> {
    let out = tool("ndiff", &[theirs, ours]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.contains(" scan initiated "))
        .map(str::to_owned)
        .collect()
}

/// What python-libnmap reads: `address status port/proto state reason`, one line per port.
pub fn libnmap(path: &str) -> Vec<String> {
    let script = "import sys\n\
        from libnmap.parser import NmapParser\n\
        report = NmapParser.parse_fromfile(sys.argv[1])\n\
        for h in report.hosts:\n\
        \x20   for s in h.services:\n\
        \x20       print(h.address, h.status, '%d/%s' % (s.port, s.protocol), s.state, s.reason)\n\
        \x20   for m in h.os.osmatches[:1]:\n\
        \x20       print(h.address, 'os', m.name, m.accuracy, [c.cpelist for c in m.osclasses])\n";
    let out = tool("/usr/bin/python3", &["-c", script, path]);
    assert!(
        out.status.success(),
        "python-libnmap cannot read {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}
