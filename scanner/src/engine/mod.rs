//! Runs one scan: attaches the reply filter, starts the sender thread, and classifies replies
//! as they arrive until the sender has finished its passes and waits.

pub mod answered;
pub mod retry;
pub mod sender;

use std::{
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow};
use scanner_common::{XdpConfig, cookie::Key};

use self::{
    answered::Answered,
    sender::{SendJob, SendReport},
};
use crate::{
    order::ScanSpace,
    probe::Probe,
    reply::{
        classify::{Classifier, Discarded},
        ring::ReplyRing,
        xdp::{AttachMode, ReplyFilter, XdpCounters},
    },
    results::ScanResult,
    route::Interface,
    send::af_packet::PacketSender,
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
    pub ring_bytes: u32,
}

#[derive(Clone, Debug)]
pub struct ScanStats {
    pub probes: u64,
    pub sent: SendReport,
    pub replies: u64,
    pub answered: u64,
    pub discarded: Discarded,
    pub xdp: XdpCounters,
    pub attach_mode: AttachMode,
    pub elapsed: Duration,
    pub interrupted: bool,
}

impl ScanStats {
    /// Probes of the first pass that went out: all of them, unless the scan was interrupted.
    pub fn walked(&self) -> u64 {
        self.sent.per_pass.first().copied().unwrap_or(0)
    }

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
    pub results: Vec<ScanResult>,
    pub stats: ScanStats,
}

/// Runs the scan. `on_result` sees each result as it is decided (for streaming output); `stop`
/// ends the scan early (Ctrl-C), keeping what was found.
pub async fn run<P: Probe + 'static>(
    probe: Arc<P>,
    space: Arc<ScanSpace>,
    options: &ScanOptions,
    stop: Arc<AtomicBool>,
    mut on_result: impl FnMut(&ScanResult) -> Result<()>,
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
        _reserved: 0,
    };
    let iface = &options.interface;
    let mut filter = ReplyFilter::attach(iface.index, &iface.name, &config, options.ring_bytes)?;
    let mut ring = ReplyRing::new(filter.take_replies()?)?;
    let packets = PacketSender::open(iface.index, probe.template())
        .with_context(|| format!("opening a packet socket on {}", iface.name))?;

    let answered = Arc::new(Answered::new(space.len()));
    let job = SendJob {
        probe: Arc::clone(&probe),
        space: Arc::clone(&space),
        answered: Arc::clone(&answered),
        key,
        source_ip: options.source_ip,
        rate: options.rate,
        retries: options.retries,
        wait: options.wait,
        stop: Arc::clone(&stop),
        sent: Arc::new(AtomicU64::new(0)),
    };
    let mut sending = tokio::task::spawn_blocking(move || job.run(packets));

    let mut classifier = Classifier::new(&*probe, &space, &answered);
    let mut results = Vec::new();
    let mut replies = 0u64;
    let mut sink_error = None;
    let mut on_record = |record| {
        replies += 1;
        if let Some(result) = classifier.classify(&record) {
            if sink_error.is_none()
                && let Err(err) = on_result(&result)
            {
                // Stop sending: a result we cannot write is a result lost.
                sink_error = Some(err);
                stop.store(true, Ordering::Relaxed);
            }
            results.push(result);
        }
    };
    let sent = loop {
        tokio::select! {
            batch = ring.next_batch(&mut on_record) => { batch.context("reading the ring buffer")?; }
            joined = &mut sending => break joined,
        }
    };
    let sent = sent
        .map_err(|err| anyhow!("sender thread failed: {err}"))?
        .context("sending probes")?;
    ring.drain_now(&mut on_record);
    if let Some(err) = sink_error {
        return Err(err.context("writing results"));
    }
    let xdp = filter.counters()?;
    let attach_mode = filter.mode();
    drop(filter); // detach before reporting
    Ok(ScanOutcome {
        stats: ScanStats {
            probes: space.len(),
            sent,
            replies,
            answered: answered.count(),
            discarded: classifier.discarded,
            xdp,
            attach_mode,
            elapsed: started.elapsed(),
            interrupted: stop.load(Ordering::Relaxed),
        },
        results,
    })
}
