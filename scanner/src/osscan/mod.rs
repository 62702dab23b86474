//! The OS detection stage (-O), after the port scan: nmap's probes to every host that showed
//! an open port, many hosts at once, each on its own exact timeline.
//!
//! The path of a probe and of its reply, as in a port scan but per host:
//! [`host::HostScan`] (what is due when) -> Ethernet frame -> AF_PACKET; and XDP
//! ([`scanner_common::family::OS`]: the reply copied whole, dropped) -> ring buffer ->
//! [`host::HostScan::on_reply`]. Hosts are admitted at the rate's pace (about sixteen probes
//! each per round), so the load stays within `--rate` while every host keeps its SEQ probes
//! 100 ms apart: a /24 takes about as long as one host.

pub mod host;
pub mod report;
mod reset;

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use scanner_common::{
    OsReplyCopy, XdpConfig, cookie::Key, family, os::OsIdentity, wire::ETH_HEADER_LEN,
};

use self::host::{HostOs, HostScan, Next, OsTarget};
use crate::{
    capture::{Batch, Capture, CaptureOptions, Direction, clock::monotonic_ns},
    engine::stop::Stop,
    os::db::OsDb,
    privilege::AfterSetup,
    probe::FrameAddrs,
    reply::{
        ring::{ReplyRing, ReplySink},
        xdp::ReplyFilter,
    },
    route::Interface,
    send::{self, FrameSender, SendPath, Sender},
};

/// Probes per host and round, for pacing the admission of hosts.
const PROBES_PER_ROUND: u64 = 16;
/// Hosts in progress at once (their state is a few kilobytes each).
const MAX_ACTIVE_HOSTS: usize = 4096;
/// The largest frame sent (U1: Ethernet, IPv4, UDP and 300 bytes).
const MAX_FRAME: usize = ETH_HEADER_LEN + 328;
/// Ring buffer for the whole-packet copies: bursts of a few thousand replies.
const RING_BYTES: u32 = 1 << 23;

pub struct OsOptions {
    pub interface: Interface,
    pub addrs: FrameAddrs,
    /// Probes per second, all hosts together.
    pub rate: u64,
    /// nmap's --max-os-tries.
    pub max_tries: u8,
    pub capture: CaptureOptions,
    /// -O is the last stage: it drops the capabilities once set up.
    pub after_setup: AfterSetup,
}

pub struct OsOutcome<'db> {
    /// In the order of the targets given.
    pub hosts: Vec<HostOs<'db>>,
    pub probes_sent: u64,
    pub replies: u64,
    pub elapsed: Duration,
    pub interrupted: bool,
}

/// Runs OS detection against `targets` (each with an open port, as nmap requires for a
/// useful result), matching each round against `db` when one is given.
pub async fn detect<'db>(
    targets: &[OsTarget],
    db: Option<&'db OsDb>,
    options: &OsOptions,
    stop: Arc<Stop>,
) -> Result<OsOutcome<'db>> {
    let started = Instant::now();
    let key = Key {
        k0: rand::random(),
        k1: rand::random(),
    };
    let source = options.addrs.source_ip;
    let config = XdpConfig {
        key,
        source_ip: u32::from(source),
        families: family::OS,
        ..XdpConfig::default()
    };
    let iface = &options.interface;
    let mut filter = ReplyFilter::attach(iface.index, &iface.name, &config, RING_BYTES)?;
    let mut ring = ReplyRing::new(filter.take_replies()?)?;
    let mut template = [0u8; MAX_FRAME];
    template[..6].copy_from_slice(&options.addrs.next_hop_mac);
    template[6..12].copy_from_slice(&options.addrs.source_mac);
    template[12..14].copy_from_slice(&scanner_common::wire::ETH_P_IPV4.to_be_bytes());
    let capture = match options.capture.is_on() {
        true => Some(Capture::start(&options.capture)?),
        false => None,
    };
    let mut out = Outbox {
        sender: send::open(SendPath::AfPacket, iface.index, 0, &template)
            .with_context(|| format!("opening an AF_PACKET sender on {}", iface.name))?
            .sender,
        filled: 0,
        sent: 0,
        capture: capture
            .as_ref()
            .map(|(capture, _)| (capture.clone(), Batch::new(Direction::Sent))),
    };
    options.after_setup.apply()?;

    let mut dice = rand::rng();
    let mut results: Vec<Option<HostOs<'db>>> = targets.iter().map(|_| None).collect();
    let mut waiting = targets.iter().enumerate();
    let mut active: HashMap<Ipv4Addr, (usize, HostScan<'db>, Instant)> = HashMap::new();
    let admit_every = Duration::from_secs_f64(PROBES_PER_ROUND as f64 / options.rate.max(1) as f64);
    let mut next_admission = Instant::now();
    let mut inbox = Inbox(Batch::new(Direction::Received));
    let mut replies = 0u64;
    let mut more_waiting = !targets.is_empty();
    let mut finished = Vec::new();
    loop {
        let now = Instant::now();
        if stop.requested() {
            break;
        }
        while more_waiting && active.len() < MAX_ACTIVE_HOSTS && next_admission <= now {
            let Some((index, target)) = waiting.next() else {
                more_waiting = false;
                break;
            };
            let identity = OsIdentity::of(&key, u32::from(source), u32::from(target.address));
            let scan = HostScan::new(
                source,
                *target,
                identity,
                options.max_tries,
                db,
                now,
                &mut dice,
            );
            active.insert(target.address, (index, scan, now));
            next_admission = next_admission.max(now - admit_every) + admit_every;
        }
        for (address, (_, scan, due)) in active.iter_mut() {
            if *due > now {
                continue;
            }
            match scan.poll(now, &mut dice, &mut |packet| out.push(packet)) {
                Next::At(at) => *due = at,
                Next::Done => finished.push(*address),
            }
        }
        out.flush()?;
        for address in finished.drain(..) {
            if let Some((index, scan, _)) = active.remove(&address) {
                results[index] = Some(scan.finish());
            }
        }
        if active.is_empty() && !more_waiting {
            break;
        }
        let mut wake = active.values().map(|(_, _, due)| *due).min();
        if more_waiting && active.len() < MAX_ACTIVE_HOSTS {
            wake = Some(wake.map_or(next_admission, |w| w.min(next_admission)));
        }
        let wake = wake.unwrap_or(now + STOP_CHECK).min(now + STOP_CHECK);
        tokio::select! {
            batch = ring.next_batch(&mut inbox) => {
                batch.context("reading the ring buffer")?;
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        let now = Instant::now();
        for (_, _, frame) in inbox.0.iter() {
            replies += 1;
            let Some(packet) = frame.get(ETH_HEADER_LEN..) else {
                continue;
            };
            let Some(from) = packet.get(12..16) else {
                continue;
            };
            let from = Ipv4Addr::new(from[0], from[1], from[2], from[3]);
            if let Some((_, scan, due)) = active.get_mut(&from)
                && scan.on_reply(packet, now)
            {
                *due = now;
                if let Some(rst) = reset::for_syn_ack(packet, rand::random()) {
                    out.push(&rst);
                }
            }
        }
        match &capture {
            Some((capture, _)) => capture.submit(std::mem::replace(
                &mut inbox.0,
                Batch::new(Direction::Received),
            )),
            None => inbox.0.clear(),
        }
        out.flush()?;
    }
    drop(filter);
    let interrupted = stop.requested();
    for (_, (index, scan, _)) in active.drain() {
        results[index] = Some(scan.finish());
    }
    let probes_sent = out.sent;
    drop(out);
    if let Some((capture, thread)) = capture {
        drop(capture);
        thread.finish().context("writing the capture")?;
    }
    Ok(OsOutcome {
        hosts: results.into_iter().flatten().collect(),
        probes_sent,
        replies,
        elapsed: started.elapsed(),
        interrupted,
    })
}

/// How often an idle loop looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Frames on their way out, in the sender's slots until a batch is full or the loop sleeps.
struct Outbox {
    sender: Sender,
    filled: usize,
    sent: u64,
    capture: Option<(Capture, Batch)>,
}

impl Outbox {
    /// Queues an IPv4 packet behind the template's Ethernet header.
    fn push(&mut self, packet: &[u8]) {
        let len = (ETH_HEADER_LEN + packet.len()).min(MAX_FRAME);
        if self.filled == self.sender.max_batch() {
            // A send error shows again on the next flush, which reports it.
            let _ = self.flush();
        }
        let slot = self.sender.slot(self.filled);
        slot[ETH_HEADER_LEN..len].copy_from_slice(&packet[..len - ETH_HEADER_LEN]);
        self.sender.set_len(self.filled, len);
        self.filled += 1;
    }

    fn flush(&mut self) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        if let Some((capture, batch)) = &mut self.capture {
            let now = monotonic_ns();
            for slot in 0..self.filled {
                let frame = self.sender.frame(slot);
                batch.push(now, frame.len() as u32, frame);
            }
            capture.submit(std::mem::replace(batch, Batch::new(Direction::Sent)));
        }
        self.sender
            .send(self.filled)
            .context("sending OS detection probes")?;
        self.sent += self.filled as u64;
        self.filled = 0;
        Ok(())
    }
}

/// The replies of one ring batch, as the capture keeps frames: in one buffer, handed to the
/// capture writer afterwards when there is one.
struct Inbox(Batch);

impl ReplySink for Inbox {
    fn record(&mut self, _record: scanner_common::ReplyRecord) {}

    fn frame(&mut self, _copy: &scanner_common::FrameCopy) {}

    fn os_reply(&mut self, copy: &OsReplyCopy) {
        let kept = usize::from(copy.kept).min(copy.bytes.len());
        self.0
            .push(copy.timestamp_ns, copy.wire_len, &copy.bytes[..kept]);
    }
}
