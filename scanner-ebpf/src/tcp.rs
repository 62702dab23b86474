//! TCP replies to TCP probes: SYN-ACK and RST that acknowledge our cookie.

use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    family,
    wire::{ip_proto, tcp_flags},
};

use scanner_ebpf::headers::{Ipv4Hdr, TcpHdr, ptr_at};

use crate::record;

#[inline(always)]
pub fn classify(
    ctx: &XdpContext,
    config: &XdpConfig,
    ip: &Ipv4Hdr,
    l4: usize,
) -> Option<ReplyRecord> {
    if config.families & family::TCP == 0 {
        return None;
    }
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
    Some(ReplyRecord {
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        target: ip.src(),
        responder: ip.src(),
        port,
        probe_proto: ip_proto::TCP,
        kind: kind as u8,
        ttl: ip.ttl,
        tcp_flags: flags,
        icmp_type: 0,
        icmp_code: 0,
        ip_id: u16::from_be(ip.id),
        tcp_window: u16::from_be(tcp.window),
        _reserved: 0,
    })
}
