//! Everything the XDP program and user space must agree on: the keyed probe cookie, the
//! configuration the loader hands the program, the reply record it pushes through the ring
//! buffer, its counters, and the wire constants both sides parse; and the lab responder's
//! ground truth ([`responder`]), shared by its XDP program and whoever checks a scan against it.
//!
//! `no_std`, no allocation, no loops the verifier could reject: this crate is compiled into the
//! kernel program as well.
#![no_std]

pub mod checksum;
pub mod cookie;
pub mod ip_scan;
pub mod os;
pub mod responder;
pub mod sctp;
pub mod udp;
pub mod wire;

use bytemuck::{Pod, Zeroable};

/// The nightly toolchain that builds the XDP program. Its LLVM major must equal bpf-linker's
/// (22, the only LLVM Debian 12 ships); newer nightlies fail inside bpf-linker.
pub const EBPF_TOOLCHAIN: &str = "nightly-2026-07-01";
/// The LLVM major version that bpf-linker and [`EBPF_TOOLCHAIN`] share.
pub const EBPF_LLVM_MAJOR: u32 = 22;

/// Name of the XDP program in the object file.
pub const XDP_PROGRAM: &str = "scanner";
/// Name of the global holding [`XdpConfig`].
pub const CONFIG_GLOBAL: &str = "CONFIG";
/// Name of the ring buffer map carrying [`ReplyRecord`]s.
pub const REPLIES_MAP: &str = "REPLIES";
/// Name of the per-CPU counter array, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Default ring buffer size: about 100k records of slack when user space falls behind.
pub const DEFAULT_RING_BYTES: u32 = 1 << 22;

/// The probe families the XDP program validates replies for (bits of [`XdpConfig::families`]).
pub mod family {
    /// TCP probes with the cookie in the sequence number and source port (SYN scan).
    pub const TCP: u32 = 1 << 0;
    /// The IP protocol scan (-sO): one probe per protocol, the cookie of
    /// [`ProbeId::ip_scan`](crate::cookie::ProbeId::ip_scan) in its IP ID and, where the
    /// protocol has one, its transport header (see [`ip_scan`](crate::ip_scan)).
    pub const IP_PROTO: u32 = 1 << 1;
    /// SCTP probes (INIT or COOKIE ECHO scan) with the cookie in the source port, the IP ID
    /// and the 32 bits an answer reflects as its verification tag.
    pub const SCTP: u32 = 1 << 2;
    /// OS detection (-O): replies to nmap's OS probes, recognised by the keyed ports and echo
    /// ids of [`os::OsIdentity`](crate::os::OsIdentity), copied whole as [`OsReplyCopy`].
    /// Used alone: an OS detection stage claims nothing else.
    pub const OS: u32 = 1 << 3;
    /// UDP probes (-sU) with the cookie in the source port and the IP ID, and in a DNS
    /// query's id (see [`udp`](crate::udp)).
    pub const UDP: u32 = 1 << 4;
}

/// What the XDP program copies into the ring for --pcap/--packet-trace (bits of
/// [`XdpConfig::capture`]); with neither bit set it copies nothing.
pub mod capture {
    /// The replies it matched (and drops).
    pub const MATCHED: u32 = 1 << 0;
    /// Everything else it sees (and passes), for --pcap-all.
    pub const UNMATCHED: u32 = 1 << 1;
}

/// Bytes of a frame a [`FrameCopy`] keeps: Ethernet, IPv4 and TCP headers with every option,
/// or an ICMP error with the whole quoted probe.
pub const FRAME_SNAP: usize = 192;

/// Read-only configuration of one scan, loaded into the XDP program before it is attached.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct XdpConfig {
    /// SipHash key of this scan (random per scan).
    pub key: cookie::Key,
    /// Our source address, as the value of its network-order bytes (`u32::from_be_bytes`).
    pub source_ip: u32,
    /// Probe families whose replies the program claims (see [`family`]).
    pub families: u32,
    /// Probes leave from `port_base + (cookie-derived bits & port_mask)`.
    pub port_base: u16,
    pub port_mask: u16,
    /// What to copy for capture (see [`capture`]).
    pub capture: u32,
}

/// What kind of reply a record describes; the XDP program's verdict on the packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// TCP segment with SYN and ACK set, acknowledging our cookie.
    TcpSynAck = 1,
    /// TCP segment with RST set: acknowledging our SYN's cookie, or (-sO) in sequence with
    /// our ACK's.
    TcpRst = 2,
    /// ICMP destination unreachable or time exceeded quoting one of our probes.
    IcmpError = 4,
    /// ICMP echo reply to our echo request (-sO).
    IcmpEchoReply = 5,
    /// UDP datagram to the cookie's source port from the port our probe went to (-sO, -sU).
    UdpReply = 6,
    /// SCTP packet carrying our initiate tag as its verification tag (-sO); the record's
    /// `sctp_chunk` says which chunk.
    SctpReply = 7,
    /// A packet in the probed protocol from a target, which has no cookie to check (-sO for
    /// protocols without a header of ours): user space checks it was a target, and the packet
    /// goes on to the kernel.
    ProtoResponse = 8,
}

impl ReplyKind {
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::TcpSynAck),
            2 => Some(Self::TcpRst),
            4 => Some(Self::IcmpError),
            5 => Some(Self::IcmpEchoReply),
            6 => Some(Self::UdpReply),
            7 => Some(Self::SctpReply),
            8 => Some(Self::ProtoResponse),
            _ => None,
        }
    }

    /// Whether the reply carried a cookie that the XDP program verified (and dropped it).
    pub const fn is_validated(self) -> bool {
        !matches!(self, Self::ProtoResponse)
    }
}

/// What a ring buffer entry is: its first byte, so that user space reads every entry by its
/// tag and a new kind of entry is a new tag, whatever its size.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingEntry {
    /// A [`ReplyRecord`].
    Reply = 1,
    /// A [`FrameCopy`] for capture.
    Frame = 2,
    /// An [`OsReplyCopy`].
    OsReply = 3,
}

impl RingEntry {
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Reply),
            2 => Some(Self::Frame),
            3 => Some(Self::OsReply),
            _ => None,
        }
    }
}

/// One validated reply, as the XDP program pushes it into the ring buffer.
///
/// Addresses are the values of their network-order bytes (`u32::from_be_bytes`); ports and
/// other integers are host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ReplyRecord {
    /// [`RingEntry::Reply`].
    pub entry: u8,
    /// A [`ReplyKind`].
    pub kind: u8,
    /// The probe's IP protocol (6 for TCP).
    pub probe_proto: u8,
    /// The reply's IPv4 TTL.
    pub ttl: u8,
    /// The address our probe went to (for ICMP errors: the quoted destination).
    pub target: u32,
    /// `bpf_ktime_get_ns()` when the reply arrived (CLOCK_MONOTONIC).
    pub timestamp_ns: u64,
    /// The reply's IPv4 source (differs from `target` when a router sent an ICMP error).
    pub responder: u32,
    /// The port our probe went to; for the IP protocol scan, its protocol number.
    pub port: u16,
    /// The reply's IPv4 identification.
    pub ip_id: u16,
    /// TCP flags of a TCP reply.
    pub tcp_flags: u8,
    /// ICMP type and code of an ICMP reply.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Type of the first chunk of an SCTP reply.
    pub sctp_chunk: u8,
    /// The reply's TCP window.
    pub tcp_window: u16,
    pub _reserved: u16,
}

impl Default for ReplyRecord {
    /// An empty record, tagged as one.
    fn default() -> Self {
        Self {
            entry: RingEntry::Reply as u8,
            ..Zeroable::zeroed()
        }
    }
}

/// The first `N` bytes of a frame the XDP program saw, pushed through the same ring as the
/// [`ReplyRecord`]s and told apart by its [`RingEntry`] tag: [`FrameCopy`] for capture,
/// [`OsReplyCopy`] for OS detection.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapCopy<const N: usize> {
    /// [`RingEntry::Frame`] or [`RingEntry::OsReply`].
    pub entry: u8,
    /// 1 when the frame is a reply the program matched, 0 otherwise.
    pub matched: u8,
    /// How many bytes of `bytes` are the frame's.
    pub kept: u16,
    /// The frame's length on the wire.
    pub wire_len: u32,
    /// `bpf_ktime_get_ns()` when it arrived (CLOCK_MONOTONIC).
    pub timestamp_ns: u64,
    pub bytes: [u8; N],
}

/// A frame copied for --pcap/--packet-trace.
pub type FrameCopy = SnapCopy<FRAME_SNAP>;

/// Bytes of a reply an [`OsReplyCopy`] keeps: an ICMP error of the largest size RFC 1812 lets
/// routers send (576 bytes of IP) behind its Ethernet header, so U1's quoted datagram is whole.
pub const OS_SNAP: usize = 592;

/// A reply to an OS-detection probe: OS detection reads every header field and the quoted
/// probe, not a summary.
pub type OsReplyCopy = SnapCopy<OS_SNAP>;

// SAFETY: `#[repr(C)]`, a 16-byte head of integers (each at its natural alignment) then bytes;
// both sizes are multiples of 8, so there is no padding (checked in the tests) and every bit
// pattern is valid. Only these two sizes: another `N` could leave trailing padding.
unsafe impl Zeroable for FrameCopy {}
unsafe impl Pod for FrameCopy {}
unsafe impl Zeroable for OsReplyCopy {}
unsafe impl Pod for OsReplyCopy {}

/// Per-CPU counters of the XDP program, indices into [`COUNTERS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every packet the program saw.
    Seen = 0,
    /// Replies that carried our cookie: recorded and dropped.
    Matched = 1,
    /// Packets shaped like replies to us whose cookie did not verify: passed on.
    BadCookie = 2,
    /// Matched replies lost because the ring buffer was full (still dropped).
    RingFull = 3,
    /// Frame copies for capture lost because the ring buffer was full.
    CaptureLost = 4,
}

impl Counter {
    pub const COUNT: u32 = 5;
    pub const ALL: [Counter; Self::COUNT as usize] = [
        Self::Seen,
        Self::Matched,
        Self::BadCookie,
        Self::RingFull,
        Self::CaptureLost,
    ];
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: both are `#[repr(C)]`, `Pod` (checked by bytemuck's derive: no padding, every bit
    // pattern valid), which is what aya requires of map values and globals.
    unsafe impl aya::Pod for super::XdpConfig {}
    unsafe impl aya::Pod for super::ReplyRecord {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_hidden_padding() {
        assert_eq!(core::mem::size_of::<XdpConfig>(), 32);
        assert_eq!(core::mem::size_of::<ReplyRecord>(), 32);
        assert_eq!(core::mem::size_of::<FrameCopy>(), 16 + FRAME_SNAP);
        assert_eq!(core::mem::size_of::<OsReplyCopy>(), 16 + OS_SNAP);
    }

    #[test]
    fn every_ring_entry_starts_with_its_tag() {
        assert_eq!(core::mem::offset_of!(ReplyRecord, entry), 0);
        assert_eq!(core::mem::offset_of!(FrameCopy, entry), 0);
        assert_eq!(core::mem::offset_of!(OsReplyCopy, entry), 0);
        assert_eq!(ReplyRecord::default().entry, RingEntry::Reply as u8);
        for entry in [RingEntry::Reply, RingEntry::Frame, RingEntry::OsReply] {
            assert_eq!(RingEntry::from_u8(entry as u8), Some(entry));
        }
        assert_eq!(RingEntry::from_u8(0), None);
    }

    #[test]
    fn reply_kinds_round_trip() {
        for kind in [
            ReplyKind::TcpSynAck,
            ReplyKind::TcpRst,
            ReplyKind::IcmpError,
            ReplyKind::IcmpEchoReply,
            ReplyKind::UdpReply,
            ReplyKind::SctpReply,
            ReplyKind::ProtoResponse,
        ] {
            assert_eq!(ReplyKind::from_u8(kind as u8), Some(kind));
        }
        assert_eq!(ReplyKind::from_u8(0), None);
        assert_eq!(ReplyKind::from_u8(200), None);
    }
}
