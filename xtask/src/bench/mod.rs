//! `cargo xtask bench`: this scanner, masscan and zmap side by side against one lab whose
//! target is the XDP responder, each at rising rates, each scanning the same /16 on the same
//! ports, each checked against the responder's ground truth ([`truth`]).
//!
//! What is measured, per tool and rate:
//! - probes that reached the target, and the rate achieved: the responder counts every probe
//!   and notes when the first and the last one arrived (`bpf_ktime_get_ns`); achieved = probes /
//!   (last - first). The same clock for every tool, where the probes land;
//! - found / expected per state: what the tool reported, against [`truth`];
//! - CPU seconds per million probes: user + system time of the tool's process and its threads,
//!   from `wait4`'s rusage (softirq work the kernel does for it on other tasks is not in it);
//! - wall time, from start to exit, including the tool's own cooldown.
//!
//! Every tool sends each probe once (this scanner with `--retries 0`, masscan and zmap by
//! default) and waits [`COOLDOWN`] for late answers. The scanner side's veth is the same for
//! every tool ([`link::configure`]): TSO, GSO and scatter-gather off, a pfifo qdisc, and GRO on
//! (`--napi gro`, the default) or a pass-through XDP program during masscan's and zmap's runs
//! (`--napi xdp`): without either, the veth never runs the NAPI that takes the responder's
//! answers in, and those two attach no XDP program. The lab runs the target's NAPI in a thread
//! of its own (see `Lab::start_responder`).

mod link;
mod measure;
mod memory;
mod plot;
mod report;
mod soak;
mod tools;

use std::{
    collections::HashMap,
    fs,
    net::{Ipv4Addr, UdpSocket},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, ensure};
use clap::Args;
use scanner_common::{
    responder::{Share, Truth, truth},
    wire::ip_proto,
};
use scanner_tests::{Lab, LabConfig, ResponderSettings};

use self::{
    link::{Napi, PassThrough},
    report::Row,
    tools::Tool,
};
use crate::{build, cmd, setup};

/// The responder's range: 65536 addresses inside 198.18.0.0/15, routed via the target.
const RANGE: (Ipv4Addr, u8) = ResponderSettings::DEFAULT_RANGE;
/// The ports every tool scans: 8 x 65536 = 524288 probes per run.
const PORTS: [u16; 8] = [21, 22, 23, 25, 80, 443, 3389, 8080];
/// Seed and shares of the ground truth: 10% open, 50% closed, 40% silent.
const SEED: u64 = 2026;
const OPEN: f64 = 0.1;
const CLOSED: f64 = 0.5;
/// How long every tool waits for late answers after its last probe.
const COOLDOWN: Duration = Duration::from_secs(2);
/// "max": a rate no tool reaches on this machine, so each goes as fast as it can.
const MAX_RATE: u64 = 100_000_000;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Rates to ask for, in probes per second (k and M suffixes), or "max".
    #[arg(long, value_delimiter = ',', default_value = "100k,250k,500k,1M,2M,max",
          value_parser = parse_rate)]
    rates: Vec<Rate>,
    /// The tools to compare.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "scanner,scanner2,masscan,zmap,zmap2,ceiling,ceiling2"
    )]
    tools: Vec<Tool>,
    /// Where results.md and results.png go (relative to the workspace root).
    #[arg(long, value_name = "DIR", default_value = "bench")]
    out: PathBuf,
    /// How the answers get into vs0 for masscan and zmap, which attach no XDP program.
    #[arg(long, value_enum, default_value = "xdp")]
    napi: Napi,
    /// Instead of the comparison: the scanner alone on 198.18.0.0/15 x all 65535 ports at its
    /// full rate for SECONDS, its resident memory sampled every second (bench/memory.md).
    #[arg(long, value_name = "SECONDS")]
    memory: Option<u64>,
    /// Instead of the comparison: the scanner alone at its full rate against the responder for
    /// SECONDS (600 if none given), then found / expected, drops and RSS over time
    /// (bench/soak.md).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "600")]
    soak: Option<u64>,
}

/// A rate asked of every tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Pps(u64),
    /// As fast as the tool goes.
    Max,
}

impl Rate {
    /// The number each tool is given.
    pub fn pps(self) -> u64 {
        match self {
            Rate::Pps(pps) => pps,
            Rate::Max => MAX_RATE,
        }
    }

    /// "100k", "1M", "max".
    pub fn label(self) -> String {
        match self {
            Rate::Max => "max".to_owned(),
            Rate::Pps(pps) if pps >= 1_000_000 && pps % 100_000 == 0 => {
                format!("{}M", pps as f64 / 1e6)
            }
            Rate::Pps(pps) if pps >= 1000 && pps % 1000 == 0 => format!("{}k", pps / 1000),
            Rate::Pps(pps) => pps.to_string(),
        }
    }
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let (digits, unit) = match text.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1_000.0),
        None => match text.strip_suffix('M') {
            Some(digits) => (digits, 1_000_000.0),
            None => (text, 1.0),
        },
    };
    match digits.parse::<f64>() {
        Ok(n) if n * unit >= 1.0 && n * unit <= MAX_RATE as f64 => {
            Ok(Rate::Pps((n * unit).round() as u64))
        }
        _ => Err(format!("{text:?} is not a rate such as 250k, 1M or max")),
    }
}

/// A tool's verdict on one (address, port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Open,
    Closed,
}

/// What a tool reported: one state per (address, port).
pub type Found = HashMap<(Ipv4Addr, u16), State>;

/// The ground truth of the scan: every open and closed (address, port).
pub struct Expected {
    pub states: Found,
    pub open: usize,
    pub closed: usize,
}

impl Expected {
    fn of(settings: &ResponderSettings, ports: &[u16]) -> Result<Expected> {
        let config = settings.config()?;
        let states: Found = settings
            .addresses()
            .flat_map(|ip| ports.iter().map(move |&port| (ip, port)))
            .filter_map(
                |(ip, port)| match truth(&config, u32::from(ip), port, ip_proto::TCP) {
                    Truth::Open => Some(((ip, port), State::Open)),
                    Truth::Closed => Some(((ip, port), State::Closed)),
                    Truth::Silent => None,
                },
            )
            .collect();
        let open = states.values().filter(|&&s| s == State::Open).count();
        let closed = states.len() - open;
        Ok(Expected {
            states,
            open,
            closed,
        })
    }
}

/// Everything a run needs besides the lab.
pub struct Context {
    pub scanner: PathBuf,
    pub settings: ResponderSettings,
    pub expected: Expected,
    /// Scratch files: tool output, logs, zmap's lists.
    pub work: PathBuf,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(seconds) = args.memory {
        return memory::run(seconds, &args.out);
    }
    if let Some(seconds) = args.soak {
        return soak::run(seconds, &args.out);
    }
    ensure!(
        !args.rates.is_empty() && !args.tools.is_empty(),
        "nothing to run"
    );
    setup::setup(setup::Scope::Everything)?;
    build::release()?;
    if args.tools.iter().any(|tool| tool.is_ceiling()) {
        build::quietly(
            "the AF_XDP ceiling",
            cmd::cargo().args([
                "build",
                "--release",
                "-p",
                "scanner",
                "--example",
                "xdp_ceiling",
            ]),
        )?;
    }
    let scanner = cmd::release_binary("scanner");
    let settings = responder_settings(&scanner, OPEN, CLOSED)?;
    let expected = Expected::of(&settings, &PORTS)?;
    let work = std::env::temp_dir().join(format!("scanner-bench-{}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let context = Context {
        scanner,
        settings,
        expected,
        work,
    };
    tools::write_zmap_lists(&context)?;
    let result = bench(args, &context);
    let _ = fs::remove_dir_all(&context.work);
    result
}

fn bench(args: &BenchArgs, context: &Context) -> Result<()> {
    let started = Instant::now();
    let load_before = load_average();
    // No listeners, no filtered ports: the responder is started afresh for every run.
    let mut lab = Lab::up(LabConfig {
        responder: None,
        ..LabConfig::responder_only(context.settings.clone())
    })?;
    let link = link::configure(&lab, args.napi)?;
    println!("bench: {link}");
    let check = link::check(&mut lab, context, args.napi)?;
    println!("bench: {check}");
    let versions: Vec<String> = args
        .tools
        .iter()
        .map(|tool| tool.version(context))
        .collect();
    let nudger = link::nudger(&lab)?;

    let mut rows = Vec::new();
    // Rate by rate, every tool in turn: whatever else the machine does spreads over all tools.
    for &rate in &args.rates {
        // The ceiling has no rate to be asked for: it runs once, with "max".
        for &tool in args
            .tools
            .iter()
            .filter(|tool| rate == Rate::Max || !tool.is_ceiling())
        {
            let row = run_one(&mut lab, context, args.napi, &nudger, tool, rate)?;
            println!("{}", report::line(&row));
            rows.push(row);
        }
    }
    lab.down();

    let out = cmd::workspace_root().join(&args.out);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let header = report::Header {
        load_before,
        load_after: load_average(),
        link,
        napi: args.napi.describe(),
        check,
        versions,
        elapsed: started.elapsed(),
    };
    let markdown = report::markdown(&rows, context, &header);
    let md_path = out.join("results.md");
    fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    let png_path = out.join("results.png");
    // The ceiling is one point of the table, and finds nothing to plot.
    let scanners: Vec<Tool> = args
        .tools
        .iter()
        .copied()
        .filter(|tool| !tool.is_ceiling())
        .collect();
    plot::draw(&rows, &args.rates, &scanners, &png_path)?;
    println!("\n{markdown}");
    println!(
        "bench: wrote {} and {}",
        md_path.display(),
        png_path.display()
    );
    Ok(())
}

/// One tool at one rate: as many runs as the tool needs for all ports (zmap: one per port),
/// each with a fresh responder.
fn run_one(
    lab: &mut Lab,
    context: &Context,
    napi: Napi,
    nudger: &UdpSocket,
    tool: Tool,
    rate: Rate,
) -> Result<Row> {
    let mut row = Row::new(tool, rate, context);
    let mut found = Found::new();
    for ports in tool.runs(&PORTS) {
        let name = format!("{}-{}-{}", tool.name(), rate.label(), ports[0]);
        let output = context.work.join(format!("{name}.out"));
        let log = context.work.join(format!("{name}.log"));
        let _ = fs::remove_file(&output);
        lab.start_responder(context.settings.clone())?;
        let pass = PassThrough::start(lab, context, napi, tool)?;
        let delivered_before = link::rx_packets(lab)?;
        let mut command = tool.command(lab, context, rate, &ports, &output);
        let probes = context.settings.addresses().count() * ports.len();
        let measured = measure::run(&mut command, time_bound(probes), &log, |_| {
            if tool.needs_nudges() {
                link::nudge(nudger);
            }
        })?;
        let delivered = link::rx_packets(lab)? - delivered_before;
        pass.stop()?;
        let counts = lab.stop_responder()?;
        if !measured.success {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(3).collect();
            row.notes.push(format!(
                "{name}: {} (log: {})",
                measured.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
        if output.exists() {
            tool.parse(&output, &ports, &mut found)
                .with_context(|| format!("reading {}", output.display()))?;
        }
        row.add_run(probes as u64, &measured, &counts, delivered);
    }
    row.score(&found, &context.expected);
    Ok(row)
}

/// How long a run may take: its probes at 50k/s (slower than any tool here), the cooldown, and
/// half a minute of slack. A run still going is stopped (SIGINT, again, then SIGKILL).
fn time_bound(probes: usize) -> Duration {
    Duration::from_secs_f64(probes as f64 / 50_000.0) + COOLDOWN + Duration::from_secs(30)
}

/// The 1-minute load average, as the kernel says.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Paths in messages, relative to the workspace when inside it.
pub fn shown(path: &Path) -> String {
    path.strip_prefix(cmd::workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The responder every mode scans: the bench's range and seed, answering `open` and `closed`
/// shares of its (address, port) pairs.
fn responder_settings(scanner: &Path, open: f64, closed: f64) -> Result<ResponderSettings> {
    let (open, closed) = Share::split(open, closed)
        .map_err(|err| anyhow::anyhow!("responder shares {open} and {closed}: {err}"))?;
    Ok(ResponderSettings {
        scanner_bin: scanner.to_path_buf(),
        range: RANGE,
        seed: SEED,
        open,
        closed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_label() {
        let rates: Vec<Rate> = ["100k", "250K", "1M", "2.5M", "max", "1234"]
            .iter()
            .map(|text| parse_rate(text).unwrap())
            .collect();
        assert_eq!(
            rates,
            [
                Rate::Pps(100_000),
                Rate::Pps(250_000),
                Rate::Pps(1_000_000),
                Rate::Pps(2_500_000),
                Rate::Max,
                Rate::Pps(1234)
            ]
        );
        let labels: Vec<String> = rates.iter().map(|rate| rate.label()).collect();
        assert_eq!(labels, ["100k", "250k", "1M", "2.5M", "max", "1234"]);
        assert_eq!(Rate::Max.pps(), MAX_RATE);
        for bad in ["", "0", "fast", "-1k", "1000M"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_expected_set_follows_the_shares() {
        let (open, closed) = Share::split(OPEN, CLOSED).unwrap();
        let settings = ResponderSettings {
            range: (Ipv4Addr::new(198, 19, 0, 0), 20),
            seed: SEED,
            open,
            closed,
            ..ResponderSettings::new("/nonexistent")
        };
        let expected = Expected::of(&settings, &PORTS).unwrap();
        let pairs = 4096.0 * PORTS.len() as f64;
        assert!((expected.open as f64 / pairs - OPEN).abs() < 0.02);
        assert!((expected.closed as f64 / pairs - CLOSED).abs() < 0.02);
    }
}
