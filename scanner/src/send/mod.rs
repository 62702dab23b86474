//! The probe path's last step: frames leave through a batched send ring.
//!
//! Two senders share one interface, [`FrameSender`]: [`af_xdp::XdpSender`] (AF_XDP, a UMEM of
//! pre-filled frames handed to the kernel by descriptor) and [`af_packet::PacketSender`]
//! (AF_PACKET with `sendmmsg`). Both own a fixed set of slots that hold the probe template; the
//! caller patches slots `0..n` in place and calls `send(n)`. [`open`] picks one: with
//! [`SendPath::Auto`] AF_XDP first, AF_PACKET when AF_XDP cannot be used (the reason is kept).
//!
//! One sender per thread: AF_XDP binds each sender to one device queue (`queue`), so `n`
//! sender threads use queues `0..n` (see [`tx_queues`]). AF_PACKET ignores the queue.

pub mod af_packet;
pub mod af_xdp;
pub mod dry_run;

use std::{ffi::CStr, fmt, io, os::fd::AsRawFd, str::FromStr};

pub use af_packet::PacketSender;
pub use af_xdp::{XdpMode, XdpSender};

/// What the send loop needs of a sender.
pub trait FrameSender: Send {
    /// Slot `index` (< [`max_batch`](Self::max_batch)), as long as the template and holding
    /// the frame last written there: rewrite the per-probe fields, [`set_len`](Self::set_len)
    /// when the frame is shorter than the template, then [`send`](Self::send).
    fn slot(&mut self, index: usize) -> &mut [u8];
    /// Sends only the first `len` bytes (at most the template's length) of slot `index`.
    fn set_len(&mut self, index: usize, len: usize);
    /// The frame slot `index` sends: its first `len` bytes.
    fn frame(&self, index: usize) -> &[u8];
    /// Hands slots `0..count` to the kernel (`count` is capped at `max_batch`). Returns once
    /// the kernel has taken them; they may still be on their way out (see [`flush`](Self::flush)).
    fn send(&mut self, count: usize) -> io::Result<()>;
    /// Waits until every frame handed over has left (AF_XDP: until the completion ring returned
    /// it), e.g. at the end of a pass, before waiting for replies.
    fn flush(&mut self) -> io::Result<()>;
    /// Slots per batch.
    fn max_batch(&self) -> usize;
    /// Frames handed over that the driver dropped instead of sending (so far). AF_XDP in copy
    /// mode learns of them but not which they were; AF_PACKET resends its own.
    fn dropped(&self) -> u64 {
        0
    }
}

/// Which sender to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SendPath {
    /// AF_XDP when it works on the interface, else AF_PACKET.
    #[default]
    Auto,
    AfXdp,
    AfPacket,
}

impl fmt::Display for SendPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendPath::Auto => "auto",
            SendPath::AfXdp => "af_xdp",
            SendPath::AfPacket => "af_packet",
        })
    }
}

impl FromStr for SendPath {
    type Err = String;

    /// `auto`, `af_xdp` (or `xdp`), `af_packet` (or `packet`); `-` may stand for `_`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => Ok(SendPath::Auto),
            "af_xdp" | "xdp" => Ok(SendPath::AfXdp),
            "af_packet" | "packet" => Ok(SendPath::AfPacket),
            _ => Err(format!(
                "unknown send path {text:?} (expected auto, af_xdp or af_packet)"
            )),
        }
    }
}

/// One of the senders, dispatched by a `match` (no virtual call per packet).
pub enum Sender {
    AfXdp(XdpSender),
    AfPacket(PacketSender),
}

impl Sender {
    /// The path in use: [`SendPath::AfXdp`] or [`SendPath::AfPacket`].
    pub fn path(&self) -> SendPath {
        match self {
            Sender::AfXdp(_) => SendPath::AfXdp,
            Sender::AfPacket(_) => SendPath::AfPacket,
        }
    }

    /// For the summary: "AF_XDP copy mode, queue 0, batches of 256".
    pub fn describe(&self) -> String {
        match self {
            Sender::AfXdp(xdp) => format!(
                "AF_XDP {} mode, queue {}, batches of {}",
                xdp.mode(),
                xdp.queue(),
                xdp.max_batch()
            ),
            Sender::AfPacket(_) => {
                format!("AF_PACKET sendmmsg, batches of {}", af_packet::MAX_BATCH)
            }
        }
    }
}

impl FrameSender for Sender {
    #[inline]
    fn slot(&mut self, index: usize) -> &mut [u8] {
        match self {
            Sender::AfXdp(xdp) => FrameSender::slot(xdp, index),
            Sender::AfPacket(packet) => FrameSender::slot(packet, index),
        }
    }

    #[inline]
    fn set_len(&mut self, index: usize, len: usize) {
        match self {
            Sender::AfXdp(xdp) => FrameSender::set_len(xdp, index, len),
            Sender::AfPacket(packet) => FrameSender::set_len(packet, index, len),
        }
    }

    #[inline]
    fn frame(&self, index: usize) -> &[u8] {
        match self {
            Sender::AfXdp(xdp) => FrameSender::frame(xdp, index),
            Sender::AfPacket(packet) => FrameSender::frame(packet, index),
        }
    }

    #[inline]
    fn send(&mut self, count: usize) -> io::Result<()> {
        match self {
            Sender::AfXdp(xdp) => FrameSender::send(xdp, count),
            Sender::AfPacket(packet) => FrameSender::send(packet, count),
        }
    }

    fn dropped(&self) -> u64 {
        match self {
            Sender::AfXdp(xdp) => xdp.dropped(),
            Sender::AfPacket(_) => 0,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sender::AfXdp(xdp) => xdp.flush(),
            Sender::AfPacket(packet) => FrameSender::flush(packet),
        }
    }

    #[inline]
    fn max_batch(&self) -> usize {
        match self {
            Sender::AfXdp(xdp) => FrameSender::max_batch(xdp),
            Sender::AfPacket(packet) => FrameSender::max_batch(packet),
        }
    }
}

/// An opened sender and how it came to be.
pub struct Opened {
    pub sender: Sender,
    /// Why AF_XDP is not in use although [`SendPath::Auto`] asked for it first, or why it
    /// runs with fewer packet buffers than it should (the locked-memory limit).
    pub fallback: Option<String>,
}

/// An AF_XDP sender, with a note when the locked-memory limit cut its buffers.
fn xdp_opened(xdp: XdpSender) -> Opened {
    let full = u64::from(af_xdp::XdpConfig::default().tx_frames) * af_xdp::FRAME_SIZE as u64;
    let fallback = (xdp.tx_buffer_bytes() < full).then(|| {
        format!(
            "AF_XDP with {} KiB of packet buffers instead of {} KiB: the locked-memory limit \
             ({} KiB, `ulimit -l`) allows no more; raise it (`ulimit -l unlimited`, \
             LimitMEMLOCK=infinity) for full speed",
            xdp.tx_buffer_bytes() >> 10,
            full >> 10,
            af_xdp::memlock::soft_limit() >> 10
        )
    });
    Opened {
        sender: Sender::AfXdp(xdp),
        fallback,
    }
}

/// Opens the sender `path` asks for on interface `ifindex` (AF_XDP: bound to device queue
/// `queue`), every slot holding `template`. [`SendPath::Auto`] falls back to AF_PACKET when
/// AF_XDP fails, keeping the reason in [`Opened::fallback`]. Sockets belong to the network
/// namespace of the calling thread; the sender may then move to any thread.
pub fn open(path: SendPath, ifindex: u32, queue: u32, template: &[u8]) -> io::Result<Opened> {
    let packet = || PacketSender::open(ifindex, template).map(Sender::AfPacket);
    match path {
        SendPath::AfPacket => Ok(Opened {
            sender: packet()?,
            fallback: None,
        }),
        SendPath::AfXdp => Ok(xdp_opened(XdpSender::open(ifindex, queue, template)?)),
        SendPath::Auto => match XdpSender::open(ifindex, queue, template) {
            Ok(xdp) => Ok(xdp_opened(xdp)),
            Err(xdp_err) => {
                let sender = packet().map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("AF_PACKET: {err} (AF_XDP failed before: {xdp_err})"),
                    )
                })?;
                Ok(Opened {
                    sender,
                    fallback: Some(xdp_err.to_string()),
                })
            }
        },
    }
}

/// How many transmit queues interface `ifindex` has now (ethtool's channel counts: TX plus
/// combined), as seen from the calling thread's network namespace; `None` when the driver does
/// not say. AF_XDP senders can use queues `0..tx_queues`.
pub fn tx_queues(ifindex: u32) -> Option<u32> {
    let name = interface_name(ifindex).ok()?;
    channels(&name).map(|(tx, _)| tx)
}

/// The name of interface `ifindex` in the calling thread's network namespace.
pub(crate) fn interface_name(ifindex: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let name = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if name.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

/// `struct ethtool_channels` (linux/ethtool.h).
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// (TX, RX) queue counts of interface `name` (ETHTOOL_GCHANNELS: own plus combined channels),
/// or `None` when the driver does not report channels.
pub(crate) fn channels(name: &str) -> Option<(u32, u32)> {
    // SAFETY: plain syscall; the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: a fresh fd nobody else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let mut request = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..EthtoolChannels::default()
    };
    // SAFETY: an all-zero ifreq is valid; the name and data pointer are set below.
    let mut ifreq: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IF_NAMESIZE {
        return None;
    }
    for (dst, &src) in ifreq.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    ifreq.ifr_ifru.ifru_data = (&raw mut request).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq and writes the ethtool_channels it points to, both
    // alive and writable for the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &raw mut ifreq) };
    if rc < 0 {
        return None;
    }
    let tx = request.tx_count + request.combined_count;
    let rx = request.rx_count + request.combined_count;
    (tx > 0).then_some((tx, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_paths_parse_and_print() {
        for path in [SendPath::Auto, SendPath::AfXdp, SendPath::AfPacket] {
            assert_eq!(path.to_string().parse::<SendPath>(), Ok(path));
        }
        assert_eq!("AF-XDP".parse::<SendPath>(), Ok(SendPath::AfXdp));
        assert_eq!("packet".parse::<SendPath>(), Ok(SendPath::AfPacket));
        assert!("dpdk".parse::<SendPath>().is_err());
        assert_eq!(SendPath::default(), SendPath::Auto);
    }

    #[test]
    fn loopback_has_a_name() {
        // ifindex 1 is lo in every network namespace.
        assert_eq!(interface_name(1).unwrap(), "lo");
        assert!(interface_name(u32::MAX).is_err());
    }
}
