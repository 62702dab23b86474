//! The lab responder: attached in XDP to the target's interface, it answers probes to an
//! address range from a keyed ground truth ([`scanner_common::responder::truth`]) by rewriting
//! each probe into its answer in place and sending it back out of the interface it came in on
//! — no socket, no connection state, as fast as the link. Silent probes are dropped; everything
//! else (ARP, other addresses, other traffic) passes to the kernel.
//!
//! Out by a redirect to the ingress interface rather than `XDP_TX`: both send the frame back
//! the way it came, but on a veth (kernel 6.18) `XDP_TX`'d frames wake the peer's NAPI only
//! when the peer runs an XDP program itself (`veth_xdp_flush` checks the peer's `xdp_prog`),
//! so a peer with merely GRO on — the scanner side for masscan, zmap or nmap — never receives
//! them. A redirect leaves through `ndo_xdp_xmit` with `XDP_XMIT_FLUSH`, which wakes the
//! peer's NAPI either way.
//!
//! One arm per protocol, each deciding with the same `truth`: TCP SYN -> SYN-ACK or RST-ACK
//! ([`tcp`]); SCTP INIT -> INIT ACK or ABORT, COOKIE ECHO -> ABORT or nothing ([`sctp`]).
#![no_std]
#![no_main]

mod frame;
mod sctp;
mod tcp;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, bpf_redirect},
    macros::{map, xdp},
    maps::PerCpuArray,
    programs::XdpContext,
};
use scanner_common::{
    cookie::Key,
    responder::{Counter, ResponderConfig, Share},
    wire::{self, ip_proto},
};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, ptr_at};

/// Set by user space before loading (`EbpfLoader::override_global`). The placeholder answers
/// for no address but 0.0.0.0.
#[unsafe(no_mangle)]
static RESPONDER_CONFIG: ResponderConfig = ResponderConfig {
    key: Key { k0: 0, k1: 0 },
    range_base: 0,
    range_mask: u32::MAX,
    open_share: Share(0),
    closed_share: Share(0),
};

#[map]
static RESPONDER_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[inline(always)]
fn config() -> ResponderConfig {
    // Volatile: the compiler must not fold the placeholder above into the code.
    unsafe { core::ptr::read_volatile(&RESPONDER_CONFIG) }
}

/// What becomes of a packet.
pub enum Outcome {
    /// Not for us: the kernel's.
    Pass,
    /// Addressed to the range but unparsable: counted, then the kernel's.
    Malformed,
    /// Addressed to the range, and one the protocol says to discard silently (an SCTP packet
    /// with a bad checksum, say): counted as malformed, and dropped.
    Discarded,
    /// A probe whose truth is silence: dropped.
    Silent,
    /// A probe rewritten into its answer (open or closed): sent back out of its interface.
    Answered(Counter),
}

#[xdp]
pub fn responder(ctx: XdpContext) -> u32 {
    count(Counter::Packets);
    match handle(&ctx) {
        Outcome::Pass => xdp_action::XDP_PASS,
        Outcome::Malformed => {
            count(Counter::Malformed);
            xdp_action::XDP_PASS
        }
        Outcome::Discarded => {
            count(Counter::Malformed);
            xdp_action::XDP_DROP
        }
        Outcome::Silent => {
            count(Counter::Silent);
            xdp_action::XDP_DROP
        }
        Outcome::Answered(counter) => {
            count(counter);
            // XDP_REDIRECT, or XDP_ABORTED if the helper refused (it takes no flags here).
            unsafe { bpf_redirect(ctx.ingress_ifindex() as u32, 0) as u32 }
        }
    }
}

#[inline(always)]
fn handle(ctx: &XdpContext) -> Outcome {
    let Some(eth) = ptr_at::<EthHdr>(ctx, 0) else {
        return Outcome::Pass;
    };
    if unsafe { (*eth).ether_type } != wire::ETH_P_IPV4.to_be() {
        return Outcome::Pass;
    }
    let Some(ip) = ptr_at::<Ipv4Hdr>(ctx, wire::ETH_HEADER_LEN) else {
        return Outcome::Malformed;
    };
    let ip = unsafe { &*ip };
    let config = config();
    if !config.covers(ip.dst()) {
        return Outcome::Pass;
    }
    match ip.protocol {
        ip_proto::TCP => tcp::answer(ctx, &config, ip),
        ip_proto::SCTP => sctp::answer(ctx, &config, ip),
        _ => Outcome::Pass,
    }
}

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(value) = RESPONDER_COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other writer.
        unsafe { *value += 1 };
    }
}

/// Counts a probe and notes when it came: the first and the latest probe of this CPU.
#[inline(always)]
pub fn count_probe() {
    count(Counter::Probes);
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(first) = RESPONDER_COUNTERS.get_ptr_mut(Counter::FirstProbeNs as u32) {
        unsafe {
            if *first == 0 {
                *first = now;
            }
        }
    }
    if let Some(last) = RESPONDER_COUNTERS.get_ptr_mut(Counter::LastProbeNs as u32) {
        unsafe { *last = now };
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
