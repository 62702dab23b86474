//! The writer thread's outputs: the pcap file and the packet-trace lines.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
};

use pcap_file::{
    DataLink, TsResolution,
    pcap::{PcapHeader, PcapPacket, PcapWriter},
};

use super::{CaptureOptions, Clock, Direction};
use crate::trace;

/// Longest frame kept: every probe, and the start of every reply.
pub const SNAP_LEN: u32 = 65535;

pub struct Writer {
    pcap: Option<PcapWriter<AfterHeader<BufWriter<File>>>>,
    trace: Option<BufWriter<io::Stdout>>,
    clock: Clock,
}

/// The pcap global header's length: what an appending writer leaves out.
const PCAP_HEADER_LEN: usize = 24;

/// A writer that drops the first `skip` bytes written to it (pcap-file always writes a header).
struct AfterHeader<W> {
    inner: W,
    skip: usize,
}

impl<W: Write> Write for AfterHeader<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.skip > 0 {
            let dropped = self.skip.min(buf.len());
            self.skip -= dropped;
            return Ok(dropped);
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Writer {
    pub fn open(options: &CaptureOptions, clock: Clock) -> io::Result<Self> {
        let pcap = match &options.pcap {
            Some(path) => {
                let file = match options.append {
                    true => File::options().append(true).open(path),
                    false => File::create(path),
                };
                let file = file.map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("cannot write --pcap {}: {err}", path.display()),
                    )
                })?;
                let header = PcapHeader {
                    datalink: DataLink::ETHERNET,
                    ts_resolution: TsResolution::NanoSecond,
                    snaplen: SNAP_LEN,
                    ..PcapHeader::default()
                };
                // Appending to a capture of an earlier stage: its header is there already.
                let out = AfterHeader {
                    inner: BufWriter::new(file),
                    skip: if options.append { PCAP_HEADER_LEN } else { 0 },
                };
                Some(PcapWriter::with_header(out, header).map_err(pcap_error)?)
            }
            None => None,
        };
        Ok(Self {
            pcap,
            trace: options.trace.then(|| BufWriter::new(io::stdout())),
            clock,
        })
    }

    pub fn write(
        &mut self,
        direction: Direction,
        mono_ns: u64,
        wire_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if let Some(pcap) = &mut self.pcap {
            let packet = PcapPacket::new(self.clock.wall(mono_ns), wire_len, data);
            pcap.write_packet(&packet).map_err(pcap_error)?;
        }
        if let Some(out) = &mut self.trace {
            let word = match direction {
                Direction::Sent => "SENT",
                Direction::Received => "RCVD",
            };
            writeln!(
                out,
                "{word} ({:.4}s) {}",
                self.clock.since_start(mono_ns),
                trace::Frame(data)
            )?;
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        if let Some(pcap) = self.pcap {
            pcap.into_writer().flush()?;
        }
        if let Some(mut out) = self.trace {
            out.flush()?;
        }
        Ok(())
    }
}

fn pcap_error(err: pcap_file::PcapError) -> io::Error {
    match err {
        pcap_file::PcapError::IoError(err) => err,
        other => io::Error::other(other.to_string()),
    }
}
