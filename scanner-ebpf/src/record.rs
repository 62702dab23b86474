//! Where verdicts leave the kernel: the ring buffer of records and the per-CPU counters.

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_xdp_load_bytes},
    macros::map,
    maps::{PerCpuArray, RingBuf},
    programs::XdpContext,
};
use scanner_common::{Counter, DEFAULT_RING_BYTES, FRAME_SNAP, FrameCopy, ReplyKind, ReplyRecord};
use scanner_ebpf::headers::Ipv4Hdr;

/// User space may resize it at load time (`EbpfLoader::map_max_entries`).
#[map]
pub static REPLIES: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

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

/// Copies the first [`FRAME_SNAP`] bytes of the frame into the ring, for capture.
#[inline(always)]
pub fn copy_frame(ctx: &XdpContext, timestamp_ns: u64, matched: bool) {
    let wire_len = ctx.data_end() - ctx.data();
    let Some(mut entry) = REPLIES.reserve::<FrameCopy>(0) else {
        count(Counter::CaptureLost);
        return;
    };
    let copy = entry.as_mut_ptr();
    let kept = if wire_len > FRAME_SNAP {
        FRAME_SNAP
    } else {
        wire_len
    };
    // The verifier needs the length bounded on the path of the call itself.
    if kept == 0 || kept > FRAME_SNAP {
        entry.discard(0);
        return;
    }
    // SAFETY: `copy` points to the reserved entry, FrameCopy-sized; `kept` <= FRAME_SNAP
    // bytes are written into its `bytes` array, from inside the packet (kept <= its length).
    let loaded = unsafe {
        (*copy).timestamp_ns = timestamp_ns;
        (*copy).wire_len = wire_len as u32;
        (*copy).kept = kept as u16;
        (*copy).matched = u8::from(matched);
        (*copy)._reserved = 0;
        bpf_xdp_load_bytes(ctx.ctx, 0, (*copy).bytes.as_mut_ptr().cast(), kept as u32)
    };
    if loaded == 0 {
        entry.submit(0);
    } else {
        entry.discard(0);
        count(Counter::CaptureLost);
    }
}
