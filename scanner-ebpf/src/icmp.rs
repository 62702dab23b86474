//! ICMP errors that quote one of our probes (RFC 792: the probe's IP header and first 8 bytes).

use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};
use scanner_common::{
    Counter, ReplyKind, ReplyRecord, XdpConfig,
    cookie::{Cookie, ProbeId},
    family,
    wire::{self, icmp, ip_proto},
};

use scanner_ebpf::headers::{IcmpHdr, Ipv4Hdr, QuotedL4, ptr_at};

use crate::record;

#[inline(always)]
pub fn classify(
    ctx: &XdpContext,
    config: &XdpConfig,
    ip: &Ipv4Hdr,
    l4: usize,
) -> Option<ReplyRecord> {
    let header: *const IcmpHdr = ptr_at(ctx, l4)?;
    let header = unsafe { &*header };
    if header.icmp_type != icmp::DEST_UNREACHABLE {
        return None;
    }
    let quoted_ip: *const Ipv4Hdr = ptr_at(ctx, l4 + wire::ICMP_HEADER_LEN)?;
    let quoted_ip = unsafe { &*quoted_ip };
    // The quoted probe must be one we sent: from our address, not a fragment.
    if quoted_ip.src() != config.source_ip || quoted_ip.is_fragment() {
        return None;
    }
    let quoted_l4 = l4 + wire::ICMP_HEADER_LEN + quoted_ip.header_len()?;
    let quoted: *const QuotedL4 = ptr_at(ctx, quoted_l4)?;
    let quoted = unsafe { &*quoted };
    let port = u16::from_be(quoted.dest);
    let valid = match quoted_ip.protocol {
        ip_proto::TCP if config.families & family::TCP != 0 => {
            let cookie = Cookie::of(
                &config.key,
                &ProbeId {
                    source: quoted_ip.src(),
                    target: quoted_ip.dst(),
                    port,
                    proto: ip_proto::TCP,
                },
            );
            u16::from_be(quoted.source) == cookie.source_port(config.port_base, config.port_mask)
                && u32::from_be(quoted.word) == cookie.tcp_seq()
        }
        _ => return None,
    };
    if !valid {
        record::count(Counter::BadCookie);
        return None;
    }
    Some(ReplyRecord {
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        target: quoted_ip.dst(),
        responder: ip.src(),
        port,
        probe_proto: quoted_ip.protocol,
        kind: ReplyKind::IcmpUnreachable as u8,
        ttl: ip.ttl,
        tcp_flags: 0,
        icmp_type: header.icmp_type,
        icmp_code: header.code,
        ip_id: u16::from_be(ip.id),
        tcp_window: 0,
        _reserved: 0,
    })
}
