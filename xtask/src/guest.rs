//! `cargo xtask guest`: lab tests on Debian 12's stock kernel (6.1) rather than this machine's.
//!
//! virtme-ng boots Debian's own kernel package under QEMU on this machine's root filesystem
//! (read-only, with the build tree and nmap & co. as they are here), so the test executables
//! built for the host run unchanged in the guest, against the guest kernel's veth, XDP, AF_XDP
//! and verifier. Only emulation (TCG) works here: with KVM the guest hangs before the kernel
//! prints anything. TCG is some ten times slower than the host, so the guest runs a selection
//! ([`GUEST_TESTS`]), not the whole suite.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::cmd;

/// What runs in the guest: every scan type once, both XDP programs (the scanner's and the
/// responder's) through 6.1's verifier, AF_XDP on 6.1's veth, and the two high-rate sweeps that
/// must find every answer although 6.1's veth drops what it cannot queue.
pub const GUEST_TESTS: &[(&str, &str)] = &[
    ("syn_scan", "states_equal_nmaps_on_the_same_hosts"),
    (
        "syn_scan",
        "sweep_of_the_whole_range_is_exact_and_the_kernel_sends_no_rst",
    ),
    ("ip_scan", "states_equal_nmaps_on_a_plain_host"),
    ("sctp_scan", "states_equal_nmaps_on_every_kind_of_peer"),
    ("sctp_scan", "sctp_ping_keeps_only_hosts_that_answer"),
    (
        "sctp_scan",
        "init_sweep_of_the_responder_equals_its_ground_truth",
    ),
    (
        "responder",
        "a_fast_scan_of_the_responder_finds_exactly_its_ground_truth",
    ),
    (
        "capture",
        "syn_scan_capture_is_valid_complete_and_matches_the_trace",
    ),
    ("os_detection", "linux_defaults"),
    ("send_paths", "af_xdp_one_queue_delivers_exactly_n"),
    (
        "privilege",
        "every_scan_type_works_unprivileged_with_the_file_capabilities",
    ),
];

/// virtme-ng from PyPI (Debian 12 does not package it), in a venv of its own.
const VIRTME_NG: &str = "virtme-ng==1.42";
/// Debian's 6.1 kernel packages: `linux-image-6.1.0-<abi>-amd64`.
const KERNEL_PACKAGE_PREFIX: &str = "linux-image-6.1.0-";
const KERNEL_PACKAGE_SUFFIX: &str = "-amd64";
/// The guest's size: both of this machine's cores; 4 GiB, as a small server has.
const GUEST_CPUS: &str = "2";
const GUEST_MEMORY: &str = "4G";
/// One test in the guest, and the whole guest (boot, every test, power-off).
const TEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const GUEST_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// `cargo xtask guest`: prepares what is missing (virtme-ng, the kernel), builds the test
/// executables, and runs [`GUEST_TESTS`] in the guest. `kernel`: a kernel release such as
/// `6.1.0-57-amd64`; default the newest 6.1 that apt offers.
pub fn run(kernel: Option<&str>) -> Result<()> {
    let started = Instant::now();
    let dir = cmd::workspace_root().join("target/guest");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let vng = step(started, "virtme-ng", || virtme_ng(&dir))?;
    let release = match kernel {
        Some(release) => release.to_owned(),
        None => step(started, "newest Debian 12 kernel", || {
            let release = newest_kernel()?;
            Ok((release.clone(), format!("{release} (apt-cache)")))
        })?,
    };
    let vmlinuz = step(started, &format!("kernel {release}"), || {
        kernel_tree(&dir, &release)
    })?;
    let tests = step(started, "test executables", test_executables)?;
    let run_dir = dir.join(format!("run-{}", std::process::id()));
    let result = run_guest(started, &vng, &vmlinuz, &release, &tests, &run_dir);
    if result.is_ok() {
        // The last good run's logs stay for reading (the sweeps' summaries, say).
        let last = dir.join("last-passed");
        let _ = fs::remove_dir_all(&last);
        if fs::rename(&run_dir, &last).is_ok() {
            println!("guest: logs in {}", last.display());
        }
    } else {
        eprintln!("guest: logs kept in {}", run_dir.display());
    }
    result
}

/// Runs `f`, printing one line with what it found and how long it took.
fn step<T>(started: Instant, what: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
    let begun = Instant::now();
    let (value, outcome) = f().with_context(|| format!("guest step `{what}`"))?;
    println!(
        "[guest {:>6.1}s] {what}: {outcome} ({:.1}s)",
        started.elapsed().as_secs_f64(),
        begun.elapsed().as_secs_f64()
    );
    Ok(value)
}

/// `vng` from a venv under `dir`, installed there when missing.
fn virtme_ng(dir: &Path) -> Result<(PathBuf, String)> {
    let venv = dir.join("venv");
    let vng = venv.join("bin/vng");
    let wanted = VIRTME_NG.rsplit('=').next().unwrap_or_default();
    let version = |vng: &Path| {
        cmd::output(Command::new(vng).arg("--version"))
            .map(|out| out.trim().to_owned())
            .unwrap_or_default()
    };
    let found = version(&vng);
    if found.split_whitespace().last() == Some(wanted) {
        return Ok((vng, format!("{found} (installed)")));
    }
    let _ = fs::remove_dir_all(&venv);
    cmd::run_quietly(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        INSTALL_TIMEOUT,
    )?;
    cmd::run_quietly(
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", VIRTME_NG]),
        INSTALL_TIMEOUT,
    )?;
    let found = version(&vng);
    ensure!(
        found.split_whitespace().last() == Some(wanted),
        "{} says `{found}` after pip installed {VIRTME_NG}",
        vng.display()
    );
    Ok((vng, format!("installed {found} in {}", venv.display())))
}

/// The release of the newest `linux-image-6.1.0-<abi>-amd64` apt knows.
fn newest_kernel() -> Result<String> {
    let pattern = format!(
        "^{}[0-9]+{}$",
        KERNEL_PACKAGE_PREFIX.replace('.', "\\."),
        KERNEL_PACKAGE_SUFFIX
    );
    let list = cmd::output(Command::new("apt-cache").args(["search", "--names-only", &pattern]))?;
    newest_release(&list).with_context(|| {
        format!(
            "apt-cache knows no {KERNEL_PACKAGE_PREFIX}N{KERNEL_PACKAGE_SUFFIX}: run apt-get update"
        )
    })
}

/// From `apt-cache search` lines (`linux-image-6.1.0-57-amd64 - Linux 6.1 ...`), the release
/// with the highest ABI number (`6.1.0-57-amd64`).
fn newest_release(apt_cache: &str) -> Option<String> {
    apt_cache
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|package| {
            let abi = package
                .strip_prefix(KERNEL_PACKAGE_PREFIX)?
                .strip_suffix(KERNEL_PACKAGE_SUFFIX)?;
            Some((abi.parse::<u32>().ok()?, package))
        })
        .max()
        .map(|(_, package)| package.trim_start_matches("linux-image-").to_owned())
}

/// The kernel package of `release`, downloaded and unpacked under `dir` once: its vmlinuz,
/// with its modules beside it where vng looks (`<root>/lib/modules/<release>`).
fn kernel_tree(dir: &Path, release: &str) -> Result<(PathBuf, String)> {
    let root = dir.join(format!("kernel-{release}"));
    let vmlinuz = root.join(format!("boot/vmlinuz-{release}"));
    let modules = root.join(format!("lib/modules/{release}"));
    if vmlinuz.is_file() && modules.join("modules.dep").is_file() {
        return Ok((vmlinuz, format!("unpacked in {}", root.display())));
    }
    let download = dir.join("download");
    let _ = fs::remove_dir_all(&download);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&download)?;
    let package = format!("linux-image-{release}");
    cmd::run_quietly(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(&download),
        INSTALL_TIMEOUT,
    )?;
    let deb = fs::read_dir(&download)?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb"))?;
    // Unpacked beside, then renamed: an interrupted unpack is never taken for a kernel.
    let partial = dir.join(format!("kernel-{release}.partial"));
    let _ = fs::remove_dir_all(&partial);
    cmd::run_quietly(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial),
        INSTALL_TIMEOUT,
    )?;
    cmd::run_quietly(
        Command::new("depmod").arg("-b").arg(&partial).arg(release),
        INSTALL_TIMEOUT,
    )?;
    fs::rename(&partial, &root)?;
    let _ = fs::remove_dir_all(&download);
    ensure!(vmlinuz.is_file(), "{package} has no {}", vmlinuz.display());
    Ok((
        vmlinuz,
        format!("downloaded {package} into {}", root.display()),
    ))
}

/// The workspace's test executables by target name (`syn_scan` -> its path), built if needed.
fn test_executables() -> Result<(BTreeMap<String, PathBuf>, String)> {
    let test_build = || {
        let mut cargo = cmd::workspace_tests();
        cargo.arg("--no-run");
        cargo
    };
    crate::build::quietly("test build", &mut test_build())?;
    // Built now: this only lists them.
    let json = cmd::output(test_build().arg("--message-format=json"))?;
    let executables = executables_in(&json);
    for (binary, test) in GUEST_TESTS {
        ensure!(
            executables.contains_key(*binary),
            "no test executable `{binary}` (for {test})"
        );
    }
    let count = executables.len();
    Ok((executables, format!("{count} built")))
}

/// Test executables in cargo's `--message-format=json` output.
fn executables_in(json: &str) -> BTreeMap<String, PathBuf> {
    json.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["profile"]["test"] == true
        })
        .filter_map(|message| {
            Some((
                message["target"]["name"].as_str()?.to_owned(),
                PathBuf::from(message["executable"].as_str()?),
            ))
        })
        .collect()
}

/// The script the guest runs: each test with its own log and a line `name status seconds` in
/// `results`, then `done` (the guest's exit status is vng's, not the script's).
fn guest_script(run_dir: &Path, tests: &BTreeMap<String, PathBuf>) -> String {
    let out = run_dir.display();
    let mut script = format!(
        "#!/bin/sh\n\
         # Written by cargo xtask guest; runs inside the guest.\n\
         export CI=true\n\
         out='{out}'\n\
         uname -r > \"$out/kernel\"\n\
         run() {{\n\
         \x20   name=$1; shift\n\
         \x20   start=$(date +%s)\n\
         \x20   timeout -k 10 {timeout} \"$@\" --exact --nocapture --test-threads=1 > \"$out/$name.log\" 2>&1\n\
         \x20   status=$?\n\
         \x20   echo \"$name $status $(( $(date +%s) - start ))\" >> \"$out/results\"\n\
         }}\n",
        timeout = TEST_TIMEOUT.as_secs()
    );
    for (binary, test) in GUEST_TESTS {
        let _ = writeln!(
            script,
            "run {binary}::{test} '{}' {test}",
            tests[*binary].display()
        );
    }
    script.push_str("echo done > \"$out/finished\"\n");
    script
}

/// One line of the guest's `results`.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    name: String,
    passed: bool,
    seconds: u64,
}

fn parse_outcome(line: &str) -> Option<Outcome> {
    let mut words = line.split_whitespace();
    let name = words.next()?.to_owned();
    let status: i32 = words.next()?.parse().ok()?;
    let seconds = words.next()?.parse().ok()?;
    Some(Outcome {
        name,
        passed: status == 0,
        seconds,
    })
}

fn run_guest(
    started: Instant,
    vng: &Path,
    vmlinuz: &Path,
    release: &str,
    tests: &BTreeMap<String, PathBuf>,
    run_dir: &Path,
) -> Result<()> {
    let _ = fs::remove_dir_all(run_dir);
    fs::create_dir_all(run_dir)?;
    let script = run_dir.join("run.sh");
    fs::write(&script, guest_script(run_dir, tests))?;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
    let console = run_dir.join("console.log");
    let mut guest = Command::new(vng);
    let venv_bin = vng.parent().unwrap_or(Path::new("."));
    guest
        .env("PATH", cmd::path_with_first(&[venv_bin]))
        .arg("--disable-kvm")
        .arg("-r")
        .arg(vmlinuz)
        .arg("--rwdir")
        .arg(run_dir)
        .args(["--cpus", GUEST_CPUS, "--memory", GUEST_MEMORY, "--"])
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&console)?)
        .stderr(fs::File::create(run_dir.join("vng.log"))?)
        // Its own process group: a timeout ends vng and the QEMU it started, nothing else.
        .process_group(0);
    println!(
        "[guest {:>6.1}s] booting {release} under TCG: {} tests",
        started.elapsed().as_secs_f64(),
        GUEST_TESTS.len()
    );
    let mut child = guest
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd::display(&guest)))?;
    let booted = Instant::now();
    let results = run_dir.join("results");
    let mut outcomes = Vec::new();
    let timed_out = loop {
        let exited = child.try_wait()?.is_some();
        // Print each test as the guest finishes it.
        let text = fs::read_to_string(&results).unwrap_or_default();
        for line in text.lines().skip(outcomes.len()) {
            let Some(outcome) = parse_outcome(line) else {
                break;
            };
            println!(
                "[guest {:>6.1}s] {} {} ({} s)",
                started.elapsed().as_secs_f64(),
                if outcome.passed { "ok    " } else { "FAILED" },
                outcome.name,
                outcome.seconds
            );
            outcomes.push(outcome);
        }
        if exited {
            break false;
        }
        if booted.elapsed() > GUEST_TIMEOUT {
            let pgid = libc::pid_t::try_from(child.id()).unwrap_or(0);
            if pgid > 0 {
                // SAFETY: plain syscall, on the process group we created.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.wait();
            break true;
        }
        thread::sleep(Duration::from_secs(1));
    };
    let guest_kernel = fs::read_to_string(run_dir.join("kernel")).unwrap_or_default();
    let finished = run_dir.join("finished").is_file();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    println!(
        "guest {}: {} passed, {} failed in {} s",
        guest_kernel.trim(),
        outcomes.len() - failed.len(),
        failed.len(),
        booted.elapsed().as_secs()
    );
    for outcome in &failed {
        let log = run_dir.join(format!("{}.log", outcome.name));
        let text = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("--- {} (end of {}):", outcome.name, log.display());
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }
    if timed_out {
        bail!("the guest did not finish within {GUEST_TIMEOUT:?} and was killed");
    }
    ensure!(
        guest_kernel.trim() == release,
        "the guest did not run its script on {release} (see {})",
        console.display()
    );
    ensure!(
        finished && outcomes.len() == GUEST_TESTS.len(),
        "the guest stopped after {} of {} tests (see {})",
        outcomes.len(),
        GUEST_TESTS.len(),
        console.display()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {} tests failed on {release}",
            failed.len(),
            outcomes.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_abi_wins_by_number_not_by_text() {
        let list = "linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)\n\
                    linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)\n\
                    linux-image-6.1.0-10-amd64 - Linux 6.1 for 64-bit PCs (signed)\n\
                    linux-image-6.1.0-58-cloud-amd64 - Linux 6.1 for x86-64 cloud\n";
        assert_eq!(newest_release(list).as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(newest_release(""), None);
    }

    #[test]
    fn outcomes_parse_and_torn_lines_do_not() {
        assert_eq!(
            parse_outcome("syn_scan::states 0 31"),
            Some(Outcome {
                name: "syn_scan::states".into(),
                passed: true,
                seconds: 31
            })
        );
        assert!(!parse_outcome("responder::fast 101 24").unwrap().passed);
        assert_eq!(parse_outcome("responder::fast 1"), None);
    }

    #[test]
    fn the_script_runs_every_selected_test_by_its_exact_name() {
        let tests: BTreeMap<String, PathBuf> = GUEST_TESTS
            .iter()
            .map(|(binary, _)| (binary.to_string(), PathBuf::from(format!("/t/{binary}-0"))))
            .collect();
        let script = guest_script(Path::new("/r"), &tests);
        for (binary, test) in GUEST_TESTS {
            assert!(
                script.contains(&format!("run {binary}::{test} '/t/{binary}-0' {test}\n")),
                "{script}"
            );
        }
        assert!(script.contains("--exact"));
        assert!(script.ends_with("echo done > \"$out/finished\"\n"));
    }

    #[test]
    fn executables_come_from_test_artifacts_only() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"syn_scan"},"profile":{"test":true},"executable":"/t/syn_scan-1"}
{"reason":"compiler-artifact","target":{"name":"scanner"},"profile":{"test":false},"executable":"/t/scanner"}
{"reason":"build-finished","success":true}"#;
        let found = executables_in(json);
        assert_eq!(found.len(), 1);
        assert_eq!(found["syn_scan"], PathBuf::from("/t/syn_scan-1"));
    }
}
