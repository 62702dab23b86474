//! The answered set of a scan too large for a bit per probe: only the probes answered lately,
//! in a fixed number of fixed-size generations of an open-addressing hash table.
//!
//! The receiver is the only writer: it inserts each answer into the current generation and,
//! every `generation` of time, empties the oldest generation and makes it the current one. So an
//! answer is remembered for at least `(generations - 1) * generation` and the memory is fixed
//! from the start: `generations * slots * 8` bytes. The sender threads only read (is a probe
//! due for a retry answered already?).
//!
//! A generation that is full (more answers in one generation's time than half its slots, by
//! design) leaves the answer unrecorded: that costs a needless retry and possibly a duplicate
//! later, both counted (`unrecorded`), never a lost result.

use std::{
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::exact::zeroed_words;

pub struct Window {
    /// `generations` tables of `mask + 1` slots, each holding `index + 1` or 0 for empty.
    tables: Box<[Box<[AtomicU64]>]>,
    mask: u64,
    shift: u32,
    current: AtomicUsize,
    /// How long a generation is current.
    generation: Duration,
    /// When the current generation became current (the receiver's alone).
    rotated: std::sync::Mutex<Instant>,
    count: AtomicU64,
    unrecorded: AtomicU64,
}

/// Slots looked at from an index's home slot before a generation counts as full.
const PROBES: u64 = 32;

impl Window {
    /// `generations` generations of `generation` each, of `2^slot_bits` slots.
    pub fn new(generations: usize, slot_bits: u32, generation: Duration) -> Self {
        assert!(generations >= 2 && (1..=40).contains(&slot_bits));
        let slots = 1usize << slot_bits;
        Self {
            tables: (0..generations).map(|_| zeroed_words(slots)).collect(),
            mask: slots as u64 - 1,
            shift: 64 - slot_bits,
            current: AtomicUsize::new(0),
            generation,
            rotated: std::sync::Mutex::new(Instant::now()),
            count: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
        }
    }

    /// The bytes the tables take once every slot has been written.
    pub fn bytes(&self) -> u64 {
        self.tables.len() as u64 * (self.mask + 1) * 8
    }

    /// How long an answer is remembered at least.
    pub fn memory(&self) -> Duration {
        self.generation * (self.tables.len() as u32 - 1)
    }

    #[inline]
    fn home(&self, key: u64) -> u64 {
        // Fibonacci hashing: consecutive and strided indices spread over the table.
        key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift
    }

    /// Whether `index` was answered within the window.
    #[inline]
    pub fn contains(&self, index: u64) -> bool {
        let key = index + 1;
        let home = self.home(key);
        self.tables.iter().any(|table| {
            for probe in 0..PROBES {
                match table[((home + probe) & self.mask) as usize].load(Ordering::Relaxed) {
                    0 => return false,
                    found if found == key => return true,
                    _ => {}
                }
            }
            false
        })
    }

    /// Records `index` as answered; false when it already was within the window (a
    /// duplicate). Called by the one receiver thread only.
    pub fn insert(&self, index: u64) -> bool {
        if self.contains(index) {
            return false;
        }
        let key = index + 1;
        let home = self.home(key);
        let table = &self.tables[self.current.load(Ordering::Relaxed)];
        self.count.fetch_add(1, Ordering::Relaxed);
        for probe in 0..PROBES {
            let slot = &table[((home + probe) & self.mask) as usize];
            if slot.load(Ordering::Relaxed) == 0 {
                slot.store(key, Ordering::Relaxed);
                return true;
            }
        }
        self.unrecorded.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Starts the next generation if the current one has had its time, emptying the oldest.
    /// Called by the receiver thread now and then (more often than once a generation).
    pub fn rotate_if_due(&self, now: Instant) {
        let mut rotated = self
            .rotated
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if now.duration_since(*rotated) < self.generation {
            return;
        }
        *rotated = now;
        let next = (self.current.load(Ordering::Relaxed) + 1) % self.tables.len();
        for slot in &self.tables[next] {
            // Reading first leaves the pages never written unmapped (the memory stays that of
            // the answers, up to the budget).
            if slot.load(Ordering::Relaxed) != 0 {
                slot.store(0, Ordering::Relaxed);
            }
        }
        self.current.store(next, Ordering::Release);
    }

    /// Answers recorded (the duplicates excluded).
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Answers that found their generation full.
    pub fn unrecorded(&self) -> u64 {
        self.unrecorded.load(Ordering::Relaxed)
    }

    /// The indices remembered now, for a checkpoint.
    pub fn indices(&self) -> impl Iterator<Item = u64> + '_ {
        self.tables.iter().flat_map(|table| {
            table
                .iter()
                .map(|slot| slot.load(Ordering::Relaxed))
                .filter(|&key| key != 0)
                .map(|key| key - 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_answers_for_its_generations_and_then_forgets_them() {
        let window = Window::new(3, 10, Duration::from_secs(1));
        let start = Instant::now();
        assert!(window.insert(7) && !window.insert(7), "a duplicate");
        assert!(window.contains(7) && !window.contains(8));
        window.rotate_if_due(start + Duration::from_secs(2));
        assert!(window.insert(8));
        window.rotate_if_due(start + Duration::from_secs(4));
        assert!(
            window.contains(7) && window.contains(8),
            "two generations on"
        );
        window.rotate_if_due(start + Duration::from_secs(6));
        assert!(!window.contains(7), "the generation of 7 was emptied");
        assert!(window.contains(8));
        assert_eq!(window.count(), 2);
        assert_eq!(window.memory(), Duration::from_secs(2));
        assert_eq!(window.bytes(), 3 * 1024 * 8);
    }

    #[test]
    fn a_rotation_before_its_time_does_nothing() {
        let window = Window::new(2, 4, Duration::from_secs(3600));
        assert!(window.insert(1));
        window.rotate_if_due(Instant::now());
        window.rotate_if_due(Instant::now());
        assert!(window.contains(1));
    }

    #[test]
    fn a_full_generation_counts_what_it_could_not_record() {
        // 16 slots: the 17th answer has nowhere to go.
        let window = Window::new(2, 4, Duration::from_secs(1));
        for index in 0..17 {
            assert!(window.insert(index * 1000));
        }
        assert_eq!(window.unrecorded(), 1);
        assert_eq!(window.count(), 17);
        let mut kept: Vec<u64> = window.indices().collect();
        kept.sort_unstable();
        assert_eq!(kept.len(), 16);
    }

    #[test]
    fn indices_far_apart_and_close_together_all_fit() {
        let window = Window::new(2, 12, Duration::from_secs(1));
        let indices: Vec<u64> = (0..1000)
            .map(|i| i * (1 << 33) + i)
            .chain(5000..6000)
            .collect();
        for &index in &indices {
            assert!(window.insert(index));
        }
        assert_eq!(window.unrecorded(), 0);
        assert!(indices.iter().all(|&index| window.contains(index)));
    }
}
