//! However a scan ends, it leaves the kernel's BPF objects as it found them: bpftool's counts
//! of programs, maps and links after a normal end, after each kind of error exit, and after
//! SIGINT, SIGTERM and SIGKILL equal those before.
//!
//! The counts are the whole machine's, so this test is alone in its binary: cargo runs test
//! binaries one after the other, and nothing else of ours loads a program meanwhile.

mod common;

use std::{
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use common::{scanner, wait_bounded, wait_until_attached};
use scanner_tests::{Lab, LabConfig};
use serde_json::Value;

/// Programs, maps and links, as bpftool lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Objects {
    programs: usize,
    maps: usize,
    links: usize,
}

fn count(kind: &str) -> usize {
    let output = Command::new("bpftool")
        .args(["--json", kind, "show"])
        .output()
        .expect("running bpftool (Debian's bpftool package; cargo xtask setup installs it)");
    assert!(
        output.status.success(),
        "bpftool {kind} show: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).expect("bpftool's JSON");
    listed.as_array().expect("a JSON array").len()
}

fn objects() -> Objects {
    Objects {
        programs: count("prog"),
        maps: count("map"),
        links: count("link"),
    }
}

/// Waits (a kernel frees a dead process's objects a moment later) until the counts are back
/// to `before`, and fails naming the case otherwise.
fn assert_back_to(before: Objects, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = objects();
        if now == before {
            eprintln!("{case}: {now:?}, as before");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: BPF objects left behind: {now:?} after, {before:?} before"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A scan that would run for minutes (1000 ports of the /17), for the signals to end.
fn long_scan(lab: &Lab) -> Child {
    scanner(lab)
        .args([
            "-p",
            "1-1000",
            "198.18.128.0/17",
            "--rate",
            "5000",
            "--wait",
            "1",
        ])
        .args(["-oJ", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the scanner")
}

/// Runs a scan to its end and checks its exit code.
fn run(lab: &Lab, args: &[&str], code: i32, case: &str) {
    let mut child = scanner(lab)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the scanner");
    let output = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(code),
        "{case}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn no_way_of_ending_a_scan_leaves_bpf_objects_behind() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let before = objects();
    eprintln!("before: {before:?}");

    run(&lab, &["-p", "22,23", "198.18.128.1-8"], 0, "normal end");
    assert_back_to(before, "normal end");
    run(&lab, &["-O", "-p", "22,23", "198.18.128.9"], 0, "-O");
    assert_back_to(before, "-O (a port scan, then the OS stage)");
    run(&lab, &["-sY", "-PY", "-p", "80", "198.18.128.10"], 0, "-PY");
    assert_back_to(before, "-PY (discovery, then the scan)");
    // An output that fails once results arrive: error exit with the program attached.
    run(
        &lab,
        &["-p", "22", "198.18.128.1-8", "-oJ", "/dev/full"],
        1,
        "full disk",
    );
    assert_back_to(before, "an output on a full disk");

    // An error at set-up: the interface is held by the first scan.
    let mut first = long_scan(&lab);
    wait_until_attached(&lab);
    // The counts see a scan's objects at all: its program, its maps, its XDP link.
    let during = objects();
    assert!(
        during.programs > before.programs
            && during.maps > before.maps
            && during.links > before.links,
        "bpftool does not list the running scan's objects: {during:?} during, {before:?} before"
    );
    run(&lab, &["-p", "22", "198.18.128.1"], 1, "interface busy");
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    let output = wait_bounded(&mut first, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(130));
    assert_back_to(
        before,
        "an interface held by another scan, then SIGINT twice",
    );

    for (signal, code) in [
        (libc::SIGINT, Some(130)),
        (libc::SIGTERM, Some(143)),
        (libc::SIGKILL, None),
    ] {
        let mut child = long_scan(&lab);
        wait_until_attached(&lab);
        thread::sleep(Duration::from_millis(300));
        let pid = child.id() as i32;
        // SAFETY: kill(2) on the child we started.
        unsafe { libc::kill(pid, signal) };
        let output = wait_bounded(&mut child, Duration::from_secs(30));
        assert_eq!(output.status.code(), code, "after signal {signal}");
        assert_back_to(before, &format!("signal {signal}"));
    }
}
