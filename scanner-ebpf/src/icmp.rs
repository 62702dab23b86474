//! ICMP replies: errors that quote one of our probes (RFC 792: its IP header and at least its
//! first 8 bytes), and echo replies to the IP protocol scan's echo request.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig, family,
    wire::{self, icmp, ip_proto},
};

use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, QuotedL4, ptr_at};

use crate::{ip_scan, record, sctp, tcp};

#[inline(always)]
pub fn classify(
    ctx: &XdpContext,
    config: &XdpConfig,
    ip: &Ipv4Hdr,
    l4: usize,
) -> Option<ReplyRecord> {
    let header: *const IcmpHdr = ptr_at(ctx, l4)?;
    let header = unsafe { &*header };
    match header.icmp_type {
        icmp::ECHO_REPLY if config.families & family::IP_PROTO != 0 => {
            ip_scan::echo_reply(config, ip, header)
        }
        icmp::DEST_UNREACHABLE | icmp::TIME_EXCEEDED => error(ctx, config, ip, l4, header),
        _ => None,
    }
}

/// An ICMP error, if the probe it quotes is ours.
#[inline(always)]
fn error(
    ctx: &XdpContext,
    config: &XdpConfig,
    ip: &Ipv4Hdr,
    l4: usize,
    header: &IcmpHdr,
) -> Option<ReplyRecord> {
    let quoted_ip: *const Ipv4Hdr = ptr_at(ctx, l4 + wire::ICMP_HEADER_LEN)?;
    let quoted_ip = unsafe { &*quoted_ip };
    // The quoted probe must be one we sent: from our address, not a fragment.
    if quoted_ip.src() != config.source_ip || quoted_ip.is_fragment() {
        return None;
    }
    let quoted_l4 = l4 + wire::ICMP_HEADER_LEN + quoted_ip.header_len()?;
    let protocol = quoted_ip.protocol;
    let (port, ours) = if config.families & family::IP_PROTO != 0 {
        (
            u16::from(protocol),
            ip_scan::quotes_our_probe(ctx, config, quoted_ip, quoted_l4),
        )
    } else if protocol == ip_proto::TCP && config.families & family::TCP != 0 {
        let quoted: *const QuotedL4 = ptr_at(ctx, quoted_l4)?;
        let quoted = unsafe { &*quoted };
        (
            u16::from_be(quoted.dest),
            tcp::quotes_our_syn(config, quoted_ip.src(), quoted_ip.dst(), quoted),
        )
    } else if protocol == ip_proto::SCTP && config.families & family::SCTP != 0 {
        let quoted: *const QuotedL4 = ptr_at(ctx, quoted_l4)?;
        let quoted = unsafe { &*quoted };
        (
            u16::from_be(quoted.dest),
            sctp::quotes_our_probe(config, quoted_ip, quoted),
        )
    } else {
        return None;
    };
    if !ours {
        record::count(Counter::BadCookie);
        return None;
    }
    let mut reply = record::reply(ReplyKind::IcmpError, ip, quoted_ip.dst(), port, protocol);
    reply.icmp_type = header.icmp_type;
    reply.icmp_code = header.code;
    Some(reply)
}
