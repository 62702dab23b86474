//! Resume after any interruption: a scan stopped by a signal (SIGINT or SIGTERM: exit 130 or
//! 143, and a checkpoint), resumed and killed outright (SIGKILL: only the checkpoint rewritten
//! every few seconds is left), then resumed again to its end, has in its -oJ exactly the
//! states of an uninterrupted scan, each (address, port) once; the checkpoint and its journal
//! are gone afterwards. A checkpoint of another scan, or a damaged one, is one clear line.

mod common;

use std::{
    collections::BTreeMap,
    fs,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use common::{scanner, scratch::Scratch, wait_bounded};
use scanner_tests::{Lab, LabConfig};

/// 4096 addresses x 6 ports at 2000 pps: twelve seconds of first pass.
const RANGE: &str = "198.18.128.0/20";
const RATE: &str = "2000";

fn ports(lab: &Lab) -> String {
    let config = lab.config();
    format!(
        "22,23,80,443,{},{}",
        config.dropped_ports[0], config.rejected_ports[0]
    )
}

/// The scan, run in `dir` (where the checkpoint and its journal go).
fn scan(lab: &Lab, dir: &Path, extra: &[&str]) -> Command {
    let mut command = scanner(lab);
    command
        .current_dir(dir)
        .args([
            "-sS",
            "-p",
            &ports(lab),
            RANGE,
            "--rate",
            RATE,
            "--wait",
            "1",
        ])
        .args(["-oJ", "r.jsonl"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn resume(lab: &Lab, dir: &Path) -> Command {
    let mut command = scanner(lab);
    command
        .current_dir(dir)
        .args(["--resume", "paused.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `command`, sends `signal` after `after`, and returns its stderr once it exited.
fn interrupt(
    command: &mut Command,
    after: Duration,
    signal: i32,
) -> (std::process::ExitStatus, String) {
    let mut child = command.spawn().expect("starting the scanner");
    thread::sleep(after);
    // Our own child, by its PID (`ip netns exec` execs the scanner in place).
    unsafe { libc::kill(child.id() as i32, signal) };
    let output = wait_bounded(&mut child, Duration::from_secs(60));
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Each (address, port) of the -oJ in `dir`, with its state; fails on a second line for one.
fn states(dir: &Path) -> BTreeMap<(String, u64), String> {
    let mut states = BTreeMap::new();
    for line in fs::read_to_string(dir.join("r.jsonl")).unwrap().lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let (Some(ip), Some(port)) = (value["ip"].as_str(), value["port"].as_u64()) else {
            continue;
        };
        let state = value["state"].as_str().unwrap().to_owned();
        let key = (ip.to_owned(), port);
        assert!(
            states.insert(key.clone(), state).is_none(),
            "{key:?} reported twice"
        );
    }
    states
}

/// The lab's truth for every (address, port) of the scan: what an uninterrupted scan says
/// (tests/syn_scan.rs holds it against nmap).
fn truth(lab: &Lab) -> BTreeMap<(String, u64), String> {
    let config = lab.config();
    let mut truth = BTreeMap::new();
    for host in 0..4096u32 {
        let ip =
            std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 128, 0)) + host);
        for port in ports(lab).split(',') {
            let port: u16 = port.parse().unwrap();
            truth.insert(
                (ip.to_string(), u64::from(port)),
                config.truth(port).nmap_state().to_owned(),
            );
        }
    }
    truth
}

fn stopped_signal_killed_and_resumed(first_signal: i32, first_code: i32, extra: &[&str]) {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new(&format!("resume-{first_signal}{}", extra.len()));
    let dir = &scratch.0;

    let (status, stderr) = interrupt(
        &mut scan(&lab, dir, extra),
        Duration::from_secs(3),
        first_signal,
    );
    assert_eq!(status.code(), Some(first_code), "{stderr}");
    assert!(
        stderr.contains("scanner: paused: go on with `scanner --resume paused.json`"),
        "{stderr}"
    );
    let first = fs::read_to_string(dir.join("paused.json")).expect("a checkpoint");
    assert!(first.contains("\"version\": 1"), "{first}");

    // Killed outright 8 s in: the checkpoint of a few seconds before is all that is left.
    let (status, stderr) = interrupt(
        &mut resume(&lab, dir),
        Duration::from_secs(8),
        libc::SIGKILL,
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{stderr}");
    assert!(stderr.contains("scanner: resuming paused.json"), "{stderr}");
    let second = fs::read_to_string(dir.join("paused.json")).expect("a checkpoint");
    assert_ne!(first, second, "rewritten while the resumed scan ran");

    let output = wait_bounded(
        &mut resume(&lab, dir).spawn().expect("resuming"),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        states(dir),
        truth(&lab),
        "the uninterrupted scan's states, each once"
    );
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("paused.json"))
        .collect();
    assert!(
        left.is_empty(),
        "checkpoint and journal removed at the end: {left:?}"
    );
}

/// A scan small enough for an exact answered set: passes over the plan.
#[test]
fn sigint_then_sigkill_then_resume_gives_the_uninterrupted_scan() {
    stopped_signal_killed_and_resumed(libc::SIGINT, 130, &[]);
}

/// The trailing retries and the window of recent answers of a scan of more than 2^27 probes.
#[test]
fn sigterm_then_sigkill_then_resume_gives_the_uninterrupted_scan_with_the_answered_window() {
    stopped_signal_killed_and_resumed(libc::SIGTERM, 143, &["--answered-window"]);
}

#[test]
fn a_checkpoint_of_another_scan_or_a_damaged_one_is_one_line() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("resume-refused");
    let dir = &scratch.0;
    let (status, stderr) = interrupt(
        &mut scan(&lab, dir, &[]),
        Duration::from_secs(2),
        libc::SIGINT,
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    let seed = stderr
        .split("; seed ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the seed in the summary")
        .to_owned();

    // The same scan but for its ports.
    let output = scanner(&lab)
        .current_dir(dir)
        .args([
            "-sS",
            "-p",
            "22,23",
            RANGE,
            "--seed",
            &seed,
            "--resume",
            "paused.json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("scanner: error: paused.json was written for another scan: ports "),
        "{stderr}"
    );

    let whole = fs::read(dir.join("paused.json")).unwrap();
    fs::write(dir.join("paused.json"), &whole[..whole.len() / 3]).unwrap();
    let output = resume(&lab, dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("scanner: error: paused.json is not a checkpoint of this scanner"),
        "{stderr}"
    );
}
