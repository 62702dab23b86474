//! UDP replies to UDP-scan probes (-sU): a datagram from the probed port to the cookie's
//! source port (from a DNS port, echoing the cookie's DNS id), and ICMP errors quoting a probe
//! whose source port and IP ID are the cookie's.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    udp,
    wire::{UDP_HEADER_LEN, ip_proto},
};

use scanner_ebpf::headers::{Ipv4Hdr, UdpHdr, ptr_at};

use crate::{
    family::{self, Family, Quote},
    record,
};

pub struct Udp;

#[inline(always)]
fn cookie(config: &XdpConfig, source: u32, target: u32, port: u16) -> Cookie {
    Cookie::of(
        &config.key,
        &ProbeId::port_scan(source, target, port, ip_proto::UDP),
    )
}

impl Family for Udp {
    const BIT: u32 = scanner_common::family::UDP;

    #[inline(always)]
    fn answers_in(protocol: u8) -> bool {
        protocol == ip_proto::UDP
    }

    #[inline(always)]
    fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<ReplyRecord> {
        let header: *const UdpHdr = ptr_at(ctx, l4)?;
        let header = unsafe { &*header };
        let port = u16::from_be(header.source);
        let cookie = cookie(config, ip.dst(), ip.src(), port);
        if u16::from_be(header.dest) != cookie.source_port(config.port_base, config.port_mask) {
            record::count(Counter::BadCookie);
            return None;
        }
        if udp::carries_dns_id(port) {
            // The answer's id, big-endian, as the query carried it.
            let id: *const [u8; 2] = ptr_at(ctx, l4 + UDP_HEADER_LEN)?;
            if u16::from_be_bytes(unsafe { *id }) != cookie.dns_id() {
                record::count(Counter::BadCookie);
                return None;
            }
        }
        Some(record::reply(
            ReplyKind::UdpReply,
            ip,
            ip.src(),
            port,
            ip_proto::UDP,
        ))
    }

    #[inline(always)]
    fn quoted(
        ctx: &XdpContext,
        config: &XdpConfig,
        quoted_ip: &Ipv4Hdr,
        quoted_l4: usize,
    ) -> Quote {
        family::quoted_ports(ctx, quoted_ip, quoted_l4, ip_proto::UDP, |quoted| {
            let cookie = cookie(
                config,
                quoted_ip.src(),
                quoted_ip.dst(),
                u16::from_be(quoted.dest),
            );
            u16::from_be(quoted.source) == cookie.source_port(config.port_base, config.port_mask)
                && u16::from_be(quoted_ip.id) == cookie.ip_id()
        })
    }
}
