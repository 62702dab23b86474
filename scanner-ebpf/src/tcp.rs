//! TCP replies to SYN-scan probes: SYN-ACK and RST that acknowledge our cookie.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    wire::{ip_proto, tcp_flags},
};

use scanner_ebpf::headers::{Ipv4Hdr, QuotedL4, TcpHdr, ptr_at};

use crate::{
    family::{self, Family, Quote},
    record,
};

pub struct TcpSyn;

impl Family for TcpSyn {
    const BIT: u32 = scanner_common::family::TCP;

    #[inline(always)]
    fn answers_in(protocol: u8) -> bool {
        protocol == ip_proto::TCP
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
        family::quoted_ports(ctx, quoted_ip, quoted_l4, ip_proto::TCP, |quoted| {
            quotes_our_syn(config, quoted_ip.src(), quoted_ip.dst(), quoted)
        })
    }
}

#[inline(always)]
fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
    let tcp: *const TcpHdr = ptr_at(ctx, l4)?;
    let tcp = unsafe { &*tcp };
    let flags = tcp.flags;
    // Both answers to a SYN acknowledge it (RFC 9293 3.10.7.1): anything else is not ours.
    if flags & tcp_flags::ACK == 0 {
        return None;
    }
    let kind = if flags & tcp_flags::RST != 0 {
        ReplyKind::TcpRst
    } else if flags & tcp_flags::SYN != 0 {
        ReplyKind::TcpSynAck
    } else {
        return None;
    };
    let port = u16::from_be(tcp.source);
    let cookie = Cookie::of(
        &config.key,
        &ProbeId {
            source: ip.dst(),
            target: ip.src(),
            port,
            proto: ip_proto::TCP,
        },
    );
    let acked = u32::from_be(tcp.ack_seq).wrapping_sub(1);
    if u16::from_be(tcp.dest) != cookie.source_port(config.port_base, config.port_mask)
        || acked != cookie.tcp_seq()
    {
        record::count(Counter::BadCookie);
        return None;
    }
    let mut reply = record::reply(kind, ip, ip.src(), port, ip_proto::TCP);
    reply.tcp_flags = flags;
    reply.tcp_window = u16::from_be(tcp.window);
    Some(reply)
}

/// Whether the first 8 bytes of a TCP header an ICMP error quotes are our SYN's.
#[inline(always)]
fn quotes_our_syn(config: &XdpConfig, source: u32, target: u32, quoted: &QuotedL4) -> bool {
    let cookie = Cookie::of(
        &config.key,
        &ProbeId {
            source,
            target,
            port: u16::from_be(quoted.dest),
            proto: ip_proto::TCP,
        },
    );
    u16::from_be(quoted.source) == cookie.source_port(config.port_base, config.port_mask)
        && u32::from_be(quoted.word) == cookie.tcp_seq()
}
