//! `cargo xtask test | demo`: setup, a release build of the workspace, then the tests (on this
//! machine's kernel, then in a guest on Debian 12's) or the demo.

use std::{collections::HashMap, fs, net::Ipv4Addr, time::Duration};

use anyhow::{Context, Result, bail, ensure};
use scanner_tests::lab::{Lab, LabConfig, PortTruth};
use serde_json::Value;

use crate::{
    build, cmd, guest, install,
    setup::{self, Scope},
};

pub fn test(args: &[String]) -> Result<()> {
    setup::setup(Scope::Everything)?;
    build::release()?;
    build::quietly("test build", cmd::workspace_tests().arg("--no-run"))?;
    // The privilege tests run what `install` installs, as an unprivileged user: under /tmp,
    // which that user can reach (a clone under /root is not).
    let prefix = std::env::temp_dir().join(format!("scanner-install-{}", std::process::id()));
    // SAFETY: plain syscall.
    let root = unsafe { libc::geteuid() } == 0;
    let installed = install::install_from(&cmd::release_binary("scanner"), &prefix, root);
    let tested = installed.and_then(|()| {
        let mut run = cmd::workspace_tests();
        if root {
            run.env("SCANNER_INSTALLED_BIN", install::installed_binary(&prefix));
        }
        cmd::run(run.args(args), None)
    });
    let _ = std::fs::remove_dir_all(&prefix);
    tested?;
    if args.is_empty() {
        guest::run(None)?;
    }
    Ok(())
}

/// The main job: a lab, a SYN scan of its whole /17 on open, closed and filtered ports, the
/// results and the achieved rate, checked against what the lab does, and the lab torn down
/// again (also on Ctrl-C).
pub fn demo() -> Result<()> {
    setup::setup(Scope::Demo)?;
    build::release()?;
    let lab = Lab::up(LabConfig::default())?;
    println!("{}", lab.summary());
    let result = demo_scan(&lab);
    lab.down();
    result
}

fn demo_scan(lab: &Lab) -> Result<()> {
    let ports = lab.config().interesting_ports();
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let (net, prefix) = Lab::TARGET_RANGE;
    let results = cmd::workspace_root().join(format!("target/demo-{}.jsonl", std::process::id()));
    let scanner = cmd::release_binary("scanner");
    let mut scan = lab.command_in_scanner(&scanner);
    scan.args(["--allowlist-file", scanner_tests::LAB_ALLOWLIST])
        .args(["-sS", "-p", &list.join(","), &format!("{net}/{prefix}")])
        .args(["--rate", "100000", "--wait", "1", "--reason", "-oJ"])
        .arg(&results);
    let scanned = cmd::run(&mut scan, Some(Duration::from_secs(120)));
    let checked = scanned.and_then(|()| {
        let text = fs::read_to_string(&results)
            .with_context(|| format!("reading the scan's results {}", results.display()))?;
        check_demo(&text, lab.config(), &ports, Lab::TARGET_RANGE)
    });
    let _ = fs::remove_file(&results);
    println!("demo: {}", checked?);
    Ok(())
}

/// Checks the demo's JSON lines against the lab: every (host, port) of the range answered as
/// the lab's truth says, once, and nothing else. Returns the verdict line.
fn check_demo(
    jsonl: &str,
    config: &LabConfig,
    ports: &[u16],
    (net, prefix): (Ipv4Addr, u8),
) -> Result<String> {
    let hosts = 1u64 << (32 - u32::from(prefix));
    let first = u32::from(net);
    let mut seen: HashMap<(u32, u16), String> = HashMap::new();
    for (number, line) in jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("results line {}: {line}", number + 1);
        let record: Value = serde_json::from_str(line).with_context(at)?;
        let ip: Ipv4Addr = record["ip"]
            .as_str()
            .and_then(|ip| ip.parse().ok())
            .with_context(at)?;
        let port = record["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .with_context(at)?;
        let state = record["state"].as_str().with_context(at)?;
        let offset = u32::from(ip).wrapping_sub(first);
        ensure!(
            u64::from(offset) < hosts && ports.contains(&port),
            "{ip}:{port} was not scanned ({})",
            at()
        );
        let truth = config.truth(port);
        ensure!(
            state == truth.nmap_state(),
            "{ip}:{port} is {state}, but the lab's port {port} answers {} ({})",
            truth.answer(),
            at()
        );
        if seen.insert((offset, port), state.to_owned()).is_some() {
            bail!("{ip}:{port} reported twice ({})", at());
        }
    }
    let mut count = HashMap::<&str, u64>::new();
    for &port in ports {
        let truth = config.truth(port);
        let answered = seen.keys().filter(|(_, p)| *p == port).count() as u64;
        // Silence is not a line; everything that answers must have one.
        if truth != PortTruth::Dropped {
            ensure!(
                answered == hosts,
                "port {port}: {answered} of {hosts} hosts reported, but every one answers {}",
                truth.answer()
            );
        }
        *count.entry(truth.nmap_state()).or_default() += hosts;
    }
    Ok(format!(
        "exact: {} open, {} closed, {} filtered of {} probes, as the lab answers",
        count.get("open").unwrap_or(&0),
        count.get("closed").unwrap_or(&0),
        count.get("filtered").unwrap_or(&0),
        hosts * ports.len() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 128, 0), 31);

    fn line(ip: &str, port: u16, state: &str) -> String {
        format!(r#"{{"ip":"{ip}","port":{port},"proto":"tcp","state":"{state}"}}"#)
    }

    fn all_answers() -> Vec<String> {
        let mut lines = Vec::new();
        for ip in ["198.18.128.0", "198.18.128.1"] {
            lines.push(line(ip, 22, "open"));
            lines.push(line(ip, 23, "closed"));
            lines.push(line(ip, 8082, "filtered"));
        }
        lines
    }

    #[test]
    fn exact_results_pass() {
        let config = LabConfig::default();
        let verdict = check_demo(
            &all_answers().join("\n"),
            &config,
            &[22, 23, 8081, 8082],
            RANGE,
        )
        .unwrap();
        assert_eq!(
            verdict,
            "exact: 2 open, 2 closed, 4 filtered of 8 probes, as the lab answers"
        );
    }

    #[test]
    fn a_missing_wrong_or_double_answer_fails() {
        let config = LabConfig::default();
        let ports = [22, 23, 8081, 8082];
        let mut missing = all_answers();
        missing.remove(1);
        let err = check_demo(&missing.join("\n"), &config, &ports, RANGE).unwrap_err();
        assert!(err.to_string().contains("port 23: 1 of 2"), "{err}");
        let mut wrong = all_answers();
        wrong[0] = line("198.18.128.0", 22, "closed");
        let err = check_demo(&wrong.join("\n"), &config, &ports, RANGE).unwrap_err();
        assert!(err.to_string().contains("is closed"), "{err}");
        let mut twice = all_answers();
        twice.push(line("198.18.128.1", 22, "open"));
        let err = check_demo(&twice.join("\n"), &config, &ports, RANGE).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let mut outside = all_answers();
        outside.push(line("198.18.128.2", 22, "open"));
        let err = check_demo(&outside.join("\n"), &config, &ports, RANGE).unwrap_err();
        assert!(err.to_string().contains("not scanned"), "{err}");
        let err = check_demo("{", &config, &ports, RANGE).unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    }
}
