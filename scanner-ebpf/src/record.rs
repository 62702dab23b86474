//! Where verdicts leave the kernel: the ring buffer of records and the per-CPU counters.

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_xdp_load_bytes},
    macros::map,
    maps::{PerCpuArray, RingBuf},
    programs::XdpContext,
};
use scanner_common::{
    Counter, DEFAULT_RING_BYTES, FRAME_SNAP, ReplyKind, ReplyRecord, RingEntry, SnapCopy,
};
use scanner_ebpf::headers::Ipv4Hdr;

/// User space may resize it at load time (`EbpfLoader::map_max_entries`).
#[map]
static REPLIES: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(value) = COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other writer.
        unsafe { *value += 1 };
    }
}

/// The record of a reply `ip` of `kind` about our probe to `target`:`port` in `probe_proto`,
/// stamped now; the kind-specific fields are left zero for the caller.
#[inline(always)]
pub fn reply(
    kind: ReplyKind,
    ip: &Ipv4Hdr,
    target: u32,
    port: u16,
    probe_proto: u8,
) -> ReplyRecord {
    ReplyRecord {
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        target,
        responder: ip.src(),
        port,
        probe_proto,
        kind: kind as u8,
        ttl: ip.ttl,
        ip_id: u16::from_be(ip.id),
        ..ReplyRecord::default()
    }
}

/// Pushes a matched reply, counting it (or its loss when the ring is full).
#[inline(always)]
pub fn push(reply: &ReplyRecord) {
    match REPLIES.reserve::<ReplyRecord>(0) {
        Some(mut entry) => {
            entry.write(*reply);
            entry.submit(0);
            count(Counter::Matched);
        }
        None => {
            count(Counter::Matched);
            count(Counter::RingFull);
        }
    }
}

/// Copies the first `N` bytes of the frame (or all of it) into the ring as a
/// [`SnapCopy`]: a frame for capture, an OS-detection reply copy. Returns whether it
/// went in; the caller counts the loss as its own.
#[inline(always)]
pub fn copy_frame<const N: usize>(
    ctx: &XdpContext,
    tag: RingEntry,
    timestamp_ns: u64,
    matched: bool,
) -> bool {
    let wire_len = ctx.data_end() - ctx.data();
    let Some(mut entry) = REPLIES.reserve::<SnapCopy<N>>(0) else {
        return false;
    };
    let copy = entry.as_mut_ptr();
    // The verifier needs the length in 1..=N in the register passed to the helper. A zero
    // check on it is no good: LLVM turns it into `data == data_end`, which bounds nothing.
    // So: at most N - 1, plus one (an empty frame, which cannot happen, would ask for N bytes
    // and the helper would refuse).
    let kept = core::cmp::min(wire_len.wrapping_sub(1), N - 1) + 1;
    // SAFETY: `copy` points to the reserved entry, SnapCopy<N>-sized; `kept` <= N bytes are
    // written into its `bytes` array, from inside the packet (kept <= its length).
    let loaded = unsafe {
        (*copy).entry = tag as u8;
        (*copy).matched = u8::from(matched);
        (*copy).kept = kept as u16;
        (*copy).wire_len = wire_len as u32;
        (*copy).timestamp_ns = timestamp_ns;
        bpf_xdp_load_bytes(ctx.ctx, 0, (*copy).bytes.as_mut_ptr().cast(), kept as u32)
    };
    if loaded == 0 {
        entry.submit(0);
        true
    } else {
        entry.discard(0);
        false
    }
}

/// Copies a matched or unmatched frame for --pcap/--packet-trace.
#[inline(always)]
pub fn capture_frame(ctx: &XdpContext, timestamp_ns: u64, matched: bool) {
    if !copy_frame::<FRAME_SNAP>(ctx, RingEntry::Frame, timestamp_ns, matched) {
        count(Counter::CaptureLost);
    }
}
