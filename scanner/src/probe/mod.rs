//! Probe modules: each scan type builds its frames from a template and judges the replies the
//! XDP program recorded for it. The engine knows nothing of protocols beyond this trait.

pub mod ip_proto;
pub mod ipv4;
pub mod sctp;
pub mod tcp_syn;
pub mod udp;

use std::net::Ipv4Addr;

use scanner_common::{
    ReplyRecord,
    cookie::{Cookie, ProbeId},
};

use crate::verdict::{Proto, Verdict};

/// The link and network addresses every probe frame of a scan carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameAddrs {
    pub source_mac: [u8; 6],
    pub next_hop_mac: [u8; 6],
    pub source_ip: Ipv4Addr,
}

/// One scan type (ZMap calls these probe modules).
///
/// A send slot is filled with [`Probe::template`] once; afterwards [`Probe::patch`] rewrites
/// only what differs from the slot's last probe, so the hot path copies little or nothing.
pub trait Probe: Send + Sync {
    /// The protocol results are reported under.
    const PROTO: Proto;
    /// Which replies the XDP program must claim (`scanner_common::family`).
    const XDP_FAMILIES: u32;
    /// Whether the replies that decide results are ICMP errors, which hosts rate-limit per
    /// peer (Linux: one a second after a burst of six): then retransmission goes on as long
    /// as each pass recovers answers, however many passes that takes.
    const RATE_LIMITED_REPLIES: bool = false;

    /// What the probe to `target:port` is, for its cookie.
    fn id(&self, source: Ipv4Addr, target: Ipv4Addr, port: u16) -> ProbeId;

    /// A complete frame for a probe, as long as the longest probe: what slots start with.
    fn template(&self) -> &[u8];

    /// Turns a slot holding a probe of this scan into the probe to `target:port`, sent for
    /// the `attempt`th time (0 the first: a UDP port's payloads take turns); returns the
    /// frame's length.
    fn patch(
        &self,
        frame: &mut [u8],
        target: Ipv4Addr,
        port: u16,
        cookie: Cookie,
        attempt: u32,
    ) -> usize;

    /// Nmap's verdict on a reply, or `None` when the reply says nothing about its port.
    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict>;

    /// A verdict the reply implies about another port of its target (nmap's IP protocol
    /// scan: any ICMP from a target shows that it speaks ICMP).
    fn implied(&self, _reply: &ReplyRecord) -> Option<(u16, Verdict)> {
        None
    }

    /// The verdict for a probe that got no reply after every retry.
    fn silent_verdict(&self) -> Verdict;

    /// The source port the probe with `cookie` leaves from, if it has ports.
    fn source_port(&self, _cookie: Cookie) -> Option<u16> {
        None
    }
}
