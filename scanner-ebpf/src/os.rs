//! OS detection (-O): replies to nmap's OS probes. They carry no cookie (nmap's fields fill
//! them), so they are recognised by the keyed source ports and echo ids of
//! [`OsIdentity`]: a TCP segment to one of the target's OS ports, an echo reply with one of
//! its echo ids, or an ICMP error quoting its U1. Each is copied whole into the ring (the
//! tests read every header field and the quoted probe) and dropped, so the kernel does not
//! reset the SYN-ACKs.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use scanner_common::{
    Counter, OS_SNAP, RingEntry, XdpConfig,
    os::OsIdentity,
    wire::{self, icmp, ip_proto},
};
use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, QuotedL4, TcpHdr, ptr_at};

use crate::record;

/// The verdict on an IPv4 packet to us, `ip`, whose transport header starts at `l4`.
#[inline(always)]
pub fn reply(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize, now_ns: u64) -> u32 {
    if !claims(ctx, config, ip, l4).unwrap_or(false) {
        return xdp_action::XDP_PASS;
    }
    record::count(Counter::Matched);
    if !record::copy_frame::<OS_SNAP>(ctx, RingEntry::OsReply, now_ns, true) {
        record::count(Counter::RingFull);
    }
    xdp_action::XDP_DROP
}

#[inline(always)]
fn claims(ctx: &XdpContext, config: &XdpConfig, ip: &Ipv4Hdr, l4: usize) -> Option<bool> {
    match ip.protocol {
        ip_proto::TCP => {
            let tcp: *const TcpHdr = ptr_at(ctx, l4)?;
            let port = u16::from_be(unsafe { (*tcp).dest });
            Some(OsIdentity::of(&config.key, config.source_ip, ip.src()).claims_tcp_port(port))
        }
        ip_proto::ICMP => {
            let header: *const IcmpHdr = ptr_at(ctx, l4)?;
            let header = unsafe { &*header };
            match header.icmp_type {
                icmp::ECHO_REPLY => {
                    let id = (u32::from_be(header.rest) >> 16) as u16;
                    Some(OsIdentity::of(&config.key, config.source_ip, ip.src()).claims_echo_id(id))
                }
                icmp::DEST_UNREACHABLE => {
                    let quoted_ip: *const Ipv4Hdr = ptr_at(ctx, l4 + wire::ICMP_HEADER_LEN)?;
                    let quoted_ip = unsafe { &*quoted_ip };
                    if quoted_ip.src() != config.source_ip || quoted_ip.protocol != ip_proto::UDP {
                        return Some(false);
                    }
                    let quoted_l4 = l4 + wire::ICMP_HEADER_LEN + quoted_ip.header_len()?;
                    let udp: *const QuotedL4 = ptr_at(ctx, quoted_l4)?;
                    let port = u16::from_be(unsafe { (*udp).source });
                    Some(
                        OsIdentity::of(&config.key, config.source_ip, quoted_ip.dst())
                            .claims_udp_port(port),
                    )
                }
                _ => Some(false),
            }
        }
        _ => Some(false),
    }
}
