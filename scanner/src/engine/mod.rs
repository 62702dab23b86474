//! Runs one scan: attaches the reply filter, starts the sender thread, and classifies replies
//! as they arrive until the sender has finished its passes and waits.

pub mod answered;
pub mod place;
pub mod progress;
pub mod reader;
pub mod retry;
pub mod sender;
pub mod stop;
pub mod summary;
pub mod trail;

use std::{
    net::Ipv4Addr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow};
use scanner_common::{XdpConfig, capture as xdp_capture, cookie::Key};

use self::{
    answered::Answered,
    progress::{Snapshot, Status},
    reader::Reader,
    sender::{SendJob, SendProgress, SendReport},
    stop::Stop,
};
use crate::{
    capture::{Capture, CaptureCounts, CaptureOptions},
    order::{ScanSpace, WalkPlan, Walked},
    privilege::AfterSetup,
    probe::Probe,
    reply::{
        classify::{Classifier, Discarded},
        ring::ReplyRing,
        xdp::{AttachMode, ReplyFilter, XdpCounters},
    },
    results::ScanResult,
    route::Interface,
    send::{self, SendPath, Sender, dry_run::DryRun},
};

/// The source ports probes use: `base + (cookie bits & mask)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    pub base: u16,
    pub mask: u16,
}

impl SourcePorts {
    /// 32768-65535, the upper half, as ZMap and nmap pick from.
    pub const EPHEMERAL: Self = Self {
        base: 32768,
        mask: 0x7fff,
    };
    pub const fn fixed(port: u16) -> Self {
        Self {
            base: port,
            mask: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub interface: Interface,
    pub source_ip: Ipv4Addr,
    pub source_ports: SourcePorts,
    /// Packets per second; `None` for as fast as the link goes.
    pub rate: Option<u64>,
    pub retries: u32,
    pub wait: Duration,
    /// Keep a window of recent answers whatever the scan's size (see [`Answered`]).
    pub answered_window: bool,
    /// Stop sending after this long.
    pub max_runtime: Option<Duration>,
    pub send_path: SendPath,
    pub ring_bytes: u32,
    pub capture: CaptureOptions,
    /// Whether a later stage still needs the capabilities.
    pub after_setup: AfterSetup,
}

#[derive(Clone, Debug)]
pub struct ScanStats {
    /// Probes this run planned to send in its first pass.
    pub planned: u64,
    pub sent: SendReport,
    /// Which probes the first pass sent.
    pub walked: Walked,
    /// How each sender thread sent.
    pub send_paths: Vec<SendPath>,
    pub replies: u64,
    pub answered: u64,
    /// Answers a full answered window could not remember (see `answered::Window`).
    pub unrecorded: u64,
    pub discarded: Discarded,
    pub xdp: XdpCounters,
    pub attach_mode: AttachMode,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Packets written by --pcap/--packet-trace.
    pub captured: Option<CaptureCounts>,
}

impl ScanStats {
    /// Send rate over the time spent sending.
    pub fn send_rate(&self) -> f64 {
        let secs = self.sent.sending.as_secs_f64();
        if secs > 0.0 {
            self.sent.total() as f64 / secs
        } else {
            0.0
        }
    }
}

pub struct ScanOutcome {
    pub stats: ScanStats,
    /// Where the senders stopped: what a resumed scan goes on from.
    pub place: Option<place::SendPlace>,
}

/// What a scan starts from: its answered set (holding the answers of the runs it resumes, if
/// any) and, resumed, where their senders were.
pub struct Start {
    pub answered: Answered,
    pub place: Option<place::SendPlace>,
}

/// The answered set a scan of `len` probes keeps (see [`Answered`]).
pub fn answered_set(len: u64, options: &ScanOptions) -> Answered {
    match options.answered_window {
        true => Answered::window(options.retries, options.wait),
        false => Answered::for_scan(len, options.retries, options.wait),
    }
}

/// Runs the scan. `on_result` sees each result as it is decided (for streaming output); `stop`
/// ends the scan early (Ctrl-C), keeping what was found.
// The scan's parts, where it starts, and the two callbacks of its reply loop.
#[allow(clippy::too_many_arguments)]
pub async fn run<P: Probe + 'static>(
    probe: Arc<P>,
    space: Arc<ScanSpace>,
    plan: Arc<WalkPlan>,
    options: &ScanOptions,
    stop: Arc<Stop>,
    start: Option<Start>,
    on_result: impl FnMut(&ScanResult) -> Result<()>,
    mut on_tick: impl FnMut(Option<place::SendPlace>),
) -> Result<ScanOutcome> {
    let started = Instant::now();
    let key = Key {
        k0: rand::random(),
        k1: rand::random(),
    };
    let config = XdpConfig {
        key,
        source_ip: u32::from(options.source_ip),
        families: P::XDP_FAMILIES,
        port_base: options.source_ports.base,
        port_mask: options.source_ports.mask,
        capture: capture_bits(&options.capture),
    };
    let iface = &options.interface;
    let mut filter = ReplyFilter::attach(iface.index, &iface.name, &config, options.ring_bytes)?;
    let mut ring = ReplyRing::new(filter.take_replies()?)?;
    let (mut senders, send_paths) =
        open_senders(options.send_path, iface, plan.threads(), probe.template())?;

    let (capture, capture_thread) = match options.capture.is_on() {
        true => {
            let (capture, thread) = Capture::start(&options.capture)?;
            (Some(capture), Some(thread))
        }
        false => (None, None),
    };
    // Everything privileged is open: the program attached, its ring mapped, the sockets bound.
    options.after_setup.apply()?;
    let (answered, start) = match start {
        Some(start) => (start.answered, start.place),
        None => (answered_set(space.len(), options), None),
    };
    let answered = Arc::new(answered);
    let board = Arc::new(place::Board::new(start));
    let progress = Arc::new(SendProgress::default());
    let job = SendJob {
        probe: Arc::clone(&probe),
        space: Arc::clone(&space),
        plan: Arc::clone(&plan),
        answered: Arc::clone(&answered),
        key,
        source_ip: options.source_ip,
        rate: options.rate,
        retries: options.retries,
        wait: options.wait,
        deadline: options.max_runtime.map(|limit| started + limit),
        stop: Arc::clone(&stop),
        progress: Arc::clone(&progress),
        board: Arc::clone(&board),
        capture: capture.clone(),
    };
    let mut sending = tokio::task::spawn_blocking(move || job.run(&mut senders));

    let classifier = Classifier::new(&*probe, &space, &answered, key, options.source_ip);
    let mut reader = Reader::new(classifier, on_result, &stop, capture.as_ref());
    let mut status = Status::new(plan.planned());
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + STATUS_EVERY, STATUS_EVERY);
    let sent = loop {
        let event = tokio::select! {
            batch = ring.next_batch(&mut reader) => Event::Replies(batch),
            joined = &mut sending => Event::SenderDone(joined),
            _ = tick.tick() => Event::Tick,
        };
        match event {
            Event::Replies(batch) => {
                batch.context("reading the ring buffer")?;
            }
            Event::SenderDone(joined) => break joined,
            Event::Tick => {
                answered.rotate_if_due(std::time::Instant::now());
                on_tick(board.read());
                reader.flush_capture();
                status.update(Snapshot {
                    elapsed: started.elapsed(),
                    walked: progress.walked.load(Ordering::Relaxed),
                    planned: plan.planned(),
                    sent: progress.sent.load(Ordering::Relaxed),
                    pass: progress.pass.load(Ordering::Relaxed),
                    replies: reader.replies,
                    hits: reader.hits,
                    drops: filter.counters().map_or(0, |c| c.ring_full),
                });
            }
        }
    };
    status.finish();
    let sent = sent
        .map_err(|err| anyhow!("sender thread failed: {err}"))?
        .context("sending probes")?;
    ring.drain_now(&mut reader);
    let replies = reader.replies;
    let discarded = reader.finish()?;
    let xdp = filter.counters()?;
    let attach_mode = filter.mode();
    drop(filter); // detach before reporting
    drop(capture);
    let captured = match capture_thread {
        Some(thread) => Some(thread.finish().context("writing the capture")?),
        None => None,
    };
    Ok(ScanOutcome {
        place: board.read(),
        stats: ScanStats {
            planned: plan.planned(),
            walked: plan.walked(&sent.walked_per_thread),
            sent,
            send_paths,
            replies,
            answered: answered.count(),
            unrecorded: answered.unrecorded(),
            discarded,
            xdp,
            attach_mode,
            elapsed: started.elapsed(),
            interrupted: stop.requested(),
            captured,
        },
    })
}

/// `--dry-run`: walks the plan's first pass and writes each probe to `out`; sends nothing.
pub fn dry_run<P: Probe + 'static>(
    probe: Arc<P>,
    space: Arc<ScanSpace>,
    plan: Arc<WalkPlan>,
    options: &ScanOptions,
    out: impl std::io::Write + Send + 'static,
) -> Result<u64> {
    let mut senders = [DryRun::new(probe.template(), out)];
    let job = SendJob {
        probe,
        space,
        plan,
        answered: Arc::new(Answered::exact(0)),
        key: Key {
            k0: rand::random(),
            k1: rand::random(),
        },
        source_ip: options.source_ip,
        rate: None,
        retries: 0,
        wait: Duration::ZERO,
        deadline: None,
        stop: Arc::new(Stop::new()),
        progress: Arc::default(),
        board: Arc::new(place::Board::new(None)),
        capture: None,
    };
    Ok(job.run(&mut senders)?.total())
}

/// What the XDP program copies for capture.
fn capture_bits(options: &CaptureOptions) -> u32 {
    match (options.is_on(), options.unmatched) {
        (false, _) => 0,
        (true, false) => xdp_capture::MATCHED,
        (true, true) => xdp_capture::MATCHED | xdp_capture::UNMATCHED,
    }
}

/// One sender per thread, thread `i` on device queue `i` (AF_XDP binds one queue each).
/// With [`SendPath::Auto`] a thread whose AF_XDP socket cannot be had sends with AF_PACKET;
/// the first such reason is printed once.
fn open_senders(
    path: SendPath,
    interface: &Interface,
    threads: u32,
    template: &[u8],
) -> Result<(Vec<Sender>, Vec<SendPath>)> {
    let mut senders = Vec::new();
    let mut fallback_shown = false;
    for queue in 0..threads {
        let opened = send::open(path, interface.index, queue, template).with_context(|| {
            format!(
                "opening a sender ({path}) on {} queue {queue}",
                interface.name
            )
        })?;
        if let Some(reason) = opened.fallback
            && !fallback_shown
        {
            match opened.sender.path() {
                SendPath::AfPacket => eprintln!("scanner: note: sending with AF_PACKET: {reason}"),
                SendPath::AfXdp | SendPath::Auto => eprintln!("scanner: note: {reason}"),
            }
            fallback_shown = true;
        }
        senders.push(opened.sender);
    }
    let paths = senders.iter().map(Sender::path).collect();
    Ok((senders, paths))
}

/// What woke the reply loop.
enum Event<B, J> {
    Replies(B),
    SenderDone(J),
    Tick,
}

/// How often the status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);
