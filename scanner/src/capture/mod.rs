//! `--pcap` and `--packet-trace`: copies of the frames a scan sends and of the replies the XDP
//! program matched, handed in batches to a writer thread that writes a pcap file (nanosecond
//! timestamps, Ethernet link type) and nmap's `SENT`/`RCVD` lines. With capture off none of
//! this exists: the send path checks one `Option` per batch.

pub mod clock;
mod writer;

use std::{
    io,
    path::PathBuf,
    sync::mpsc::{self, Receiver, SyncSender},
    thread::JoinHandle,
};

pub use self::clock::Clock;
use self::writer::Writer;

/// What to capture and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Write every packet sent and every matched reply to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Print one nmap-style line per packet on standard output.
    pub trace: bool,
    /// Also the packets the XDP program did not match (--pcap-all).
    pub unmatched: bool,
    /// Add to the pcap file an earlier stage of the same run wrote, instead of starting it.
    pub append: bool,
}

impl CaptureOptions {
    pub fn is_on(&self) -> bool {
        self.pcap.is_some() || self.trace
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Frames of one direction, as one message: one allocation per batch, not per packet.
pub struct Batch {
    direction: Direction,
    /// (CLOCK_MONOTONIC ns, length on the wire, length kept) per frame, in `bytes` order.
    frames: Vec<(u64, u32, u32)>,
    bytes: Vec<u8>,
}

impl Batch {
    pub fn new(direction: Direction) -> Self {
        Self {
            direction,
            frames: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Adds a frame seen at `mono_ns` that was `wire_len` bytes long, of which `data` was kept.
    pub fn push(&mut self, mono_ns: u64, wire_len: u32, data: &[u8]) {
        self.frames.push((mono_ns, wire_len, data.len() as u32));
        self.bytes.extend_from_slice(data);
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Empties it, keeping its buffers.
    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes.clear();
    }

    /// (CLOCK_MONOTONIC ns, length on the wire, the bytes kept) per frame, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32, &[u8])> {
        let mut offset = 0;
        self.frames.iter().map(move |&(ns, wire, kept)| {
            let data = &self.bytes[offset..offset + kept as usize];
            offset += kept as usize;
            (ns, wire, data)
        })
    }
}

/// The senders' and the reader's handle on the capture; cheap to clone.
#[derive(Clone)]
pub struct Capture {
    batches: SyncSender<Batch>,
    clock: Clock,
}

/// Batches in flight before senders wait for the writer: capture slows a scan rather than
/// losing packets from the file.
const QUEUED_BATCHES: usize = 1024;

impl Capture {
    /// Opens the pcap file (an error names it) and starts the writer thread.
    pub fn start(options: &CaptureOptions) -> io::Result<(Self, CaptureThread)> {
        let clock = Clock::now();
        let writer = Writer::open(options, clock)?;
        let (batches, received) = mpsc::sync_channel(QUEUED_BATCHES);
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || write_all(writer, received))?;
        Ok((Self { batches, clock }, CaptureThread(thread)))
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Hands a batch to the writer (blocks while the writer is behind).
    pub fn submit(&self, batch: Batch) {
        if !batch.is_empty() {
            // The writer only goes away after every handle is dropped, or after a write
            // error it reports itself.
            let _ = self.batches.send(batch);
        }
    }
}

/// The writer thread; `finish` waits for it after every [`Capture`] handle is dropped.
pub struct CaptureThread(JoinHandle<io::Result<CaptureCounts>>);

/// Packets written, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    pub sent: u64,
    pub received: u64,
}

impl CaptureThread {
    pub fn finish(self) -> io::Result<CaptureCounts> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the capture thread panicked")))
    }
}

fn write_all(mut writer: Writer, batches: Receiver<Batch>) -> io::Result<CaptureCounts> {
    let mut counts = CaptureCounts::default();
    for batch in batches {
        for (ns, wire_len, data) in batch.iter() {
            writer.write(batch.direction, ns, wire_len, data)?;
        }
        let written = batch.frames.len() as u64;
        match batch.direction {
            Direction::Sent => counts.sent += written,
            Direction::Received => counts.received += written,
        }
    }
    writer.finish()?;
    Ok(counts)
}
