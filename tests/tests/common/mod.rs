//! What every integration test needs: a lab (or a loud failure in CI when there cannot be
//! one), the scanner binary, and its JSON results.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    path::PathBuf,
    process::{Command, Output},
};

use scanner_tests::{Lab, LabConfig};
use serde_json::Value;

pub mod consumers;
pub mod nmap;
pub mod scratch;
pub mod tshark;

/// A lab for this test, or `None` (test skipped with a note) when not root outside CI.
/// Under `CI=true` a lab that cannot be built fails the test.
pub fn lab(config: LabConfig) -> Option<Lab> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if unsafe { libc::geteuid() } != 0 {
        assert!(!in_ci, "integration tests need root in CI");
        eprintln!("skipped: integration tests need root (they build network namespaces)");
        return None;
    }
    Some(Lab::up(config).expect("bringing the lab up"))
}

/// The release scanner binary, next to this test's own `deps/` directory.
pub fn scanner_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join("scanner");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --release` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// A scanner command inside the lab's scanner namespace, allowed to scan the lab's range.
pub fn scanner(lab: &Lab) -> Command {
    let mut command = lab.command_in_scanner(scanner_bin());
    command.args(["--allowlist-file", scanner_tests::LAB_ALLOWLIST]);
    command
}

pub fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("running the scanner");
    assert_success(&output);
    output
}

/// Runs a scan that nothing answers: it must end with exit code 3 and the warning that says so.
pub fn run_unanswered(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("running the scanner");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(3),
        "a scan nothing answered exits 3: {stderr}"
    );
    assert!(
        stderr.contains("scanner: warning: no reply at all: "),
        "{stderr}"
    );
    output
}

/// Runs a scan that may get no reply at all: it exits 0, or 3 with the warning when its summary
/// says nothing matched.
pub fn run_answered_or_not(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("running the scanner");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(3) => assert!(
            stderr.contains("scanner: warning: no reply at all: ")
                && stderr.contains("replies: 0 matched in XDP"),
            "exit code 3 is for a scan nothing answered: {stderr}"
        ),
        _ => assert_success(&output),
    }
    output
}

/// Fails the test, with the scanner's stderr, unless it exited with 0.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "scanner failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One JSON result, reduced to what tests compare.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub state: String,
    pub reason: String,
}

/// The replies of `-oJ -` output of a TCP scan; every line must be a well-formed result.
pub fn parse_json_lines(stdout: &[u8]) -> Vec<Found> {
    parse_json_lines_of(stdout, "tcp")
}

/// The replies of `-oJ -` output whose results are all of `proto` ("tcp", "ip", ...): every
/// state but those silence decided (`no-response`), which -oJ lists too.
pub fn parse_json_lines_of(stdout: &[u8], proto: &str) -> Vec<Found> {
    parse_json_states_of(stdout, proto)
        .into_iter()
        .filter(|found| found.reason != "no-response")
        .collect()
}

/// Every port state of `-oJ -` output (OS lines aside), the silent ones included.
pub fn parse_json_states_of(stdout: &[u8], proto: &str) -> Vec<Found> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON object per line");
            if v.get("os").is_some() {
                return None;
            }
            assert_eq!(v["proto"], proto, "{line}");
            assert!(v["ttl"].is_u64(), "{line}");
            Some(Found {
                ip: v["ip"].as_str().unwrap().parse().unwrap(),
                port: v["port"].as_u64().unwrap() as u16,
                state: v["state"].as_str().unwrap().to_owned(),
                reason: v["reason"].as_str().unwrap().to_owned(),
            })
        })
        .collect()
}

/// The lab's target addresses from `first` on, `count` of them.
pub fn lab_addresses(first: u32, count: u32) -> impl Iterator<Item = Ipv4Addr> {
    let (net, _) = Lab::TARGET_RANGE;
    (first..first + count).map(move |i| Ipv4Addr::from(u32::from(net) + i))
}

/// The set of (ip, port) pairs of some results.
pub fn pairs(found: &[Found]) -> BTreeSet<(Ipv4Addr, u16)> {
    found.iter().map(|f| (f.ip, f.port)).collect()
}

/// Asserts that `found` holds exactly `expected`: one result per probe (no duplicates), nothing
/// missing, nothing extra (a few of each shown).
pub fn assert_exactly(found: Vec<Found>, expected: &BTreeSet<Found>) {
    assert_eq!(
        found.len(),
        expected.len(),
        "one result per answered probe, no duplicates"
    );
    let found: BTreeSet<Found> = found.into_iter().collect();
    let missing: Vec<_> = expected.difference(&found).take(5).collect();
    let extra: Vec<_> = found.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

/// The `N` of the summary's `  sent N packets (...)` line.
pub fn sent_packets(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("sent ")?.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `sent N packets` line in: {stderr}"))
}

/// Lets tools without an XDP program (nmap, tshark) receive on the scanner's `vs0` what the
/// responder redirects there: those frames reach a stack only through NAPI, which GRO turns on.
pub fn gro_on_scanner_side(lab: &Lab) {
    let gro = lab
        .command_in_scanner("ethtool")
        .args(["-K", lab.scanner_if(), "gro", "on"])
        .status()
        .expect("running ethtool");
    assert!(gro.success(), "ethtool -K gro on: {gro}");
}

/// Waits (up to 10 s) until the scanner under test has attached its XDP program to the lab.
pub fn wait_until_attached(lab: &Lab) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !lab.xdp_attached().unwrap() {
        assert!(std::time::Instant::now() < deadline, "XDP never attached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for a child while draining its pipes (a full pipe would stall it), killing it (our
/// own PID) and failing if it outlives `limit`.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
