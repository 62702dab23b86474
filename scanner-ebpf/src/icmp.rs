//! ICMP replies: errors that quote one of our probes (RFC 792: its IP header and at least its
//! first 8 bytes), which the families judge by the quote; and other messages (echo replies),
//! which they judge whole.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    wire::{self, icmp},
};

use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, ptr_at};

use crate::{
    family::{self, Quote},
    record,
};

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
        icmp::DEST_UNREACHABLE | icmp::TIME_EXCEEDED => error(ctx, config, ip, l4, header),
        _ => family::icmp_reply(config, ip, header),
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
    let port = match family::quoted(ctx, config, quoted_ip, quoted_l4) {
        Quote::Ours(port) => port,
        Quote::Forged => {
            record::count(Counter::BadCookie);
            return None;
        }
        Quote::Other => return None,
    };
    let mut reply = record::reply(
        ReplyKind::IcmpError,
        ip,
        quoted_ip.dst(),
        port,
        quoted_ip.protocol,
    );
    reply.icmp_type = header.icmp_type;
    reply.icmp_code = header.code;
    Some(reply)
}
