//! From a checked [`Plan`] to a finished scan: the network path, then the stages in order
//! (discovery, port scan, OS detection), each feeding the report's outputs.

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
    path::Path,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, Result};
use scanner_common::DEFAULT_RING_BYTES;

use crate::{
    capture::CaptureOptions,
    checkpoint::{
        Checkpoint, CheckpointError, DEFAULT_PATH as DEFAULT_CHECKPOINT, PlanId, journal,
        run::Checkpointer,
    },
    cli::Cli,
    discovery,
    engine::{
        self, ScanOptions, SourcePorts,
        stop::{Level, Stop},
        summary,
    },
    order::{ScanSpace, WalkPlan},
    os::db::OsDb,
    osscan::{
        self, OsOptions,
        host::OsTarget,
        report::{OsReport, ReportOptions},
    },
    output::{sinks::Outputs, table},
    plan::{DEFAULT_RATE, InputError, Plan, Speed},
    privilege::AfterSetup,
    probe::{
        FrameAddrs, Probe,
        ip_proto::IpProto,
        sctp::{Checksum, Chunk, Sctp},
        tcp_syn::TcpSyn,
        udp::Udp,
    },
    rate,
    report::{
        self, HostReport, HostUp, RunEnd, RunStats, ScanInfo, ScanKind,
        build::{Silence, Up},
        tables::HostTables,
    },
    route,
    send::{self, SendPath},
    services::Services,
    targets::{PortList, TargetSet},
    verdict::PortState,
};

/// How long the kernel gets to resolve the next hop's MAC address.
const NEIGHBOUR_TIMEOUT: Duration = Duration::from_secs(1);

pub fn run(mut cli: Cli) -> Result<ExitCode> {
    // A resumed scan keeps the seed and the sender threads of the run it goes on with.
    let resume = match &cli.resume {
        Some(path) => {
            let checkpoint = Checkpoint::read(path).map_err(|err| InputError(err.to_string()))?;
            cli.seed.get_or_insert(checkpoint.plan.seed);
            cli.sender_threads
                .get_or_insert(checkpoint.plan.sender_threads);
            Some(checkpoint)
        }
        None => None,
    };
    let mut plan = Plan::from_cli(&cli)?;
    for note in &plan.notes {
        eprintln!("scanner: note: {note}");
    }
    if !cli.dry_run {
        // Before anything is attached or sent: a missing capability is one clear line.
        crate::privilege::check()?;
    }
    let first = plan
        .targets
        .get(0)
        .expect("a plan's targets are never empty");
    let (interface, addrs) = network_path(&cli, &plan, first)?;
    let mut stages = Stages::new(cli.wait)?;
    stages.resume = resume;
    let source_ports = cli
        .source_port
        .map_or(SourcePorts::EPHEMERAL, SourcePorts::fixed);
    let addresses = plan.targets.len();
    let targets = std::mem::take(&mut plan.targets);
    let targets = match plan.stages.discovery.take() {
        Some(ping_ports) if !cli.dry_run => discover(
            &cli,
            &plan,
            targets,
            ping_ports,
            &Egress {
                interface: interface.clone(),
                addrs,
                source_ports,
            },
            &stages,
        )?,
        _ => targets,
    };
    let interrupted = stages.stop.requested();
    if targets.is_empty() || interrupted {
        match interrupted {
            true => eprintln!("scanner: interrupted during host discovery: no port was scanned"),
            false => eprintln!("scanner: no host is up: nothing to scan"),
        }
        // The outputs still say so, as nmap's do: a head, no host, and the count at the foot.
        let mut outputs = Outputs::open(&plan.outputs, HostTables::new(0, None))?;
        let info = scan_info(&cli, &plan, addrs.source_ip);
        outputs.begin(&info)?;
        outputs.end(
            &info,
            &RunStats {
                end: SystemTime::now(),
                elapsed_secs: info.start.elapsed().map_or(0.0, |e| e.as_secs_f64()),
                addresses,
                hosts_up: 0,
                ended: match interrupted {
                    true => RunEnd::Interrupted,
                    false => RunEnd::Completed,
                },
            },
        )?;
        return Ok(match interrupted {
            true => stages.interrupted_exit(),
            false => ExitCode::SUCCESS,
        });
    }
    let space = Arc::new(ScanSpace::new(targets, plan.ports.clone()));
    let os = plan.stages.os.take().map(|db| OsStage { db, addrs });
    match plan.kind {
        ScanKind::Syn => {
            let probe = TcpSyn::new(addrs, source_ports.base, source_ports.mask);
            let mut options = scan_options(&cli, &plan, interface, addrs, source_ports, &probe);
            if os.is_some() {
                options.after_setup = AfterSetup::Keep;
            }
            scan(&cli, &plan, probe, space, &options, os, &stages)
        }
        ScanKind::IpProto => {
            let probe = IpProto::new(addrs, source_ports.base, source_ports.mask);
            let options = scan_options(&cli, &plan, interface, addrs, source_ports, &probe);
            scan(&cli, &plan, probe, space, &options, None, &stages)
        }
        ScanKind::SctpInit | ScanKind::SctpCookieEcho => {
            let chunk = match plan.kind {
                ScanKind::SctpInit => Chunk::Init,
                _ => Chunk::CookieEcho,
            };
            let probe = Sctp::new(
                addrs,
                chunk,
                sctp_checksum(&cli),
                source_ports.base,
                source_ports.mask,
            );
            let options = scan_options(&cli, &plan, interface, addrs, source_ports, &probe);
            scan(&cli, &plan, probe, space, &options, None, &stages)
        }
        ScanKind::Udp => {
            let probe = Udp::new(
                addrs,
                plan.payloads.clone(),
                source_ports.base,
                source_ports.mask,
            );
            let options = scan_options(&cli, &plan, interface, addrs, source_ports, &probe);
            scan(&cli, &plan, probe, space, &options, None, &stages)
        }
    }
}

/// What OS detection needs beyond the port scan.
struct OsStage {
    db: OsDb,
    addrs: FrameAddrs,
}

fn sctp_checksum(cli: &Cli) -> Checksum {
    match cli.adler32 {
        true => Checksum::Adler32,
        false => Checksum::Crc32c,
    }
}

/// Where probes leave from: the interface, the frames' addresses, the source ports.
#[derive(Clone)]
struct Egress {
    interface: route::Interface,
    addrs: FrameAddrs,
    source_ports: SourcePorts,
}

/// The host discovery stage (-PY): the targets that answer an SCTP INIT on one of `ports`.
fn discover(
    cli: &Cli,
    plan: &Plan,
    targets: TargetSet,
    ports: PortList,
    egress: &Egress,
    stages: &Stages,
) -> Result<TargetSet> {
    let Egress {
        interface,
        addrs,
        source_ports,
    } = egress.clone();
    let probe = Sctp::new(
        addrs,
        Chunk::Init,
        sctp_checksum(cli),
        source_ports.base,
        source_ports.mask,
    );
    let mut options = scan_options(cli, plan, interface, addrs, source_ports, &probe);
    // The port scan writes --pcap afresh; the ping stage shows its packets with --packet-trace.
    options.capture.pcap = None;
    // The port scan attaches after it.
    options.after_setup = AfterSetup::Keep;
    let found = discovery::ping(
        probe,
        targets,
        ports,
        &options,
        plan.seed,
        &stages.runtime,
        Arc::clone(&stages.stop),
    )?;
    let spec: Vec<String> = found.ports.iter().map(|port| port.to_string()).collect();
    eprintln!(
        "scanner: host discovery (SCTP INIT ping to port {}): {} of {} hosts up in {:.2}s",
        spec.join(","),
        found.up.len(),
        found.pinged,
        found.elapsed.as_secs_f64()
    );
    Ok(found.up)
}

fn scan_options(
    cli: &Cli,
    plan: &Plan,
    interface: route::Interface,
    addrs: FrameAddrs,
    source_ports: SourcePorts,
    probe: &impl Probe,
) -> ScanOptions {
    let rate = match plan.speed {
        Speed::ProbesPerSecond(rate) => rate,
        Speed::BitsPerSecond(bits) => rate::for_bandwidth(bits, probe.template().len()),
    };
    ScanOptions {
        interface,
        source_ip: addrs.source_ip,
        source_ports,
        rate: Some(rate),
        retries: cli.retries,
        wait: cli.wait,
        answered_window: cli.answered_window,
        max_runtime: cli.max_runtime,
        send_path: cli.send_path,
        ring_bytes: ring_bytes_for(rate),
        capture: CaptureOptions {
            pcap: cli.pcap.clone(),
            trace: cli.packet_trace,
            unmatched: cli.pcap_all,
            append: false,
        },
        after_setup: AfterSetup::Drop,
    }
}

/// Replies the ring buffer must hold while the reader is away (a scheduling stall, a burst of
/// retransmitted SYN-ACKs): a quarter second at the scan's rate.
const RING_SLACK_PER_SEC: u64 = 4;
/// Each record costs its 32 bytes plus the ring's 8-byte header.
const RING_BYTES_PER_RECORD: u64 = 40;
/// 32 MiB, mapped twice by the kernel (the ring wraps around through a second mapping), so
/// up to 64 MiB of the memory budget.
const MAX_RING_BYTES: u64 = 1 << 25;

/// The ring buffer size for `rate`: a power of two, at least the default, at most 32 MiB.
fn ring_bytes_for(rate: u64) -> u32 {
    let wanted = rate / RING_SLACK_PER_SEC * RING_BYTES_PER_RECORD;
    wanted
        .next_power_of_two()
        .clamp(u64::from(DEFAULT_RING_BYTES), MAX_RING_BYTES) as u32
}

/// One sender thread per this many probes per second asked, when --sender-threads is not given.
const RATE_PER_SENDER: u64 = 400_000;

fn sender_threads(cli: &Cli, options: &ScanOptions) -> u32 {
    if cli.dry_run {
        return 1;
    }
    cli.sender_threads.unwrap_or_else(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        // AF_XDP binds a queue per thread: no more threads than transmit queues.
        let queues = match options.send_path {
            SendPath::AfPacket => cpus,
            SendPath::Auto | SendPath::AfXdp => {
                send::tx_queues(options.interface.index).map_or(1, u64::from)
            }
        };
        let wanted = options
            .rate
            .map_or(cpus, |rate| rate.div_ceil(RATE_PER_SENDER));
        wanted.clamp(1, cpus.min(queues).max(1)) as u32
    })
}

fn scan<P: Probe + 'static>(
    cli: &Cli,
    plan: &Plan,
    probe: P,
    space: Arc<ScanSpace>,
    options: &ScanOptions,
    os: Option<OsStage>,
    stages: &Stages,
) -> Result<ExitCode> {
    let seed = plan.seed;
    let walk = Arc::new(
        WalkPlan::new(
            space.len(),
            seed,
            plan.shard.0,
            plan.shard.1,
            sender_threads(cli, options),
            cli.max_targets.map(|cap| cap.of(space.len())),
        )
        .map_err(|err| InputError(err.to_string()))?,
    );
    let probe = Arc::new(probe);
    if cli.dry_run {
        let described = engine::dry_run(probe, space, walk, options, std::io::stdout())
            .context("writing the dry run")?;
        eprintln!("scanner: dry run: {described} probes described, none sent (seed {seed})");
        return Ok(ExitCode::SUCCESS);
    }
    let plan_id = PlanId::of(
        plan.kind,
        &space,
        seed,
        plan.shard,
        walk.threads(),
        cli.max_targets.map(|cap| cap.of(space.len())),
        options.retries,
    );
    let resume = stages.resume.as_ref();
    if let Some(checkpoint) = resume {
        let differences = checkpoint.plan.differences(&plan_id);
        if !differences.is_empty() {
            return Err(InputError(
                CheckpointError::Mismatch {
                    path: cli.resume.clone().unwrap_or_default(),
                    differences,
                }
                .to_string(),
            )
            .into());
        }
    }
    // Resumed, the checkpoint is rewritten where it was read, unless told otherwise.
    let checkpoint_path = match (
        &cli.resume,
        cli.checkpoint.as_os_str() == DEFAULT_CHECKPOINT,
    ) {
        (Some(resumed), true) => resumed.clone(),
        _ => cli.checkpoint.clone(),
    };
    let checkpointer = std::cell::RefCell::new(Checkpointer::start(
        &checkpoint_path,
        plan_id,
        // Resumed, the scan's own command line (this one may name no targets).
        resume.map_or_else(|| checkpoint_args(walk.threads(), seed), |c| c.args.clone()),
        options.wait,
        resume,
    ));
    let up = match cli.skip_host_discovery {
        true => Up::EveryTarget,
        false => Up::Answered,
    };
    // With -Pn every target is listed, whether it answers or not.
    let listed = (up == Up::EveryTarget).then(|| space.targets().len());
    let tables = HostTables::new(cli.max_host_tables, listed);
    let mut outputs = Outputs::open(&plan.outputs, tables)?;
    let scan_info = scan_info(cli, plan, options.source_ip);
    outputs.begin(&scan_info)?;
    let services = Services::global();
    let Stages { runtime, stop, .. } = stages;
    // What -O needs of the port scan: per host, its first reply and lowest open and closed port.
    let mut os_candidates = os.is_some().then(OsCandidates::default);
    let mut answered = engine::answered_set(space.len(), options);
    if let Some(checkpoint) = resume {
        let replayed = replay(checkpoint, &space, &mut answered, |result| {
            if let Some(candidates) = &mut os_candidates {
                candidates.add(result);
            }
            let entry = report::build::entry(result, services);
            outputs.decided(&scan_info, result.ip, &entry)
        })?;
        eprintln!(
            "scanner: resuming {}: {replayed} results of the earlier run(s) written again",
            cli.resume.as_deref().unwrap_or(Path::new("")).display()
        );
    }
    let start = engine::Start {
        answered,
        place: resume.map(|checkpoint| checkpoint.place.clone()),
    };
    let outcome = runtime.block_on(async {
        engine::run(
            Arc::clone(&probe),
            Arc::clone(&space),
            Arc::clone(&walk),
            options,
            Arc::clone(stop),
            Some(start),
            |result| {
                checkpointer.borrow_mut().record(result);
                if let Some(candidates) = &mut os_candidates {
                    candidates.add(result);
                }
                let entry = report::build::entry(result, services);
                Ok(outputs.decided(&scan_info, result.ip, &entry)?)
            },
            |place| checkpointer.borrow_mut().tick(place),
        )
        .await
    })?;
    let checkpointer = checkpointer.into_inner();
    // Stopped early, the scan can go on later; done, it leaves nothing behind.
    let paused = match (
        &outcome.place,
        outcome.stats.interrupted || outcome.stats.sent.fault.is_some(),
    ) {
        (Some(place), true) => checkpointer.pause(place.clone()),
        _ => {
            checkpointer.finish();
            None
        }
    };
    let found_os = match &os {
        Some(os) if !outcome.stats.interrupted && outcome.stats.sent.fault.is_none() => Some(
            detect_os(cli, os, options, runtime, os_candidates.as_ref(), stop)?,
        ),
        _ => None,
    };
    let os_interrupted = found_os.as_ref().is_some_and(|found| found.interrupted);
    let mut os_reports = found_os.map(|found| found.reports).unwrap_or_default();
    let silence = Silence {
        verdict: probe.silent_verdict(),
        walked: &outcome.stats.walked,
    };
    let answered = outputs.answered();
    let mut totals = outputs.take_totals();
    let summary = summary::render(
        &outcome.stats,
        &totals,
        silence.verdict,
        &summary::Scope {
            addresses: space.targets().len(),
            proto: P::PROTO,
            ports: space.ports().len(),
            probes: space.len(),
            seed,
            shard: plan.shard,
        },
    );
    let hosts_up = match outputs.take_tables() {
        HostTables::Kept { hosts: kept, .. } => {
            let mut listed = 0;
            for mut host in report::build::hosts(&kept, &space, P::PROTO, &silence, up, services) {
                // --open lists only the hosts with a port that may be open, as nmap.
                if cli.open && !host.ports.iter().any(|entry| entry.state.may_be_open()) {
                    continue;
                }
                host.os = os_reports.remove(&host.ip);
                outputs.host(&scan_info, &host)?;
                listed += 1;
            }
            listed
        }
        HostTables::Streaming(answered_pairs) => {
            if !answered_pairs.lists_silence() {
                eprintln!(
                    "scanner: note: over {} ports answered, too many to remember which: the \
                     streamed outputs hold the replies, and silent ports are in the totals only",
                    report::tables::MAX_PAIRS
                );
            }
            let silent = report::build::silent_ports(
                &answered_pairs,
                &space,
                P::PROTO,
                &silence,
                up,
                services,
            );
            for (ip, entry) in silent {
                outputs.silent(&scan_info, ip, &entry)?;
            }
            totals.add_silence(&space, &silence);
            outputs.totals(&table::render(
                &totals,
                P::PROTO,
                services,
                answered,
                space.targets().len(),
            ))?;
            let mut os_hosts: Vec<(Ipv4Addr, OsReport)> = os_reports.drain().collect();
            os_hosts.sort_unstable_by_key(|(ip, _)| *ip);
            for (ip, os) in os_hosts {
                let up = os_candidates
                    .as_ref()
                    .map_or(HostUp::UserSet, |candidates| candidates.first_reply(ip));
                let host = HostReport {
                    ip,
                    up,
                    ports: Vec::new(),
                    os: Some(os),
                };
                outputs.host(&scan_info, &host)?;
            }
            listed.unwrap_or(answered)
        }
    };
    let run_stats = RunStats {
        end: SystemTime::now(),
        elapsed_secs: scan_info
            .start
            .elapsed()
            .map_or(0.0, |elapsed| elapsed.as_secs_f64()),
        addresses: space.targets().len(),
        hosts_up,
        ended: if outcome.stats.sent.fault.is_some() {
            RunEnd::SendFailed
        } else if outcome.stats.interrupted || os_interrupted {
            RunEnd::Interrupted
        } else {
            RunEnd::Completed
        },
    };
    outputs.end(&scan_info, &run_stats)?;
    eprint!("{summary}");
    if let Some(fault) = &outcome.stats.sent.fault {
        let probed = outcome.stats.walked.count();
        eprintln!(
            "scanner: error: sending probes on {}: {fault}; the scan stopped after {probed} of \
             {} probes, the replies to those are in the outputs and the rest were never sent",
            options.interface.name, outcome.stats.planned
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some(path) = &paused {
        eprintln!(
            "scanner: paused: go on with `scanner --resume {}`",
            path.display()
        );
    }
    if run_stats.ended == RunEnd::Interrupted {
        return Ok(stages.interrupted_exit());
    }
    if let Some(warning) = unanswered(&outcome.stats, options) {
        eprintln!("scanner: warning: {warning}");
        return Ok(ExitCode::from(UNANSWERED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code of a scan that got no reply at all: not an error, but rarely what was meant
/// (a wrong route or source, a filter, the replies taken before our XDP program).
pub const UNANSWERED: u8 = 3;

/// Why nothing answered, and what to check; `None` when something did.
fn unanswered(stats: &engine::ScanStats, options: &ScanOptions) -> Option<String> {
    if stats.xdp.matched > 0 || stats.sent.total() == 0 {
        return None;
    }
    let (interface, source) = (&options.interface.name, options.source_ip);
    Some(match stats.xdp.seen {
        0 => format!(
            "no reply at all: the XDP program on {interface} saw no packet during the scan; check \
             that {interface} is up and receiving (nothing in front of the program: another XDP \
             program, a tc filter) and that the targets route back to {source}"
        ),
        seen => format!(
            "no reply at all: {interface} received {seen} packets during the scan, none a reply \
             to a probe ({} with a bad cookie); check that the targets are up and not filtered \
             and that their replies come back to {source} on {interface}",
            stats.xdp.bad_cookie
        ),
    })
}

/// What the OS stage found: a report per host it could fingerprint.
struct FoundOs {
    reports: HashMap<Ipv4Addr, OsReport>,
    interrupted: bool,
}

/// The OS detection stage (-O), on the hosts the port scan found an open or closed port of.
fn detect_os(
    cli: &Cli,
    os: &OsStage,
    options: &ScanOptions,
    runtime: &tokio::runtime::Runtime,
    candidates: Option<&OsCandidates>,
    stop: &Arc<Stop>,
) -> Result<FoundOs> {
    let targets = candidates.map(OsCandidates::targets).unwrap_or_default();
    let os_options = OsOptions {
        interface: options.interface.clone(),
        addrs: os.addrs,
        rate: options.rate.unwrap_or(DEFAULT_RATE),
        max_tries: cli.max_os_tries,
        // After the port scan's packets, in the same file.
        capture: CaptureOptions {
            append: true,
            ..options.capture.clone()
        },
        after_setup: AfterSetup::Drop,
    };
    let detected = runtime.block_on(osscan::detect(
        &targets,
        Some(&os.db),
        &os_options,
        Arc::clone(stop),
    ))?;
    let report_options = |ip: Ipv4Addr| ReportOptions {
        guess: cli.osscan_guess,
        show_fingerprint: cli.verbose > 0 || cli.debug > 0,
        on_link: route::route_to(ip).is_ok_and(|route| route.gateway.is_none()),
        mac_prefix: Some([
            os.addrs.next_hop_mac[0],
            os.addrs.next_hop_mac[1],
            os.addrs.next_hop_mac[2],
        ]),
    };
    let reports = detected
        .hosts
        .iter()
        .map(|host| {
            let report = OsReport::new(host, &report_options(host.target.address));
            (report.ip, report)
        })
        .collect();
    eprintln!(
        "scanner: OS detection: {} hosts, {} probes sent, {} replies, {:.2}s",
        detected.hosts.len(),
        detected.probes_sent,
        detected.replies,
        detected.elapsed.as_secs_f64()
    );
    Ok(FoundOs {
        reports,
        interrupted: detected.interrupted,
    })
}

/// What every output's head says about the scan.
fn scan_info(cli: &Cli, plan: &Plan, source_ip: Ipv4Addr) -> ScanInfo {
    let mut ports: Vec<u16> = plan.ports.iter().collect();
    ports.sort_unstable();
    ScanInfo {
        kind: plan.kind,
        ports,
        args: std::env::args().collect::<Vec<_>>().join(" "),
        start: SystemTime::now(),
        verbose: cli.verbose,
        debug: cli.debug,
        open_only: cli.open,
        reason: cli.reason,
        source_ip,
    }
}

/// The command line a checkpoint keeps: this one without `--resume`, with the seed and the
/// sender threads it ran with (so that `scanner --resume FILE` alone is the same scan).
fn checkpoint_args(threads: u32, seed: u64) -> Vec<String> {
    let mut args = Vec::new();
    let mut given = std::env::args().skip(1);
    let (mut has_seed, mut has_threads) = (false, false);
    while let Some(arg) = given.next() {
        if arg == "--resume" {
            given.next();
            continue;
        }
        if arg.starts_with("--resume=") {
            continue;
        }
        has_seed |= arg == "--seed" || arg.starts_with("--seed=");
        has_threads |= arg == "--sender-threads" || arg.starts_with("--sender-threads=");
        args.push(arg);
    }
    if !has_seed {
        args.extend(["--seed".to_owned(), seed.to_string()]);
    }
    if !has_threads {
        args.extend(["--sender-threads".to_owned(), threads.to_string()]);
    }
    args
}

/// Writes the results of the runs `checkpoint` resumes to `decided` again, in their order, and
/// marks them answered; returns how many.
fn replay(
    checkpoint: &Checkpoint,
    space: &ScanSpace,
    answered: &mut engine::answered::Answered,
    mut decided: impl FnMut(
        &crate::results::ScanResult,
    ) -> Result<(), crate::output::sinks::OutputError>,
) -> Result<u64> {
    let journal = checkpoint.journal.display();
    let damaged = |what: String| InputError(format!("the results journal {journal} {what}"));
    let results = journal::read(&checkpoint.journal, checkpoint.journal_bytes)
        .map_err(|err| damaged(format!("cannot be read: {err}")))?;
    // A window remembers the latest answers only: the ones its retries still need.
    let mut recent = std::collections::VecDeque::new();
    let mut count = 0;
    for result in results {
        let result = result.map_err(|err| damaged(format!("is damaged: {err}")))?;
        let index = space.index_of(result.ip, result.port).ok_or_else(|| {
            damaged(format!(
                "holds {}:{}, which is not in this scan",
                result.ip, result.port
            ))
        })?;
        let open = result.state == PortState::Open;
        match answered.is_exact() {
            true => {
                answered.insert(index, open);
            }
            false => {
                if recent.len() == REPLAYED_INTO_WINDOW {
                    recent.pop_front();
                }
                recent.push_back((index, open));
            }
        }
        decided(&result)?;
        count += 1;
    }
    for (index, open) in recent {
        answered.insert(index, open);
    }
    Ok(count)
}

/// The latest results of a resumed scan that its answered window gets back.
const REPLAYED_INTO_WINDOW: usize = 1 << 19;

/// The hosts -O probes: each that answered the port scan, with its lowest open and lowest
/// closed port (nmap takes the first of each in port order), and its first reply (why it is up).
#[derive(Default)]
struct OsCandidates {
    hosts: BTreeMap<Ipv4Addr, (OsTarget, HostUp)>,
}

impl OsCandidates {
    fn add(&mut self, result: &crate::results::ScanResult) {
        let (host, _) = self.hosts.entry(result.ip).or_insert((
            OsTarget {
                address: result.ip,
                open_tcp_port: None,
                closed_tcp_port: None,
            },
            HostUp::Replied {
                reason: result.reason,
                ttl: result.ttl,
            },
        ));
        let slot = match result.state {
            PortState::Open => &mut host.open_tcp_port,
            PortState::Closed => &mut host.closed_tcp_port,
            _ => return,
        };
        *slot = Some(slot.map_or(result.port, |port| port.min(result.port)));
    }

    fn targets(&self) -> Vec<OsTarget> {
        self.hosts
            .values()
            .map(|(host, _)| *host)
            .filter(|host| host.open_tcp_port.is_some() || host.closed_tcp_port.is_some())
            .collect()
    }

    /// Why `ip` is up: its first reply.
    fn first_reply(&self, ip: Ipv4Addr) -> HostUp {
        self.hosts.get(&ip).map_or(HostUp::UserSet, |(_, up)| *up)
    }
}

/// Ctrl-C, SIGTERM and SIGHUP end the scan early, in two steps (see [`Stop`]); results so far
/// are still written. The first signal decides the exit code (128 + its number, as shells
/// report a signal's death).
fn stop_on_signals(stop: Arc<Stop>, arrived: Arc<AtomicI32>, wait: Duration) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let number = tokio::select! {
                _ = interrupt.recv() => libc::SIGINT,
                _ = terminate.recv() => libc::SIGTERM,
                _ = hangup.recv() => libc::SIGHUP,
            };
            let _ = arrived.compare_exchange(0, number, Ordering::Relaxed, Ordering::Relaxed);
            match stop.escalate() {
                Level::Draining => eprintln!(
                    "\nscanner: {}: no more probes; waiting up to {wait:?} for the replies to those \
                     sent (again to stop at once)",
                    signal_name(number)
                ),
                _ => {
                    eprintln!("\nscanner: {}: stopping at once", signal_name(number));
                    break;
                }
            }
        }
    });
    Ok(())
}

fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// What the stages of one run share: the runtime they run on, and one stop that the signals
/// raise, whichever stage is running (discovery, port scan, OS detection).
struct Stages {
    runtime: tokio::runtime::Runtime,
    stop: Arc<Stop>,
    /// The first signal that arrived, 0 for none.
    signal: Arc<AtomicI32>,
    /// The checkpoint this run resumes.
    resume: Option<Checkpoint>,
}

impl Stages {
    /// The runtime, with the signal handlers installed; `wait` is --wait, for their message.
    fn new(wait: Duration) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let stop = Arc::new(Stop::new());
        let signal = Arc::new(AtomicI32::new(0));
        runtime
            .block_on(async { stop_on_signals(Arc::clone(&stop), Arc::clone(&signal), wait) })?;
        Ok(Self {
            runtime,
            stop,
            signal,
            resume: None,
        })
    }

    fn interrupted_exit(&self) -> ExitCode {
        interrupted_exit(self.signal.load(Ordering::Relaxed))
    }
}

/// How a scan that was stopped early exits: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM,
/// 129 for SIGHUP), 130 when no signal is known.
fn interrupted_exit(signal: i32) -> ExitCode {
    match signal {
        0 => ExitCode::from(130),
        number => ExitCode::from(128u8.saturating_add(number as u8)),
    }
}

/// Interface, addresses and next hop, from the kernel's tables unless the user gave them.
/// All targets are assumed to share the first one's next hop, as ZMap and masscan assume.
fn network_path(cli: &Cli, plan: &Plan, first: Ipv4Addr) -> Result<(route::Interface, FrameAddrs)> {
    let route = route::route_to(first);
    let (interface, source, next_hop) = match &cli.interface {
        Some(name) => {
            let interface =
                route::interface_by_name(name).map_err(|err| InputError(err.to_string()))?;
            let source = match cli.source_ip {
                Some(ip) => ip,
                None => route::interface_ipv4(interface.index)?,
            };
            let next_hop = match &route {
                Ok(r) if r.interface.index == interface.index => r.next_hop(first),
                _ => first,
            };
            (interface, source, next_hop)
        }
        None => {
            let route = route?;
            let next_hop = route.next_hop(first);
            let source = cli.source_ip.unwrap_or(route.source);
            (route.interface, source, next_hop)
        }
    };
    if let Some(ip) = cli.source_ip {
        warn_if_not_ours(ip, &interface);
    }
    let next_hop_mac = match plan.gateway_mac {
        Some(mac) => mac,
        None => {
            let resolved =
                route::resolve_neighbour(&interface, next_hop, source, NEIGHBOUR_TIMEOUT)?;
            note_unconfirmed_neighbour(&resolved, next_hop, &interface.name);
            resolved.mac()
        }
    };
    let addrs = FrameAddrs {
        source_mac: interface.mac,
        next_hop_mac,
        source_ip: source,
    };
    Ok((interface, addrs))
}

/// Says when the next hop's MAC is not the one the neighbour table had, or is the table's
/// unconfirmed one: the first thing to check when nothing answers.
fn note_unconfirmed_neighbour(resolved: &route::Resolved, next_hop: Ipv4Addr, interface: &str) {
    let mac = |mac: [u8; 6]| route::format_mac(&mac);
    match resolved {
        route::Resolved::Table(_) => {}
        route::Resolved::Corrected { mac: new, stale } => eprintln!(
            "scanner: note: the neighbour table's MAC for {next_hop} on {interface}, {}, was out \
             of date: {} answered our ARP request, and the probes go there",
            mac(*stale),
            mac(*new)
        ),
        route::Resolved::Unconfirmed { mac: old, waited } => eprintln!(
            "scanner: note: {next_hop} on {interface} did not answer ARP within {waited:?}: the \
             probes go to {}, the neighbour table's unconfirmed (stale) MAC for it; if nothing \
             answers, check it or give --gateway-mac",
            mac(*old)
        ),
        route::Resolved::Unchecked { mac: old, why } => eprintln!(
            "scanner: note: could not ask {next_hop} on {interface} for its MAC ({why}): the \
             probes go to {}, the neighbour table's unconfirmed (stale) MAC for it",
            mac(*old)
        ),
    }
}

/// `-S` with an address the interface does not have is allowed (nmap's spoofing), but its
/// replies reach us only if the network routes them here: say so, or every port reads filtered
/// without a word.
fn warn_if_not_ours(source: Ipv4Addr, interface: &route::Interface) {
    let Ok(ours) = route::interface_ipv4s(interface.index) else {
        return;
    };
    if !ours.contains(&source) {
        let ours: Vec<String> = ours.iter().map(Ipv4Addr::to_string).collect();
        eprintln!(
            "scanner: warning: -S {source} is not an address of {} ({}): replies come back only if the network routes {source} to this host",
            interface.name,
            match ours.is_empty() {
                true => "it has none".to_owned(),
                false => ours.join(", "),
            }
        );
    }
}
