//! Rate control: probes leave in batches, and the pacer holds each batch back until the
//! scan's schedule (`sent / rate` seconds after the start) allows it. One clock read per
//! batch, never a timer or system call per packet.

use std::time::{Duration, Instant};

/// Time as the pacer sees it; a fake in tests.
pub trait Clock {
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration);
}

/// The real monotonic clock.
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&self, duration: Duration) {
        // The kernel's sleep overshoots by tens of microseconds: sleep short, spin the rest.
        const SPIN: Duration = Duration::from_micros(100);
        let deadline = self.now() + duration;
        if duration > SPIN {
            std::thread::sleep(duration - SPIN);
        }
        while self.now() < deadline {
            std::hint::spin_loop();
        }
    }
}

/// Bytes each frame costs on an Ethernet wire beyond its own: preamble (8), FCS (4) and the
/// inter-frame gap (12), as ZMap counts them; frames are padded to 60 bytes before the FCS.
const WIRE_OVERHEAD: u64 = 24;
const MIN_FRAME: u64 = 60;

/// The packet rate that fills `bits_per_second` with frames of `frame_len` bytes.
pub fn for_bandwidth(bits_per_second: u64, frame_len: usize) -> u64 {
    let wire_bits = ((frame_len as u64).max(MIN_FRAME) + WIRE_OVERHEAD) * 8;
    (bits_per_second / wire_bits).max(1)
}

/// How far the pacer may fall behind before it forgets the debt instead of bursting to
/// catch up (after a stall, say).
const MAX_DEBT: Duration = Duration::from_millis(50);

pub struct Pacer<C: Clock = MonotonicClock> {
    clock: C,
    /// Packets per second; `None` sends as fast as the link takes them.
    rate: Option<u64>,
    /// When the schedule began, after any reset.
    origin: Duration,
    /// Packets accounted since `origin`.
    scheduled: u64,
}

impl Pacer<MonotonicClock> {
    pub fn new(rate: Option<u64>) -> Self {
        Self::with_clock(MonotonicClock::default(), rate)
    }
}

impl<C: Clock> Pacer<C> {
    pub fn with_clock(clock: C, rate: Option<u64>) -> Self {
        let origin = clock.now();
        Self {
            clock,
            rate: rate.filter(|&r| r > 0),
            origin,
            scheduled: 0,
        }
    }

    /// Batch size for this rate: about a millisecond's worth of packets, within `1..=max`.
    pub fn batch_size(&self, max: usize) -> usize {
        match self.rate {
            Some(rate) => ((rate / 1000) as usize).clamp(1, max),
            None => max,
        }
    }

    /// Blocks until `count` more packets may leave, and books them.
    pub fn wait_for(&mut self, count: usize) {
        let Some(rate) = self.rate else { return };
        let due = self.origin + Duration::from_secs_f64(self.scheduled as f64 / rate as f64);
        let now = self.clock.now();
        if due > now {
            self.clock.sleep(due - now);
        } else if now - due > MAX_DEBT {
            self.origin = now;
            self.scheduled = 0;
        }
        self.scheduled += count as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn bandwidth_counts_ethernet_overhead_like_zmap() {
        // A 58-byte SYN is padded to 60, plus 24: 672 bits on the wire.
        assert_eq!(for_bandwidth(1_000_000_000, 58), 1_488_095);
        assert_eq!(for_bandwidth(10_000_000, 1000), 1220);
        assert_eq!(for_bandwidth(1, 58), 1);
    }

    /// A clock that only moves when slept on (or advanced by hand).
    #[derive(Default)]
    struct FakeClock(Cell<Duration>);

    impl Clock for &FakeClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
        fn sleep(&self, duration: Duration) {
            self.0.set(self.0.get() + duration);
        }
    }

    fn elapsed_for(rate: u64, packets: u64) -> Duration {
        let clock = FakeClock::default();
        let mut pacer = Pacer::with_clock(&clock, Some(rate));
        let batch = pacer.batch_size(64);
        let mut left = packets;
        while left > 0 {
            let n = (batch as u64).min(left) as usize;
            pacer.wait_for(n);
            left -= n as u64;
        }
        // The last batch is released when due; it takes no time of its own.
        (&clock).now()
    }

    #[test]
    fn paces_to_the_requested_rate_within_two_percent() {
        for rate in [1_000u64, 10_000, 100_000, 1_000_000, 5_000_000] {
            let packets = rate * 3;
            let secs = elapsed_for(rate, packets).as_secs_f64();
            let achieved = packets as f64 / secs;
            let error = (achieved - rate as f64).abs() / rate as f64;
            assert!(error < 0.02, "rate {rate}: achieved {achieved:.0} pps");
        }
    }

    #[test]
    fn batches_are_about_a_millisecond() {
        let clock = FakeClock::default();
        assert_eq!(Pacer::with_clock(&clock, Some(100)).batch_size(64), 1);
        assert_eq!(Pacer::with_clock(&clock, Some(16_000)).batch_size(64), 16);
        assert_eq!(
            Pacer::with_clock(&clock, Some(10_000_000)).batch_size(64),
            64
        );
        assert_eq!(Pacer::with_clock(&clock, None).batch_size(64), 64);
    }

    #[test]
    fn a_stall_does_not_cause_a_burst() {
        let clock = FakeClock::default();
        let mut pacer = Pacer::with_clock(&clock, Some(1000));
        pacer.wait_for(1);
        clock.0.set(clock.0.get() + Duration::from_secs(5)); // the sender was descheduled
        pacer.wait_for(1);
        let before = (&clock).now();
        for _ in 0..100 {
            pacer.wait_for(1);
        }
        // 100 packets at 1000 pps still take ~100 ms after the stall.
        let took = (&clock).now() - before;
        assert!(took >= Duration::from_millis(98), "{took:?}");
    }

    #[test]
    fn unlimited_never_waits() {
        let clock = FakeClock::default();
        let mut pacer = Pacer::with_clock(&clock, None);
        for _ in 0..1000 {
            pacer.wait_for(64);
        }
        assert_eq!((&clock).now(), Duration::ZERO);
    }
}
