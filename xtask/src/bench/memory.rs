//! `cargo xtask bench --memory SECONDS`: what a scan of any size keeps, measured. The scanner
//! alone sweeps 198.18.0.0/15 on every port (8.6 billion probes: a bit each would be 1 GiB, a
//! result each many more) at its full rate against the lab's kernel target, which answers for
//! its /17 (RST for most ports, SYN-ACK for a few) and is silent for the rest; the scan stops
//! at `--max-runtime`. Its resident set is sampled every second from /proc, its peak taken from
//! `wait4`; bench/memory.md gets the curve, the peak and the scanner's own summary.

use std::{fmt::Write as _, fs, path::Path, time::Duration};

use anyhow::{Context as _, Result};
use scanner_tests::{Lab, LabConfig};

use super::{measure, shown};
use crate::{build, cmd, setup};

/// The bound of issue 16.
const BOUND_MIB: u64 = 256;

pub fn run(seconds: u64, out: &Path) -> Result<()> {
    setup::setup(setup::Scope::Everything)?;
    build::release()?;
    let scanner = cmd::release_binary("scanner");
    let lab = Lab::up(LabConfig::default())?;
    let result = measure_scan(&lab, &scanner, seconds, out);
    lab.down();
    result
}

fn measure_scan(lab: &Lab, scanner: &Path, seconds: u64, out: &Path) -> Result<()> {
    let mac = String::from_utf8(
        lab.command_in_target("cat")
            .arg(format!("/sys/class/net/{}/address", lab.target_if()))
            .output()?
            .stdout,
    )?
    .trim()
    .to_owned();
    let work = std::env::temp_dir().join(format!("scanner-memory-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let log = work.join("scan.log");
    let mut command = lab.command_in_scanner(scanner);
    command
        .args(["--allowlist-file", scanner_tests::LAB_ALLOWLIST])
        .args([
            "-sS",
            "-p",
            "1-65535",
            "198.18.0.0/15",
            "--rate",
            "100000000",
        ])
        .args(["-e", lab.scanner_if(), "-S", "198.18.0.1", "-G", &mac])
        .args(["--max-runtime", &seconds.to_string(), "-oJ", "/dev/null"]);
    let mut samples: Vec<u64> = Vec::new();
    let mut ticks = 0u32;
    let measured = measure::run(
        &mut command,
        Duration::from_secs(seconds + 60),
        &log,
        |pid| {
            // Every fourth tick of 250 ms: once a second.
            if ticks.is_multiple_of(4)
                && let Some(rss) = resident_bytes(pid)
            {
                samples.push(rss);
            }
            ticks += 1;
        },
    )?;
    let summary = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_dir_all(&work);
    let summary = summary_lines(&summary);
    let peak_mib = measured.peak_rss >> 20;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Memory: 198.18.0.0/15 x 65535 ports at the full rate, {seconds} s\n\n\
         Peak RSS **{peak_mib} MiB** (bound {BOUND_MIB} MiB), {}, wall {:.1} s, CPU {:.1} s.\n",
        measured.status,
        measured.wall.as_secs_f64(),
        measured.cpu.as_secs_f64()
    );
    let _ = writeln!(md, "| second | RSS (MiB) |\n|---:|---:|");
    for (second, rss) in samples.iter().enumerate() {
        let _ = writeln!(md, "| {second} | {} |", rss >> 20);
    }
    write_report(md, &summary, out, "memory.md")?;
    anyhow::ensure!(
        measured.success,
        "the scan did not end well: {}",
        measured.status
    );
    anyhow::ensure!(
        peak_mib < BOUND_MIB,
        "peak RSS {peak_mib} MiB is over the bound of {BOUND_MIB} MiB"
    );
    Ok(())
}

/// Ends `md` with the scanner's summary, writes it to `out/name` (in the workspace) and prints
/// it.
pub(super) fn write_report(mut md: String, summary: &[&str], out: &Path, name: &str) -> Result<()> {
    let _ = writeln!(
        md,
        "\nThe scanner's summary:\n\n```\n{}\n```",
        summary.join("\n")
    );
    let out = cmd::workspace_root().join(out);
    fs::create_dir_all(&out)?;
    let path = out.join(name);
    fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    println!("{md}\nbench: wrote {}", shown(&path));
    Ok(())
}

/// The scanner's summary in its log (stderr), not the per-port totals (stdout) nor the
/// status lines.
pub(super) fn summary_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.starts_with("scanner:") || line.starts_with("  "))
        .collect()
}

/// VmRSS of `pid`, in bytes.
pub(super) fn resident_bytes(pid: libc::pid_t) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}
