//! Replies to the IP protocol scan (-sO): see `scanner_common::ip_scan` for where each probe
//! carries its cookie. A reply in the probed protocol says the protocol is open, and so does an
//! ICMP error about the probe from the target.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    family, ip_scan,
    wire::{icmp, ip_proto, tcp_flags},
};

use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, QuotedL4, SctpHdr, TcpHdr, UdpHdr, ptr_at};

use crate::{
    family::{Family, Quote},
    record,
};

pub struct IpScan;

impl Family for IpScan {
    const BIT: u32 = family::IP_PROTO;

    /// Every protocol may answer: the probe's own is its answer.
    #[inline(always)]
    fn answers_in(_protocol: u8) -> bool {
        true
    }

    #[inline(always)]
    fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
        reply(ctx, config, ip, l4)
    }

    #[inline(always)]
    fn icmp_reply(config: &XdpConfig, ip: &Ipv4Hdr, icmp: &IcmpHdr) -> Option<ReplyRecord> {
        match icmp.icmp_type {
            icmp::ECHO_REPLY => echo_reply(config, ip, icmp),
            _ => None,
        }
    }

    #[inline(always)]
    fn quoted(
        ctx: &XdpContext,
        config: &XdpConfig,
        quoted_ip: &Ipv4Hdr,
        quoted_l4: usize,
    ) -> Quote {
        match quotes_our_probe(ctx, config, quoted_ip, quoted_l4) {
            true => Quote::Ours(u16::from(quoted_ip.protocol)),
            false => Quote::Forged,
        }
    }
}

/// The cookie of our probe in `protocol` to the reply's sender.
#[inline(always)]
fn cookie_for_reply(config: &XdpConfig, ip: &Ipv4Hdr, protocol: u8) -> Cookie {
    Cookie::of(&config.key, &ProbeId::ip_scan(ip.dst(), ip.src(), protocol))
}

/// A reply in the probe's own protocol (ICMP excepted).
#[inline(always)]
fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
    let protocol = ip.protocol;
    // The scan's "port" is the protocol.
    let port = u16::from(protocol);
    let source_port = |cookie: Cookie| cookie.source_port(config.port_base, config.port_mask);
    let reply = match protocol {
        ip_proto::TCP => {
            let tcp: *const TcpHdr = ptr_at(ctx, l4)?;
            let tcp = unsafe { &*tcp };
            // The answer to an ACK out of the blue: a RST whose sequence number is the ACK's
            // acknowledgement number (RFC 9293 3.10.7.1).
            if tcp.flags & tcp_flags::RST == 0 || u16::from_be(tcp.source) != ip_scan::TCP_PORT {
                return None;
            }
            let cookie = cookie_for_reply(config, ip, protocol);
            if u16::from_be(tcp.dest) != source_port(cookie)
                || u32::from_be(tcp.seq) != cookie.tcp_seq()
            {
                record::count(Counter::BadCookie);
                return None;
            }
            let mut reply = record::reply(ReplyKind::TcpRst, ip, ip.src(), port, protocol);
            reply.tcp_flags = tcp.flags;
            reply.tcp_window = u16::from_be(tcp.window);
            reply
        }
        ip_proto::UDP => {
            let udp: *const UdpHdr = ptr_at(ctx, l4)?;
            let udp = unsafe { &*udp };
            if u16::from_be(udp.source) != ip_scan::UDP_PORT {
                return None;
            }
            if u16::from_be(udp.dest) != source_port(cookie_for_reply(config, ip, protocol)) {
                record::count(Counter::BadCookie);
                return None;
            }
            record::reply(ReplyKind::UdpReply, ip, ip.src(), port, protocol)
        }
        ip_proto::SCTP => {
            let sctp: *const SctpHdr = ptr_at(ctx, l4)?;
            let sctp = unsafe { &*sctp };
            if u16::from_be(sctp.source) != ip_scan::SCTP_PORT {
                return None;
            }
            let cookie = cookie_for_reply(config, ip, protocol);
            if u16::from_be(sctp.dest) != source_port(cookie)
                || u32::from_be(sctp.vtag) != cookie.tcp_seq()
            {
                record::count(Counter::BadCookie);
                return None;
            }
            let mut reply = record::reply(ReplyKind::SctpReply, ip, ip.src(), port, protocol);
            reply.sctp_chunk = sctp.chunk_type;
            reply
        }
        // No header of ours to check: user space decides whether the sender was a target,
        // and the packet goes on to the kernel.
        _ => record::reply(ReplyKind::ProtoResponse, ip, ip.src(), port, protocol),
    };
    Some(reply)
}

/// An echo reply to our echo request.
#[inline(always)]
fn echo_reply(config: &XdpConfig, ip: &Ipv4Hdr, header: &IcmpHdr) -> Option<ReplyRecord> {
    if header.code != 0 {
        return None;
    }
    if u32::from_be(header.rest) != cookie_for_reply(config, ip, ip_proto::ICMP).echo_word() {
        record::count(Counter::BadCookie);
        return None;
    }
    let mut reply = record::reply(
        ReplyKind::IcmpEchoReply,
        ip,
        ip.src(),
        u16::from(ip_proto::ICMP),
        ip_proto::ICMP,
    );
    reply.icmp_type = header.icmp_type;
    Some(reply)
}

/// Whether the datagram an ICMP error quotes (IP header at `quoted_ip`, its payload at
/// `quoted_l4`) is one of our probes: its IP ID, and the header fields that carry the cookie
/// where the protocol has them (RFC 792 guarantees their first 8 bytes).
#[inline(always)]
fn quotes_our_probe(
    ctx: &XdpContext,
    config: &XdpConfig,
    quoted_ip: &Ipv4Hdr,
    quoted_l4: usize,
) -> bool {
    let protocol = quoted_ip.protocol;
    let cookie = Cookie::of(
        &config.key,
        &ProbeId::ip_scan(quoted_ip.src(), quoted_ip.dst(), protocol),
    );
    if u16::from_be(quoted_ip.id) != cookie.ip_id() {
        return false;
    }
    let quoted = || -> Option<&QuotedL4> {
        let quoted: *const QuotedL4 = ptr_at(ctx, quoted_l4)?;
        Some(unsafe { &*quoted })
    };
    let source_port = cookie.source_port(config.port_base, config.port_mask);
    match protocol {
        ip_proto::TCP => quoted().is_some_and(|q| {
            u16::from_be(q.source) == source_port && u32::from_be(q.word) == cookie.tcp_seq()
        }),
        ip_proto::UDP | ip_proto::SCTP => {
            quoted().is_some_and(|q| u16::from_be(q.source) == source_port)
        }
        // Type and code, checksum, then identifier and sequence number.
        ip_proto::ICMP => quoted().is_some_and(|q| {
            u16::from_be(q.source) >> 8 == u16::from(icmp::ECHO_REQUEST)
                && u32::from_be(q.word) == cookie.echo_word()
        }),
        _ => true,
    }
}
