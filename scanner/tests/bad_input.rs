//! Malformed input gets one line naming the problem and exit code 2: never a panic, never a
//! scan. These run before anything privileged, so they need no root and no lab.

use std::{fs, path::PathBuf, process::Command};

/// The lab's allowlist: the 198.18.0.0/15 addresses below are in the default blocklist.
const LAB_ALLOWLIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/lab-allowlist.txt");

fn scanner(args: &[&str]) -> (Option<i32>, String) {
    scanner_with_policy(&["--allowlist-file", LAB_ALLOWLIST], args)
}

fn scanner_with_policy(policy: &[&str], args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_scanner"))
        .args(policy)
        .args(args)
        .output()
        .expect("running the scanner");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_input_error(args: &[&str], names: &str) {
    assert_error_line(scanner(args), args, names);
}

fn assert_error_line((code, stderr): (Option<i32>, String), args: &[&str], names: &str) {
    assert_eq!(code, Some(2), "{args:?}: exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        stderr.contains(names),
        "{args:?}: {stderr:?} does not name {names:?}"
    );
    assert!(
        stderr.lines().filter(|line| line.contains("error")).count() == 1,
        "{args:?}: one error line expected: {stderr}"
    );
    assert!(
        stderr.trim_end().lines().count() <= 3,
        "{args:?}: not one line: {stderr}"
    );
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("scanner-bad-input-{}-{name}", std::process::id()));
    fs::write(&path, contents).unwrap();
    path
}

#[test]
fn malformed_targets() {
    assert_input_error(&["-p", "80", "198.18.0.0/33"], "198.18.0.0/33");
    assert_input_error(&["-p", "80", "198.18.0.256"], "198.18.0.256");
    assert_input_error(
        &["-p", "80", "198.18.0.9-198.18.0.1"],
        "198.18.0.9-198.18.0.1",
    );
    assert_input_error(
        &["-p", "80", "scanme.example"],
        "hostnames are not supported",
    );
    assert_input_error(&["-p", "80"], "no targets");
    assert_input_error(
        &["-p", "80", "198.18.0.1", "--exclude", "198.18.0.0/24"],
        "excluded by --exclude",
    );
    assert_input_error(
        &["-p", "80", "198.18.0.1", "--exclude", "198.18.0.x"],
        "198.18.0.x",
    );
}

#[test]
fn malformed_ports() {
    assert_input_error(&["-p", "70000", "198.18.0.1"], "70000");
    assert_input_error(&["-p", "100-1", "198.18.0.1"], "100-1");
    assert_input_error(&["-p", "80,,81", "198.18.0.1"], "80,,81");
    assert_input_error(&["-p", "http", "198.18.0.1"], "http");
}

#[test]
fn bad_target_files() {
    let empty = temp_file("empty", "# only a comment\n\n");
    assert_input_error(&["-p", "80", "-iL", empty.to_str().unwrap()], "no targets");
    let bad = temp_file("bad", "198.18.0.1\n198.18.0.0/40 # oops\n");
    assert_input_error(&["-p", "80", "-iL", bad.to_str().unwrap()], ":2:");
    let missing = std::env::temp_dir().join("scanner-bad-input-does-not-exist");
    assert_input_error(
        &["-p", "80", "-iL", missing.to_str().unwrap()],
        "does-not-exist",
    );
    fs::remove_file(empty).unwrap();
    fs::remove_file(bad).unwrap();
}

#[test]
fn bad_options() {
    assert_input_error(&["-p", "80", "--rate", "0", "198.18.0.1"], "--rate");
    assert_input_error(&["-sX", "-p", "80", "198.18.0.1"], "-sX");
    assert_input_error(&["-sO", "-p", "1,300", "198.18.0.1"], "300");
    assert_input_error(&["-sY", "-PY70000", "198.18.0.1"], "70000");
    assert_input_error(&["-p", "80", "--wait", "forever", "198.18.0.1"], "forever");
    assert_input_error(
        &["-p", "80", "--gateway-mac", "02:00:00", "198.18.0.1"],
        "02:00:00",
    );
    assert_input_error(&["-p", "80", "-e", "lo", "198.18.0.1"], "loopback");
    assert_input_error(&["-p", "80", "-e", "nosuchif0", "198.18.0.1"], "nosuchif0");
}

#[test]
fn blocked_and_internet_scale_scans() {
    // The lab range without an allowlist: the default blocklist (ZMap's IANA list) refuses it.
    let args = ["-p", "80", "198.18.0.0/24"];
    assert_error_line(
        scanner_with_policy(&[], &args),
        &args,
        "198.18.0.0/15 benchmarking",
    );
    assert_error_line(scanner_with_policy(&[], &args), &args, "--allowlist-file");
    let args = ["-p", "80", "10.1.2.3", "192.168.7.0/24"];
    assert_error_line(scanner_with_policy(&[], &args), &args, "default blocklist");
    let missing = ["--allowlist-file", "/nonexistent/allow.txt"];
    assert_error_line(
        scanner_with_policy(&missing, &["-p", "80", "198.18.0.1"]),
        &missing,
        "/nonexistent/allow.txt",
    );
    let bad = temp_file("block", "10.0.0.0/8\n300.1.1.1\n");
    let bad_path = bad.to_str().unwrap();
    let (code, stderr) = scanner_with_policy(&["--blocklist-file", bad_path], &["198.18.0.1"]);
    assert_error_line((code, stderr.clone()), &[bad_path], ":2");
    fs::remove_file(bad).unwrap();
    // Half the Internet at the default rate would take days: the rate must be explicit.
    let args = ["-p", "80", "0.0.0.0/1"];
    assert_error_line(scanner_with_policy(&[], &args), &args, "--rate");
    assert_input_error(
        &[
            "-p",
            "80",
            "--seed",
            "1",
            "--shards",
            "4",
            "--shard",
            "4",
            "198.18.0.1",
        ],
        "--shard 4",
    );
    // Shards of different permutations would overlap.
    assert_input_error(
        &["-p", "80", "--shards", "4", "--shard", "1", "198.18.0.1"],
        "--shards 4 needs --seed",
    );
    // Neither --shard nor a scheduler's index.
    assert_input_error(
        &["-p", "80", "--seed", "1", "--shards", "4", "198.18.0.1"],
        "--shards 4 without --shard",
    );
    assert_input_error(
        &["-p", "80", "--max-targets", "0", "198.18.0.1"],
        "--max-targets",
    );
    assert_input_error(&["-p", "80", "--bandwidth", "fast", "198.18.0.1"], "fast");
    assert_input_error(&["-p", "80", "--send-path", "dpdk", "198.18.0.1"], "dpdk");
    assert_input_error(&["-p", "80", "--pcap-all", "198.18.0.1"], "--pcap-all");
    assert_input_error(
        &[
            "-p",
            "80",
            "--pcap",
            "/nonexistent/dir/x.pcap",
            "198.18.0.1",
        ],
        "/nonexistent/dir/x.pcap",
    );
}

#[test]
fn bad_os_detection_input() {
    let truncated = temp_file(
        "os-db-truncated",
        "MatchPoints\nT1(R=100%DF=20)\n\nFingerprint Broken\nT1(R=Y%DF=Y\n",
    );
    let path = truncated.to_str().unwrap();
    assert_input_error(
        &["-O", "--os-db", path, "-p", "80", "198.18.0.1"],
        "line 5: truncated test line",
    );
    let bad_range = temp_file(
        "os-db-range",
        "MatchPoints\nT1(R=100%T=15)\n\nFingerprint Backwards\nT1(R=Y%T=45-3B)\n",
    );
    let path = bad_range.to_str().unwrap();
    assert_input_error(
        &["-O", "--os-db", path, "-p", "80", "198.18.0.1"],
        "line 5: T1.T: range '45-3B' runs backwards",
    );
    assert_input_error(
        &[
            "-O",
            "--os-db",
            "/nonexistent/os-db",
            "-p",
            "80",
            "198.18.0.1",
        ],
        "cannot read --os-db /nonexistent/os-db",
    );
    assert_input_error(
        &["-O", "-sO", "-p", "6", "198.18.0.1"],
        "-O needs the TCP SYN scan",
    );
    assert_input_error(&["-O", "--dry-run", "-p", "80", "198.18.0.1"], "--dry-run");
    assert_input_error(
        &["-O", "--max-os-tries", "0", "198.18.0.1"],
        "--max-os-tries",
    );
    fs::remove_file(truncated).unwrap();
    fs::remove_file(bad_range).unwrap();
}
