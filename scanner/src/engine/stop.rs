//! How a scan is asked to end early, in masscan's two steps: the first request (Ctrl-C,
//! SIGTERM, SIGHUP) stops sending and gives the probes already sent their `--wait` for
//! replies; the second (another signal, or an output that cannot be written) ends the wait at
//! once. Either way the XDP program is detached and every output written and closed.

use std::sync::atomic::{AtomicU8, Ordering};

/// The stop request shared by the signal handler, the senders, the reader and the OS stage.
#[derive(Debug, Default)]
pub struct Stop(AtomicU8);

/// How far a stop has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Running,
    /// No more probes; the replies to those sent still get their wait.
    Draining,
    /// No more waiting either.
    Now,
}

impl Stop {
    pub const fn new() -> Self {
        Stop(AtomicU8::new(0))
    }

    /// One step further (running, draining, now); returns where it got.
    pub fn escalate(&self) -> Level {
        let before = self.0.fetch_add(1, Ordering::Relaxed);
        // Never past Now, however many signals arrive (and never wrapping).
        self.0.fetch_min(2, Ordering::Relaxed);
        Self::level_of(before.saturating_add(1))
    }

    /// Straight to the end: nothing more is sent or waited for.
    pub fn now(&self) {
        self.0.store(2, Ordering::Relaxed);
    }

    pub fn level(&self) -> Level {
        Self::level_of(self.0.load(Ordering::Relaxed))
    }

    /// Whether sending must stop (and the scan counts as interrupted).
    pub fn requested(&self) -> bool {
        self.level() >= Level::Draining
    }

    /// Whether waiting for replies must stop too.
    pub fn immediate(&self) -> bool {
        self.level() == Level::Now
    }

    fn level_of(raw: u8) -> Level {
        match raw {
            0 => Level::Running,
            1 => Level::Draining,
            _ => Level::Now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_requests_go_from_draining_to_now_and_no_further() {
        let stop = Stop::new();
        assert!(!stop.requested());
        assert_eq!(stop.escalate(), Level::Draining);
        assert!(stop.requested() && !stop.immediate());
        assert_eq!(stop.escalate(), Level::Now);
        assert_eq!(stop.escalate(), Level::Now);
        assert!(stop.immediate());
        let direct = Stop::new();
        direct.now();
        assert_eq!(direct.level(), Level::Now);
    }
}
