//! Least privilege: every scan type as an unprivileged user holding the four file
//! capabilities finds what root finds; without them, one line names what is missing; and a
//! running scan holds no capability at all once it is set up.
//!
//! The capped binary is `cargo xtask install`'s when `SCANNER_INSTALLED_BIN` names it (as
//! `cargo xtask test` does), else a copy given the same capabilities here.

mod common;

use std::{
    collections::BTreeSet,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use scanner_tests::{Lab, LabConfig, ResponderSettings};
use serde_json::Value;

/// nobody:nogroup on Debian.
const NOBODY: &str = "65534";
const CAPS: &str = "cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep";

/// A directory the unprivileged user can read (and write captures into), removed on drop.
struct Staging(PathBuf);

impl Staging {
    /// `test`: the tests of this file run at once, each in its own directory.
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("scanner-privilege-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
        fs::copy(scanner_tests::LAB_ALLOWLIST, dir.join("allowlist.txt")).unwrap();
        fs::set_permissions(dir.join("allowlist.txt"), fs::Permissions::from_mode(0o644)).unwrap();
        Staging(dir)
    }

    /// A copy of the scanner with `caps` (`None`: none).
    fn binary(&self, name: &str, caps: Option<&str>) -> PathBuf {
        let path = self.0.join(name);
        fs::copy(common::scanner_bin(), &path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(caps) = caps {
            let status = Command::new("setcap").arg(caps).arg(&path).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "setcap {caps} {} (libcap2-bin)",
                path.display()
            );
        }
        path
    }

    fn allowlist(&self) -> PathBuf {
        self.0.join("allowlist.txt")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The installed binary if the harness installed one, else a capped copy.
fn capped_binary(staging: &Staging) -> PathBuf {
    match std::env::var_os("SCANNER_INSTALLED_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            let caps = Command::new("getcap").arg(&path).output().unwrap();
            let caps = String::from_utf8_lossy(&caps.stdout);
            // getcap lists them in its own order: `... cap_net_admin,cap_net_raw,...=ep`.
            let granted = caps.split_whitespace().last().unwrap_or_default();
            let (names, flags) = granted.split_once('=').unwrap_or_default();
            let mut names: Vec<&str> = names.split(',').collect();
            names.sort_unstable();
            assert_eq!(
                (names, flags),
                (
                    vec!["cap_bpf", "cap_net_admin", "cap_net_raw", "cap_perfmon"],
                    "ep"
                ),
                "{} lacks the scanning capabilities: {caps}",
                path.display()
            );
            path
        }
        None => staging.binary("scanner", Some(CAPS)),
    }
}

/// `bin args` in the lab's scanner namespace as root, or as nobody (only file capabilities).
fn command(lab: &Lab, staging: &Staging, bin: &Path, unprivileged: bool) -> Command {
    let mut command = if unprivileged {
        let mut command = lab.command_in_scanner("setpriv");
        command
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .args(["--inh-caps=-all", "--"])
            .arg(bin);
        command
    } else {
        lab.command_in_scanner(bin)
    };
    command.arg("--allowlist-file").arg(staging.allowlist());
    command
}

/// Port results of `-oJ -` (OS lines aside): (ip, port, state, reason).
fn results(output: &Output) -> BTreeSet<(String, u64, String, String)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON object per line"))
        .filter(|v| v.get("port").is_some())
        .map(|v| {
            (
                v["ip"].as_str().unwrap().to_owned(),
                v["port"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn lab() -> Option<(Lab, ResponderSettings)> {
    let settings = ResponderSettings::new(common::scanner_bin());
    let lab = common::lab(LabConfig {
        responder: Some(settings.clone()),
        ..LabConfig::default()
    })?;
    Some((lab, settings))
}

#[test]
fn every_scan_type_works_unprivileged_with_the_file_capabilities() {
    let Some((lab, settings)) = lab() else {
        return;
    };
    let staging = Staging::new("scan-types");
    let capped = capped_binary(&staging);
    let sctp_hosts: Vec<String> = settings
        .addresses()
        .take(8)
        .map(|ip| ip.to_string())
        .collect();
    let sctp_ports = "80,2905,3868,36412";
    let pcap = staging.0.join("capture.pcap");
    let target = Lab::TARGET_IP.to_string();
    let scans: Vec<(&str, Vec<String>)> = vec![
        (
            "-sS",
            strings(&["-sS", "-p", "22,23,8081,8082", "198.18.128.0/28"]),
        ),
        (
            "-sO",
            strings(&["-sO", "-p", "1,6,17,47,132", "198.18.128.1"]),
        ),
        (
            "-sY",
            [strings(&["-sY", "-p", sctp_ports]), sctp_hosts.clone()].concat(),
        ),
        (
            "-sZ",
            [strings(&["-sZ", "-p", sctp_ports]), sctp_hosts.clone()].concat(),
        ),
        (
            "-PY",
            [
                strings(&["-PY2905,3868,36412", "-sY", "-p", sctp_ports]),
                sctp_hosts.clone(),
            ]
            .concat(),
        ),
        ("-O", strings(&["-sS", "-O", "-p", "22,23", &target])),
        (
            "--pcap",
            strings(&[
                "-sS",
                "-p",
                "22,23",
                "198.18.128.0/30",
                "--pcap",
                &pcap.to_string_lossy(),
            ]),
        ),
    ];
    for (what, args) in &scans {
        let scan = |bin: &Path, unprivileged: bool| {
            let output = command(&lab, &staging, bin, unprivileged)
                .args(args)
                .args(["--wait", "1", "-oJ", "-"])
                .output()
                .unwrap();
            common::assert_success(&output);
            output
        };
        // States, not reasons: which ICMP error answers an ICMP probe first (-sO) is a race.
        let states = |output: &Output| -> BTreeSet<(String, u64, String)> {
            results(output)
                .into_iter()
                .map(|(ip, port, state, _)| (ip, port, state))
                .collect()
        };
        let as_root = states(&scan(&common::scanner_bin(), false));
        let _ = fs::remove_file(&pcap);
        let unprivileged = scan(&capped, true);
        assert!(!as_root.is_empty(), "{what}: root found nothing");
        assert_eq!(
            states(&unprivileged),
            as_root,
            "{what}: unprivileged with file capabilities vs root"
        );
        if *what == "--pcap" {
            let size = fs::metadata(&pcap).map_or(0, |m| m.len());
            assert!(
                size > 24,
                "{what}: the capture has no packets ({size} bytes)"
            );
        }
        if *what == "-O" {
            let stdout = String::from_utf8_lossy(&unprivileged.stdout);
            assert!(stdout.contains("\"os\""), "{what}: no OS result: {stdout}");
        }
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

#[test]
fn without_the_capabilities_one_line_names_what_is_missing() {
    let Some((lab, _)) = lab() else {
        return;
    };
    let staging = Staging::new("message");
    for (name, caps, missing, present) in [
        (
            "scanner-bare",
            None,
            &["CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"][..],
            &[][..],
        ),
        (
            "scanner-half",
            Some("cap_net_raw,cap_net_admin+ep"),
            &["CAP_BPF", "CAP_PERFMON"][..],
            &["CAP_NET_RAW (", "CAP_NET_ADMIN ("][..],
        ),
    ] {
        let bin = staging.binary(name, caps);
        let output = command(&lab, &staging, &bin, true)
            .args(["-sS", "-p", "80", "198.18.128.1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        for cap in missing {
            assert!(stderr.contains(cap), "{name}: names {cap}: {stderr}");
        }
        for cap in present {
            assert!(!stderr.contains(cap), "{name}: {cap} is there: {stderr}");
        }
        assert!(
            stderr.contains(&format!("setcap {CAPS} ")),
            "{name}: says how to grant them: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{name}: no results");
    }
}

/// `CapEff`, `CapPrm`, `CapBnd` and `NoNewPrivs` of a process.
fn capabilities(pid: u32) -> Option<[String; 4]> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
    };
    if field("Name:")?.as_str() != "scanner" {
        return None; // still `ip` or `setpriv`, before their exec
    }
    Some([
        field("CapEff:")?,
        field("CapPrm:")?,
        field("CapBnd:")?,
        field("NoNewPrivs:")?,
    ])
}

#[test]
fn a_running_scan_has_dropped_every_capability() {
    let Some((lab, _)) = lab() else {
        return;
    };
    let staging = Staging::new("dropped");
    let capped = capped_binary(&staging);
    const NONE: &str = "0000000000000000";
    for (bin, unprivileged) in [(common::scanner_bin(), false), (capped, true)] {
        let child = command(&lab, &staging, &bin, unprivileged)
            .args([
                "-sS",
                "-p",
                "22,23",
                "198.18.128.0/30",
                "--wait",
                "3",
                "-oJ",
                "-",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = None;
        while Instant::now() < deadline {
            match capabilities(pid) {
                Some(caps) if caps[0] == NONE => {
                    seen = Some(caps);
                    break;
                }
                _ => thread::sleep(Duration::from_millis(5)),
            }
        }
        let output = child.wait_with_output().unwrap();
        common::assert_success(&output);
        let caps = seen.unwrap_or_else(|| {
            panic!(
                "root {}: the scan never ran without capabilities",
                !unprivileged
            )
        });
        assert_eq!(caps[1], NONE, "permitted set emptied too");
        assert_eq!(caps[3], "1", "no_new_privs set");
        if !unprivileged {
            // Root may (CAP_SETPCAP) and does empty its bounding set.
            assert_eq!(caps[2], NONE, "bounding set emptied");
        }
        // And the scan still found its results, after the drop.
        let found = results(&output);
        let open = found.iter().filter(|r| r.2 == "open").count();
        let closed = found.iter().filter(|r| r.2 == "closed").count();
        assert_eq!((open, closed), (4, 4), "{found:?}");
    }
    // Without capabilities the teardown still detached the program (closing its bpf_link).
    assert!(!lab.xdp_attached().unwrap(), "an XDP program is left");
}

/// Without CAP_IPC_LOCK, AF_XDP's packet buffers count against the locked-memory limit. Under
/// Debian's 8 MiB the scanner keeps AF_XDP with fewer buffers and says so; where not even a
/// few batches fit it falls back to AF_PACKET with a note naming the limit and how to raise it.
/// The results are the same either way.
#[test]
fn the_locked_memory_limit_shrinks_af_xdp_or_is_named_in_the_fallback() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let staging = Staging::new("memlock");
    let capped = capped_binary(&staging);
    // Limits are only lowered here (soft and hard), which needs no privilege.
    let scan = |memlock: &str| {
        let mut command = lab.command_in_scanner("prlimit");
        command
            .arg(format!("--memlock={memlock}"))
            .args(["--", "setpriv", "--reuid", NOBODY, "--regid", NOBODY])
            .args(["--clear-groups", "--inh-caps=-all", "--"])
            .arg(&capped)
            .arg("--allowlist-file")
            .arg(staging.allowlist())
            .args(["-p", "22,23", "198.18.128.0/30", "--wait", "0.5"])
            .args(["--sender-threads", "1", "-oJ", "-"]);
        let output = command.output().unwrap();
        common::assert_success(&output);
        output
    };
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();
    let one_mib = scan("1048576:1048576");
    let note = stderr(&one_mib);
    assert!(
        note.contains("scanner: note: sending with AF_PACKET: ")
            && note.contains("exceed the locked-memory limit (1024 KiB, `ulimit -l`)")
            && note.contains("`ulimit -l unlimited`"),
        "{note}"
    );
    assert!(note.contains("1 AF_PACKET thread"), "{note}");
    let eight_mib = scan("8388608:8388608");
    let note = stderr(&eight_mib);
    assert!(
        note.contains(
            "scanner: note: AF_XDP with 4096 KiB of packet buffers instead of 16384 KiB: the \
             locked-memory limit (8192 KiB, `ulimit -l`) allows no more"
        ),
        "{note}"
    );
    assert!(note.contains("1 AF_XDP thread"), "{note}");
    assert_eq!(results(&one_mib), results(&eight_mib));
    assert_eq!(results(&eight_mib).len(), 8);
}
