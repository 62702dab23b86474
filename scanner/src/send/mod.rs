//! The probe path's last step: frames leave through a batched send ring.

pub mod af_packet;
pub mod dry_run;

use std::io;

use anyhow::{Context as _, Result};

use crate::route::Interface;

/// How probes leave the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendPath {
    /// AF_XDP where the interface takes it, else AF_PACKET.
    Auto,
    AfXdp,
    AfPacket,
}

/// A ring of frame slots, each holding the probe template: the engine patches slots
/// `0..n` in place, then sends them with one call.
pub trait FrameSender: Send {
    /// Most slots one batch may fill.
    fn max_batch(&self) -> usize;
    /// The frame in slot `index` (< [`FrameSender::max_batch`]).
    fn slot(&mut self, index: usize) -> &mut [u8];
    /// Hands slots `0..count` to the kernel.
    fn send(&mut self, count: usize) -> io::Result<()>;
    /// Waits until every frame handed over has left.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FrameSender for af_packet::PacketSender {
    fn max_batch(&self) -> usize {
        af_packet::MAX_BATCH
    }
    fn slot(&mut self, index: usize) -> &mut [u8] {
        af_packet::PacketSender::slot(self, index)
    }
    fn send(&mut self, count: usize) -> io::Result<()> {
        af_packet::PacketSender::send(self, count)
    }
}

/// One sender per thread on `interface`, by `path`; returns them and the path taken.
pub fn open_all(
    path: SendPath,
    interface: &Interface,
    threads: u32,
    template: &[u8],
) -> Result<(Vec<Box<dyn FrameSender>>, SendPath)> {
    let senders = (0..threads)
        .map(|_| {
            af_packet::PacketSender::open(interface.index, template)
                .map(|sender| Box::new(sender) as Box<dyn FrameSender>)
                .with_context(|| format!("opening a packet socket on {}", interface.name))
        })
        .collect::<Result<_>>()?;
    let _ = path; // AF_XDP comes next; until then every path is AF_PACKET.
    Ok((senders, SendPath::AfPacket))
}
