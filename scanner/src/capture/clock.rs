//! One time base for both directions: the XDP program stamps replies with CLOCK_MONOTONIC
//! (`bpf_ktime_get_ns`), so sent frames are stamped with it too, and pcap's wall-clock times are
//! derived from one offset taken at the start.

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// CLOCK_MONOTONIC when the scan started (packet-trace times count from here).
    start_mono_ns: u64,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC.
    realtime_offset_ns: u64,
}

impl Clock {
    pub fn now() -> Self {
        let mono = monotonic_ns();
        let real = read(libc::CLOCK_REALTIME);
        Self {
            start_mono_ns: mono,
            realtime_offset_ns: real.saturating_sub(mono),
        }
    }

    /// Seconds since the start, for `SENT (0.0123s)`.
    pub fn since_start(&self, mono_ns: u64) -> f64 {
        mono_ns.saturating_sub(self.start_mono_ns) as f64 / 1e9
    }

    /// Time since the Unix epoch, for the pcap record.
    pub fn wall(&self, mono_ns: u64) -> Duration {
        Duration::from_nanos(mono_ns + self.realtime_offset_ns)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the vDSO, no system call.
#[inline]
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; both clocks exist on every Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
