//! SCTP replies to SCTP-scan probes: INIT-ACK or ABORT whose verification tag is our cookie
//! (the INIT's initiate tag, or the COOKIE ECHO's own tag reflected), sent to the cookie's port.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    wire::{ip_proto, sctp_chunk},
};

use scanner_ebpf::headers::{Ipv4Hdr, QuotedL4, SctpHdr, ptr_at};

use crate::{
    family::{self, Family, Quote},
    record,
};

pub struct Sctp;

impl Family for Sctp {
    const BIT: u32 = scanner_common::family::SCTP;

    #[inline(always)]
    fn answers_in(protocol: u8) -> bool {
        protocol == ip_proto::SCTP
    }

    #[inline(always)]
    fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
        reply(ctx, config, ip, l4)
    }

    #[inline(always)]
    fn quoted(
        ctx: &XdpContext,
        config: &XdpConfig,
        quoted_ip: &Ipv4Hdr,
        quoted_l4: usize,
    ) -> Quote {
        family::quoted_ports(ctx, quoted_ip, quoted_l4, ip_proto::SCTP, |quoted| {
            quotes_our_probe(config, quoted_ip, quoted)
        })
    }
}

#[inline(always)]
fn cookie(config: &XdpConfig, source: u32, target: u32, port: u16) -> Cookie {
    Cookie::of(
        &config.key,
        &ProbeId {
            source,
            target,
            port,
            proto: ip_proto::SCTP,
        },
    )
}

#[inline(always)]
fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
    let sctp: *const SctpHdr = ptr_at(ctx, l4)?;
    let sctp = unsafe { &*sctp };
    if sctp.chunk_type != sctp_chunk::INIT_ACK && sctp.chunk_type != sctp_chunk::ABORT {
        return None;
    }
    let port = u16::from_be(sctp.source);
    let cookie = cookie(config, ip.dst(), ip.src(), port);
    if u16::from_be(sctp.dest) != cookie.source_port(config.port_base, config.port_mask)
        || u32::from_be(sctp.vtag) != cookie.tcp_seq()
    {
        record::count(Counter::BadCookie);
        return None;
    }
    let mut reply = record::reply(ReplyKind::SctpReply, ip, ip.src(), port, ip_proto::SCTP);
    reply.sctp_chunk = sctp.chunk_type;
    Some(reply)
}

/// Whether the first 8 bytes of an SCTP packet an ICMP error quotes, and the quoted IP ID, are
/// our probe's (an INIT's verification tag is 0, so the tag is not checked).
#[inline(always)]
fn quotes_our_probe(config: &XdpConfig, quoted_ip: &Ipv4Hdr, quoted: &QuotedL4) -> bool {
    let cookie = cookie(
        config,
        quoted_ip.src(),
        quoted_ip.dst(),
        u16::from_be(quoted.dest),
    );
    u16::from_be(quoted.source) == cookie.source_port(config.port_base, config.port_mask)
        && u16::from_be(quoted_ip.id) == cookie.ip_id()
}
