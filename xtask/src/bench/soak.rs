//! `cargo xtask bench --soak SECONDS`: the scanner alone for a long time (ten minutes by
//! default) at its full rate against the XDP responder, then checked: every answer the
//! responder sent is reported once with its true state (found / expected), nothing reported
//! that it did not send, the probes the link dropped, and the resident set over time, which
//! must stay flat. The scan (the responder's /16 on every port, 4.3 billion probes, each sent
//! once) outlasts the soak and stops at `--max-runtime`; the responder's answers are what the
//! scanner must have found, whichever probes it got to. bench/soak.md gets the figures.

use std::{
    collections::HashSet,
    fmt::Write as _,
    fs::{self, File},
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    path::Path,
    time::Duration,
};

use anyhow::{Context as _, Result, ensure};
use scanner_common::{
    responder::{Truth, truth},
    wire::ip_proto,
};
use scanner_tests::{Lab, LabConfig, ResponderSettings};

use super::{COOLDOWN, MAX_RATE, SEED, link, measure, memory, responder_settings, shown, tools};
use crate::{build, cmd, setup};

/// Internet-like answers: few open, few closed, most silent (and -oJ stays a few GB).
const OPEN: f64 = 0.02;
const CLOSED: f64 = 0.03;
/// The resident set is judged after the first minute (the report bitmaps fill in first).
const SETTLED: usize = 60;

pub fn run(seconds: u64, out: &Path) -> Result<()> {
    setup::setup(setup::Scope::Everything)?;
    build::release()?;
    let scanner = cmd::release_binary("scanner");
    let settings = responder_settings(&scanner, OPEN, CLOSED)?;
    let work = std::env::temp_dir().join(format!("scanner-soak-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let mut lab = Lab::up(LabConfig::responder_only(settings.clone()))?;
    let result = soak(&mut lab, &settings, seconds, &work, out);
    lab.down();
    let _ = fs::remove_dir_all(&work);
    result
}

fn soak(
    lab: &mut Lab,
    settings: &ResponderSettings,
    seconds: u64,
    work: &Path,
    out: &Path,
) -> Result<()> {
    let link = link::configure(lab, link::Napi::Xdp)?;
    let results = work.join("soak.jsonl");
    let log = work.join("soak.log");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let mut command = lab.command_in_scanner(&settings.scanner_bin);
    command
        .args(tools::scanner_args(
            &settings.cidr(),
            "1-65535",
            &MAX_RATE.to_string(),
            &COOLDOWN.as_secs().to_string(),
            threads,
            &results,
        ))
        .args(["--max-runtime", &seconds.to_string()]);
    let line = cmd::display(&command);
    println!("bench: soak for {seconds} s: {line}");
    let delivered_before = link::rx_packets(lab)?;
    let mut samples: Vec<u64> = Vec::new();
    let mut ticks = 0u32;
    let measured = measure::run(
        &mut command,
        Duration::from_secs(seconds + 120),
        &log,
        |pid| {
            // Every fourth tick of 250 ms: once a second.
            if ticks.is_multiple_of(4)
                && let Some(rss) = memory::resident_bytes(pid)
            {
                samples.push(rss);
            }
            ticks += 1;
        },
    )?;
    let delivered = link::rx_packets(lab)? - delivered_before;
    let counts = lab.stop_responder()?;
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    let summary = memory::summary_lines(&log_text);
    let sent = summary
        .iter()
        .find_map(|line| line.trim_start().strip_prefix("sent ")?.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    println!("bench: scoring {}", shown(&results));
    let score = Score::of(&results, settings)?;

    // From the first minute to the end of sending: the exit (cooldown, writers flushed,
    // memory freed) is not the steady state.
    let sending = samples.len().min(seconds as usize + 1);
    let settled = samples
        .get(SETTLED.min(sending.saturating_sub(1))..sending)
        .unwrap_or(&[]);
    let (low, high) = settled.iter().fold((u64::MAX, 0), |(low, high), &rss| {
        (low.min(rss), high.max(rss))
    });
    let mib = |bytes: u64| bytes >> 20;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Soak: {seconds} s at the full rate against the XDP responder\n\n\
         `{line}`\n\n\
         The responder's {} (seed {SEED}, {:.0}% open, {:.0}% closed, the rest silent) on every \
         port; {threads} sender threads, each probe sent once. Link: {link}.\n",
        settings.cidr(),
        OPEN * 100.0,
        CLOSED * 100.0,
    );
    let span = Duration::from_nanos(counts.probe_span_ns()).as_secs_f64();
    let _ = writeln!(
        md,
        "| | |\n|---|---:|\n\
         | probes sent (scanner) | {sent} |\n\
         | probes at the target (responder) | {} |\n\
         | dropped on the link | {} |\n\
         | achieved (at the target) | {:.0} probes/s |\n\
         | open found / answered open | {} / {} |\n\
         | closed found / answered closed | {} / {} |\n\
         | wrong (state or pair never answered) | {} |\n\
         | reported twice | {} |\n\
         | answers at vs0 / sent by the responder | {delivered} / {} |\n\
         | peak RSS (wait4) | {} MiB |\n\
         | RSS from the first minute to the end of sending | {} - {} MiB |\n\
         | wall, CPU | {:.0} s, {:.0} s |\n\
         | exit | {} |\n",
        counts.probes,
        sent.saturating_sub(counts.probes),
        counts.probes as f64 / span.max(1e-9),
        score.open,
        counts.open,
        score.closed,
        counts.closed,
        score.wrong,
        score.duplicates,
        counts.open + counts.closed,
        mib(measured.peak_rss),
        mib(low),
        mib(high),
        measured.wall.as_secs_f64(),
        measured.cpu.as_secs_f64(),
        measured.status,
    );
    let _ = writeln!(
        md,
        "RSS every 30 s, and the highest second of the 30 s that follow:\n\n\
         | second | RSS (MiB) | highest (MiB) |\n|---:|---:|---:|"
    );
    for (window, rss) in samples.chunks(30).enumerate() {
        let highest = rss.iter().max().copied().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            window * 30,
            mib(rss[0]),
            mib(highest)
        );
    }
    memory::write_report(md, &summary, out, "soak.md")?;
    ensure!(
        measured.success,
        "the scan did not end well: {}",
        measured.status
    );
    ensure!(
        score.open == counts.open as usize
            && score.closed == counts.closed as usize
            && score.wrong == 0
            && score.duplicates == 0,
        "lost or wrong results: see {}",
        shown(&out.join("soak.md"))
    );
    Ok(())
}

/// What the scanner's -oJ says, against the ground truth.
#[derive(Default)]
struct Score {
    open: usize,
    closed: usize,
    wrong: usize,
    duplicates: usize,
}

impl Score {
    /// Reads `results` line by line (a few GB need not fit in memory).
    fn of(results: &Path, settings: &ResponderSettings) -> Result<Score> {
        let config = settings.config()?;
        let file = File::open(results).with_context(|| format!("opening {}", results.display()))?;
        let mut score = Score::default();
        let mut seen: HashSet<u64> = HashSet::new();
        for line in BufReader::with_capacity(1 << 20, file).lines() {
            let line = line?;
            let value: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("a line of {}: {line:?}", results.display()))?;
            if value["reason"] == "no-response" {
                continue;
            }
            let ip: Ipv4Addr = value["ip"].as_str().context("no ip")?.parse()?;
            let port = value["port"].as_u64().context("no port")? as u16;
            if !seen.insert(u64::from(u32::from(ip)) << 16 | u64::from(port)) {
                score.duplicates += 1;
                continue;
            }
            match (
                value["state"].as_str(),
                truth(&config, u32::from(ip), port, ip_proto::TCP),
            ) {
                (Some("open"), Truth::Open) => score.open += 1,
                (Some("closed"), Truth::Closed) => score.closed += 1,
                _ => score.wrong += 1,
            }
        }
        Ok(score)
    }
}
