//! What a scan family is to the XDP program: how its replies, and the ICMP errors quoting its
//! probes, are recognised. Each family is one module implementing [`Family`]; [`families!`]
//! lists them, and [`reply`], [`icmp_reply`] and [`quoted`] ask every family the scan enabled,
//! so that the classifier itself knows no protocol.

use aya_ebpf::programs::XdpContext;
use scanner_common::{ReplyRecord, XdpConfig};
use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, QuotedL4, ptr_at};

/// What an ICMP error's quoted datagram is to a family.
pub enum Quote {
    /// One of its probes, to this port (for -sO: protocol).
    Ours(u16),
    /// In its protocol and from our address, but the cookie does not match.
    Forged,
    /// Not in its protocol.
    Other,
}

/// One scan family in the XDP program (ZMap's probe modules are the model).
pub trait Family {
    /// Its bit of `XdpConfig::families` (`scanner_common::family`).
    const BIT: u32;

    /// Whether packets in IP `protocol` (ICMP excepted) may answer its probes.
    fn answers_in(protocol: u8) -> bool;

    /// The record of a reply `ip` (transport header at `l4`) to one of its probes.
    fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord>;

    /// The record of an ICMP message that is not an error (an echo reply) answering one of
    /// its probes.
    #[inline(always)]
    fn icmp_reply(_config: &XdpConfig, _ip: &Ipv4Hdr, _icmp: &IcmpHdr) -> Option<ReplyRecord> {
        None
    }

    /// Whether the datagram an ICMP error quotes (from our address, not a fragment; its
    /// transport header at `quoted_l4`) is one of its probes.
    fn quoted(ctx: &XdpContext, config: &XdpConfig, quoted_ip: &Ipv4Hdr, quoted_l4: usize)
    -> Quote;
}

/// Calls `$then!` with every family, in the order they are asked: -sO first, which claims
/// every protocol. A new family is a module and a name here.
macro_rules! families {
    ($then:ident) => {
        $then!(
            crate::ip_scan::IpScan,
            crate::tcp::TcpSyn,
            crate::sctp::Sctp,
            crate::udp::Udp
        )
    };
}

/// [`Family::quoted`] for a family whose probes have ports in `protocol`: the quoted first 8
/// bytes of the transport header are its probe to their destination port if `ours` says so.
#[inline(always)]
pub fn quoted_ports(
    ctx: &XdpContext,
    quoted_ip: &Ipv4Hdr,
    quoted_l4: usize,
    protocol: u8,
    ours: impl FnOnce(&QuotedL4) -> bool,
) -> Quote {
    if quoted_ip.protocol != protocol {
        return Quote::Other;
    }
    let Some(quoted) = ptr_at::<QuotedL4>(ctx, quoted_l4) else {
        return Quote::Other;
    };
    let quoted = unsafe { &*quoted };
    match ours(quoted) {
        true => Quote::Ours(u16::from_be(quoted.dest)),
        false => Quote::Forged,
    }
}

#[inline(always)]
fn enabled<F: Family>(config: &XdpConfig) -> bool {
    config.families & F::BIT != 0
}

/// The first record an enabled family makes of a reply in its protocol.
#[inline(always)]
pub fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
    macro_rules! ask {
        ($($family:ty),*) => {
            $(
                if enabled::<$family>(config) && <$family>::answers_in(ip.protocol) {
                    if let Some(reply) = <$family>::reply(ctx, config, ip, l4) {
                        return Some(reply);
                    }
                }
            )*
        };
    }
    families!(ask);
    None
}

/// The first record an enabled family makes of an ICMP message that is not an error.
#[inline(always)]
pub fn icmp_reply(config: &XdpConfig, ip: &Ipv4Hdr, icmp: &IcmpHdr) -> Option<ReplyRecord> {
    macro_rules! ask {
        ($($family:ty),*) => {
            $(
                if enabled::<$family>(config) {
                    if let Some(reply) = <$family>::icmp_reply(config, ip, icmp) {
                        return Some(reply);
                    }
                }
            )*
        };
    }
    families!(ask);
    None
}

/// What the enabled families make of the datagram an ICMP error quotes: the first that
/// claims it, else [`Quote::Forged`] if one recognised its protocol but not its cookie.
#[inline(always)]
pub fn quoted(
    ctx: &XdpContext,
    config: &XdpConfig,
    quoted_ip: &Ipv4Hdr,
    quoted_l4: usize,
) -> Quote {
    let mut verdict = Quote::Other;
    macro_rules! ask {
        ($($family:ty),*) => {
            $(
                if enabled::<$family>(config) {
                    match <$family>::quoted(ctx, config, quoted_ip, quoted_l4) {
                        Quote::Ours(port) => return Quote::Ours(port),
                        Quote::Forged => verdict = Quote::Forged,
                        Quote::Other => {}
                    }
                }
            )*
        };
    }
    families!(ask);
    verdict
}
