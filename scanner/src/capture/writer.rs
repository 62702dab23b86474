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
    pcap: Option<PcapWriter<BufWriter<File>>>,
    trace: Option<BufWriter<io::Stdout>>,
    clock: Clock,
}

impl Writer {
    pub fn open(options: &CaptureOptions, clock: Clock) -> io::Result<Self> {
        let pcap = match &options.pcap {
            Some(path) => {
                let file = File::create(path).map_err(|err| {
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
                Some(PcapWriter::with_header(BufWriter::new(file), header).map_err(pcap_error)?)
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
