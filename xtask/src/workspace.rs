//! `cargo xtask test | demo`: setup, a release build of the workspace, then the tests or the demo.

use std::time::Duration;

use anyhow::Result;
use scanner_tests::lab::{Lab, LabConfig};

use crate::{cmd, setup};

/// `cargo build --release` of the default members (everything but scanner-ebpf, which
/// scanner/build.rs builds for the bpf target).
pub fn build_release() -> Result<()> {
    cmd::run(cmd::cargo().args(["build", "--release"]), None)
}

pub fn test(args: &[String]) -> Result<()> {
    setup::setup()?;
    build_release()?;
    // --workspace would include scanner-ebpf, which only builds for bpfel-unknown-none.
    cmd::run(
        cmd::cargo()
            .args([
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "scanner-ebpf",
            ])
            .args(args),
        None,
    )
}

/// The main job: a lab, a SYN scan of its whole /17 on open, closed and filtered ports, the
/// results and the achieved rate, and the lab torn down again (also on Ctrl-C).
pub fn demo() -> Result<()> {
    setup::setup()?;
    build_release()?;
    let lab = Lab::up(LabConfig::default())?;
    println!("{}", lab.summary());
    let ports: Vec<String> = lab
        .config()
        .interesting_ports()
        .iter()
        .map(u16::to_string)
        .collect();
    let (net, prefix) = Lab::TARGET_RANGE;
    let scanner = cmd::release_binary("scanner");
    let mut scan = lab.command_in_scanner(&scanner);
    scan.args(["--allowlist-file", scanner_tests::LAB_ALLOWLIST])
        .args(["-sS", "-p", &ports.join(","), &format!("{net}/{prefix}")])
        .args(["--rate", "100000", "--wait", "1", "--reason"]);
    let result = cmd::run(&mut scan, Some(Duration::from_secs(120)));
    lab.down();
    result
}
