//! `cargo xtask lab up | down | list`: the lab in the foreground, for trying things by hand.

mod check;

use std::{thread, time::Duration};

use anyhow::Result;
use clap::{Args, Subcommand};
use scanner_tests::{
    Lab, LabConfig, ResponderSettings, cleanup_stale, lab_namespaces, namespace_owner,
};

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Bring a lab up and keep it until Ctrl-C (or --duration), then tear it down.
    Up(UpArgs),
    /// Remove stale labs (namespaces whose creating process is gone, e.g. after kill -9).
    Down,
    /// List the lab namespaces that exist and whether their creator still runs.
    List,
    /// Check the lab itself: bring two labs up in parallel, probe every kind of port from the
    /// scanner namespace, read counters, tear down, and check nothing is left.
    Check,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Open ports (a listener answers SYN-ACK), e.g. 22,80,443 or 8000-8010; "" for none.
    #[arg(long, value_name = "PORTS", value_parser = parse_ports)]
    open: Option<Ports>,
    /// Ports whose SYNs nftables drops (no answer).
    #[arg(long, value_name = "PORTS", value_parser = parse_ports)]
    dropped: Option<Ports>,
    /// Ports nftables rejects with ICMP 3/13 (admin-prohibited).
    #[arg(long, value_name = "PORTS", value_parser = parse_ports)]
    rejected: Option<Ports>,
    /// Keep the target's ICMP rate limiting (Linux defaults) instead of turning it off.
    #[arg(long)]
    icmp_ratelimit: bool,
    /// Also run the XDP responder on the target (198.19.0.0/16, seed 1, 10% open, 50% closed),
    /// with the release scanner binary.
    #[arg(long)]
    responder: bool,
    /// Tear down after this many seconds instead of waiting for Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
}

/// A port list (its own type: clap would read a bare `Vec<u16>` as a repeated flag).
#[derive(Debug, Clone)]
pub struct Ports(Vec<u16>);

/// `22,80,8000-8010`; empty (or `none`) for no port.
fn parse_ports(text: &str) -> Result<Ports, String> {
    let text = text.trim();
    if text.is_empty() || text == "none" {
        return Ok(Ports(Vec::new()));
    }
    let port = |word: &str| -> Result<u16, String> {
        match word.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{word:?} is not a port (1-65535)")),
            Ok(port) => Ok(port),
        }
    };
    let mut ports = Vec::new();
    for item in text.split(',') {
        match item.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (port(first)?, port(last)?);
                if first > last {
                    return Err(format!("empty range {item:?}"));
                }
                ports.extend(first..=last);
            }
            None => ports.push(port(item)?),
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(Ports(ports))
}

fn port_list(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    ports.join(",")
}

impl UpArgs {
    fn config(&self, scanner: &std::path::Path) -> LabConfig {
        let default = LabConfig::default();
        let pick = |ports: &Option<Ports>, default: Vec<u16>| {
            ports.as_ref().map_or(default, |ports| ports.0.clone())
        };
        LabConfig {
            open_ports: pick(&self.open, default.open_ports),
            dropped_ports: pick(&self.dropped, default.dropped_ports),
            rejected_ports: pick(&self.rejected, default.rejected_ports),
            icmp_ratelimit: self.icmp_ratelimit,
            responder: self.responder.then(|| ResponderSettings::new(scanner)),
            ..default
        }
    }
}

pub fn run(command: LabCommand) -> Result<()> {
    match command {
        LabCommand::Up(args) => up(&args),
        LabCommand::Down => {
            let removed = cleanup_stale();
            println!("removed {removed} stale lab namespace(s)");
            list_live();
            Ok(())
        }
        LabCommand::List => {
            list_live();
            Ok(())
        }
        LabCommand::Check => check::run(),
    }
}

fn list_live() {
    let names = lab_namespaces();
    if names.is_empty() {
        println!("no lab namespaces");
    }
    for name in names {
        if let Some((pid, alive)) = namespace_owner(&name) {
            let state = if alive { "running" } else { "gone: stale" };
            println!("{name}  (created by pid {pid}, {state})");
        }
    }
}

fn up(args: &UpArgs) -> Result<()> {
    let scanner = crate::cmd::release_binary("scanner");
    let lab = Lab::up(args.config(&scanner))?;
    let ports = port_list(&lab.config().interesting_ports());
    let (range, _) = Lab::TARGET_RANGE;
    let host = std::net::Ipv4Addr::from(u32::from(range) + 77);
    let s = lab.scanner_ns();
    println!("lab up (pid {})", std::process::id());
    print!("{}", lab.summary());
    println!("try:");
    println!("  ip netns exec {s} nping --icmp -c1 {host}");
    println!("  ip netns exec {s} nmap -Pn -sS -p {ports} {host}");
    println!(
        "  ip netns exec {s} {} --allowlist-file {} -p {ports} {range}/24",
        scanner.display(),
        scanner_tests::LAB_ALLOWLIST
    );
    match args.duration {
        Some(seconds) => {
            println!("tearing down in {seconds} s (or on Ctrl-C)");
            thread::sleep(Duration::from_secs(seconds));
            lab.down();
            println!("lab torn down");
        }
        None => {
            println!("Ctrl-C (or SIGTERM) tears it down");
            // The lab's signal thread tears every lab down and exits.
            loop {
                thread::park();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        assert_eq!(parse_ports("22,80, 443").unwrap().0, [22, 80, 443]);
        assert_eq!(
            parse_ports("8000-8002,80,8001").unwrap().0,
            [80, 8000, 8001, 8002]
        );
        assert!(parse_ports("").unwrap().0.is_empty());
        assert!(parse_ports("none").unwrap().0.is_empty());
        for bad in ["0", "65536", "80,", "x", "9-8"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }
}
