//! Which probes got a conclusive answer: what the receiver checks to report each probe once,
//! and the sender to skip answered probes when it retries.
//!
//! A scan of up to [`EXACT_LIMIT`] probes keeps a bit per probe ([`Bitmap`], 16 MiB at
//! most): exact, forever. A larger one keeps only the answers of the last seconds
//! ([`Window`]), which is all that retries and duplicates need when the sender retries each
//! probe within a fixed time of sending it (see `engine::sender`): its memory is fixed by the
//! budget below, whatever the scan's size.

mod exact;
mod window;

use std::time::{Duration, Instant};

pub use self::{exact::Bitmap, window::Window};

/// The most probes a scan keeps a bit each for.
pub const EXACT_LIMIT: u64 = 1 << 27;

/// Bytes of the window of recent answers, over all its generations.
const RECENT_BYTES: u64 = 64 << 20;
/// Open ports: their SYN-ACK is retransmitted by the target for about a minute (we never
/// complete or reset the connection), so opens are remembered longer, in a table of their own.
const OPEN_GENERATIONS: usize = 9;
const OPEN_GENERATION: Duration = Duration::from_secs(8);
const OPEN_SLOT_BITS: u32 = 19;

pub enum Answered {
    Exact(Bitmap),
    Window {
        /// Every answer, for the retries and the dedup of replies to them.
        recent: Window,
        /// Open ports' answers, for the dedup of retransmitted SYN-ACKs.
        open: Window,
    },
}

impl Answered {
    /// The set for a scan of `len` probes whose sender retries `retries` times, `wait` apart.
    pub fn for_scan(len: u64, retries: u32, wait: Duration) -> Self {
        match len <= EXACT_LIMIT {
            true => Self::Exact(Bitmap::new(len)),
            false => Self::window(retries, wait),
        }
    }

    /// A window of the recent answers, for a sender that retries `retries` times, `wait`
    /// apart.
    pub fn window(retries: u32, wait: Duration) -> Self {
        // A probe is checked last `retries * wait` after it was first sent; one generation
        // more covers the replies to the last retry, one more the generation in progress.
        let generations = retries.min(MAX_WINDOW_RETRIES) as usize + 3;
        let slots = RECENT_BYTES / 8 / generations as u64;
        Self::Window {
            recent: Window::new(generations, slots.ilog2(), wait.max(MIN_GENERATION)),
            open: Window::new(OPEN_GENERATIONS, OPEN_SLOT_BITS, OPEN_GENERATION),
        }
    }

    /// An exact set of `len` probes.
    pub fn exact(len: u64) -> Self {
        Self::Exact(Bitmap::new(len))
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact(_))
    }

    /// Marks `index` answered; true when it was not before. `open` answers are remembered
    /// longer by a window (their replies repeat).
    #[inline]
    pub fn insert(&self, index: u64, open: bool) -> bool {
        match self {
            Self::Exact(bits) => bits.insert(index),
            Self::Window {
                recent,
                open: opens,
            } => {
                if opens.contains(index) {
                    return false;
                }
                let fresh = recent.insert(index);
                if fresh && open {
                    opens.insert(index);
                }
                fresh
            }
        }
    }

    #[inline]
    pub fn contains(&self, index: u64) -> bool {
        match self {
            Self::Exact(bits) => bits.contains(index),
            Self::Window { recent, open } => recent.contains(index) || open.contains(index),
        }
    }

    /// Probes answered (each once).
    pub fn count(&self) -> u64 {
        match self {
            Self::Exact(bits) => bits.count(),
            Self::Window { recent, .. } => recent.count(),
        }
    }

    /// Lets a window forget its oldest answers when their time is up.
    pub fn rotate_if_due(&self, now: Instant) {
        if let Self::Window { recent, open } = self {
            recent.rotate_if_due(now);
            open.rotate_if_due(now);
        }
    }

    /// Answers a full window could not record (each may cost a needless retry).
    pub fn unrecorded(&self) -> u64 {
        match self {
            Self::Exact(_) => 0,
            Self::Window { recent, open } => recent.unrecorded() + open.unrecorded(),
        }
    }

    /// The most bytes the set can take.
    pub fn bytes(&self) -> u64 {
        match self {
            Self::Exact(bits) => bits.bytes(),
            Self::Window { recent, open } => recent.bytes() + open.bytes(),
        }
    }
}

/// Retries beyond this share the window's generations (a window scan retries at most this
/// often).
pub const MAX_WINDOW_RETRIES: u32 = 8;
/// The shortest generation: a window rotates on the receiver's one-second tick.
const MIN_GENERATION: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_scans_are_exact_and_large_ones_windowed_in_a_fixed_budget() {
        let small = Answered::for_scan(EXACT_LIMIT, 3, Duration::from_secs(2));
        assert!(small.is_exact() && small.bytes() == EXACT_LIMIT / 8);
        for probes in [EXACT_LIMIT + 1, 1 << 48] {
            for retries in [0, 3, 100] {
                let large = Answered::for_scan(probes, retries, Duration::from_secs(2));
                assert!(!large.is_exact());
                assert!(
                    large.bytes() <= RECENT_BYTES + (40 << 20),
                    "{}",
                    large.bytes()
                );
            }
        }
    }

    #[test]
    fn a_window_remembers_opens_past_the_recent_answers() {
        let set = Answered::for_scan(1 << 40, 0, Duration::from_secs(1));
        assert!(set.insert(5, true) && set.insert(6, false));
        assert!(!set.insert(5, true) && !set.insert(6, false));
        let later = Instant::now() + Duration::from_secs(10);
        for step in 1..=4 {
            set.rotate_if_due(later + Duration::from_secs(step));
        }
        assert!(!set.insert(5, true), "an open is remembered for a minute");
        assert!(set.insert(6, false), "a closed port's answer is forgotten");
        assert_eq!(set.count(), 3);
    }
}
