//! Memory bounded by the rate and the cooldown, not by the scan's size: 198.18.0.0/15 on all
//! 65535 ports (8.6 billion probes, a bit each would be 1 GiB) at the machine's full rate for
//! 20 seconds peaks under 256 MiB, with every result it read streamed to -oJ; and the window of
//! recent answers that such a scan retries from decides exactly what the exact set decides.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::Stdio,
    thread,
    time::Duration,
};

use common::{parse_json_states_of, run, scanner, wait_bounded};
use scanner_tests::{Lab, LabConfig};

/// The bound of issue 16, in bytes.
const BOUND: u64 = 256 << 20;

/// The MAC address of the target's interface: the /15 is sent there whole (only its /17 of
/// AnyIP addresses and 198.18.0.2 answer; the rest is silence, as most of the Internet).
fn target_mac(lab: &Lab) -> String {
    let out = lab
        .command_in_target("cat")
        .arg(format!("/sys/class/net/{}/address", lab.target_if()))
        .output()
        .expect("reading the target's MAC");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The peak resident set of the children waited for so far, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss as u64 * 1024
}

/// A number in the summary line that starts with `prefix`, right after it.
fn summary_number(stderr: &str, prefix: &str) -> u64 {
    let line = stderr
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stderr}"));
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{prefix}`: {line}"))
}

#[test]
fn a_slash_15_on_every_port_at_full_rate_stays_under_256_mib() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let before = children_peak_rss();
    let mac = target_mac(&lab);
    let mut child = scanner(&lab)
        .args([
            "-sS",
            "-p",
            "1-65535",
            "198.18.0.0/15",
            "--max-runtime",
            "20",
        ])
        .args([
            "--rate",
            "100000000",
            "-e",
            lab.scanner_if(),
            "-S",
            "198.18.0.1",
        ])
        .args(["-G", &mac, "-oJ", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the scanner");
    // Count the lines as they stream rather than hold them: they are millions.
    let stdout = child.stdout.take().expect("piped");
    let counter = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|line| line.expect("a line of -oJ"))
            .filter(|line| line.contains("\"state\""))
            .count() as u64
    });
    let output = wait_bounded(&mut child, Duration::from_secs(120));
    let lines = counter.join().expect("counting -oJ");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let peak = children_peak_rss();
    assert!(
        peak > before,
        "the scanner is the largest child ({peak} bytes)"
    );
    let sent = summary_number(&stderr, "sent ");
    let read = summary_number(&stderr, "replies: ");
    eprintln!(
        "peak RSS {} MiB, {sent} packets sent, {read} replies",
        peak >> 20
    );
    assert!(
        peak < BOUND,
        "peak RSS {} MiB, over the bound of 256 MiB\n{stderr}",
        peak >> 20
    );
    // The bound is only worth something under load: millions of probes, a million answers.
    assert!(sent > 2_000_000, "only {sent} probes sent:\n{stderr}");
    let duplicates = stderr
        .split(" read, ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .expect("the duplicates count");
    let read_results = stderr
        .split("matched in XDP")
        .nth(1)
        .and_then(|rest| {
            rest.split(", ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .expect("the records read");
    assert_eq!(
        lines,
        read_results - duplicates,
        "every result read went to -oJ, once"
    );
}

/// What a scan of `args` decides for each (address, port): with the window of recent answers
/// (what every scan of more than 2^27 probes retries from) and with the exact set.
#[test]
fn the_window_of_recent_answers_decides_what_the_exact_set_decides() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let config = lab.config();
    let ports = format!(
        "22,23,80,{},{}",
        config.dropped_ports[0], config.rejected_ports[0]
    );
    let decide = |window: bool| -> BTreeMap<(String, u16), String> {
        let mut command = scanner(&lab);
        command.args([
            "-sS",
            "-p",
            &ports,
            "198.18.128.0/25",
            "--wait",
            "1",
            "-oJ",
            "-",
        ]);
        if window {
            command.arg("--answered-window");
        }
        let output = run(&mut command);
        let mut states = BTreeMap::new();
        for found in parse_json_states_of(&output.stdout, "tcp") {
            let key = (found.ip.to_string(), found.port);
            assert!(
                states.insert(key.clone(), found.state).is_none(),
                "{key:?} reported twice (window: {window})"
            );
        }
        states
    };
    let exact = decide(false);
    let window = decide(true);
    assert_eq!(exact.len(), 128 * 5, "every probe decided");
    for ((_, port), state) in &exact {
        assert_eq!(state, config.truth(*port).nmap_state(), "port {port}");
    }
    assert_eq!(window, exact);
}
