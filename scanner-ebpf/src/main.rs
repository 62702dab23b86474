//! The reply classifier: attached in XDP to the scanner's interface, it recognises replies to
//! our probes by their keyed cookie, pushes one [`ReplyRecord`] per reply into a ring buffer and
//! drops the packet, so the host's stack never sees (or answers) it. Everything else passes.
#![no_std]
#![no_main]

mod family;
mod icmp;
mod ip_scan;
mod os;
mod record;
mod sctp;
mod tcp;
mod udp;

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_ktime_get_ns, macros::xdp, programs::XdpContext,
};
use scanner_common::{Counter, ReplyKind, ReplyRecord, XdpConfig, capture, wire};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, ptr_at};

/// The scan's configuration; user space sets it with `EbpfLoader::set_global` before loading.
#[unsafe(no_mangle)]
static CONFIG: XdpConfig = XdpConfig {
    key: scanner_common::cookie::Key { k0: 0, k1: 0 },
    source_ip: 0,
    families: 0,
    port_base: 0,
    port_mask: 0,
    capture: 0,
};

#[inline(always)]
fn config() -> XdpConfig {
    // Volatile: the compiler must not fold the zero placeholder above into the code.
    unsafe { core::ptr::read_volatile(&CONFIG) }
}

#[xdp]
pub fn scanner(ctx: XdpContext) -> u32 {
    record::count(Counter::Seen);
    let config = config();
    if config.families & scanner_common::family::OS != 0 {
        return os_detection(&ctx, &config);
    }
    match classify(&ctx, &config) {
        Some(reply) => {
            record::push(&reply);
            if config.capture & capture::MATCHED != 0 {
                record::capture_frame(&ctx, reply.timestamp_ns, true);
            }
            // A reply without a cookie may be someone else's: the kernel gets it too.
            if reply.kind == ReplyKind::ProtoResponse as u8 {
                xdp_action::XDP_PASS
            } else {
                xdp_action::XDP_DROP
            }
        }
        None => {
            if config.capture & capture::UNMATCHED != 0 {
                record::capture_frame(&ctx, unsafe { bpf_ktime_get_ns() }, false);
            }
            xdp_action::XDP_PASS
        }
    }
}

/// The OS detection stage claims only replies to its own probes (see [`os`]).
#[inline(always)]
fn os_detection(ctx: &XdpContext, config: &XdpConfig) -> u32 {
    let Some(ip) = ipv4_to_us(ctx, config) else {
        return xdp_action::XDP_PASS;
    };
    let Some(header_len) = ip.header_len() else {
        return xdp_action::XDP_PASS;
    };
    os::reply(ctx, config, ip, wire::ETH_HEADER_LEN + header_len, unsafe {
        bpf_ktime_get_ns()
    })
}

/// The IPv4 header of a packet to our address that is not a fragment.
#[inline(always)]
fn ipv4_to_us<'a>(ctx: &'a XdpContext, config: &XdpConfig) -> Option<&'a Ipv4Hdr> {
    let eth: *const EthHdr = ptr_at(ctx, 0)?;
    if unsafe { (*eth).ether_type } != wire::ETH_P_IPV4.to_be() {
        return None;
    }
    let ip: *const Ipv4Hdr = ptr_at(ctx, wire::ETH_HEADER_LEN)?;
    let ip = unsafe { &*ip };
    (ip.dst() == config.source_ip && !ip.is_fragment()).then_some(ip)
}

/// Returns the record of a reply to one of our probes, or `None` for anything else.
#[inline(always)]
fn classify(ctx: &XdpContext, config: &XdpConfig) -> Option<ReplyRecord> {
    let ip = ipv4_to_us(ctx, config)?;
    let l4 = wire::ETH_HEADER_LEN + ip.header_len()?;
    match ip.protocol {
        wire::ip_proto::ICMP => icmp::classify(ctx, config, ip, l4),
        _ => family::reply(ctx, config, ip, l4),
    }
}

// Only for the BPF target: a host build (clippy --workspace) links std, which has its own.
#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
