//! Probe modules: each scan type builds its frames from a template and judges the replies the
//! XDP program recorded for it. The engine knows nothing of protocols beyond this trait.

pub mod tcp_syn;

use std::net::Ipv4Addr;

use scanner_common::{ReplyRecord, cookie::Cookie};

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
/// only the fields that differ between probes, so the hot path copies nothing.
pub trait Probe: Send + Sync {
    /// The protocol results are reported under.
    const PROTO: Proto;
    /// The IP protocol of the probes, an input of their cookie.
    const IP_PROTO: u8;
    /// Which replies the XDP program must claim (`scanner_common::family`).
    const XDP_FAMILIES: u32;

    /// The complete frame for a probe, with zero in every per-probe field.
    fn template(&self) -> &[u8];

    /// Turns a slot holding the template into the probe to `target:port`.
    fn patch(&self, frame: &mut [u8], target: Ipv4Addr, port: u16, cookie: Cookie);

    /// Nmap's verdict on a validated reply, or `None` when the reply says nothing about a port.
    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict>;

    /// The verdict for a probe that got no reply after every retry.
    fn silent_verdict(&self) -> Verdict;
}
