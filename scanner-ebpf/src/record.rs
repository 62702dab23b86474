//! Where verdicts leave the kernel: the ring buffer of records and the per-CPU counters.

use aya_ebpf::{
    macros::map,
    maps::{PerCpuArray, RingBuf},
};
use scanner_common::{Counter, DEFAULT_RING_BYTES, ReplyRecord};

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
