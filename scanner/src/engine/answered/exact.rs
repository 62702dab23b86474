//! The exact answered set of a scan small enough for it: one bit per probe of the space,
//! shared lock-free by the receiver (which sets bits) and the sender (which skips answered
//! probes on retry passes).

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Bitmap {
    bits: Box<[AtomicU64]>,
    count: AtomicU64,
    len: u64,
}

impl Bitmap {
    pub fn new(len: u64) -> Self {
        Self {
            bits: zeroed_words(len.div_ceil(64) as usize),
            count: AtomicU64::new(0),
            len,
        }
    }

    /// Marks `index` answered; true when it was not before.
    #[inline]
    pub fn insert(&self, index: u64) -> bool {
        if index >= self.len {
            return false;
        }
        let bit = 1u64 << (index % 64);
        let previous = self.bits[(index / 64) as usize].fetch_or(bit, Ordering::Relaxed);
        let fresh = previous & bit == 0;
        if fresh {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    #[inline]
    pub fn contains(&self, index: u64) -> bool {
        index < self.len
            && self.bits[(index / 64) as usize].load(Ordering::Relaxed) & (1 << (index % 64)) != 0
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The bytes of the bitmap.
    pub fn bytes(&self) -> u64 {
        self.bits.len() as u64 * 8
    }

    pub fn all(&self) -> bool {
        self.count() == self.len
    }
}

/// `words` zeroed atomics from the allocator's zeroed pages: the kernel maps them on first
/// write, so a sparse set costs only the pages it touches.
pub(super) fn zeroed_words(words: usize) -> Box<[AtomicU64]> {
    let words: Box<[u64]> = vec![0u64; words].into_boxed_slice();
    // SAFETY: AtomicU64 has the size, alignment and bit validity of u64.
    unsafe { Box::from_raw(Box::into_raw(words) as *mut [AtomicU64]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_index_once() {
        let set = Bitmap::new(130);
        assert!(set.insert(0));
        assert!(set.insert(129));
        assert!(!set.insert(129));
        assert!(!set.insert(130), "out of range");
        assert!(set.contains(129) && !set.contains(64));
        assert_eq!(set.count(), 2);
        for i in 0..130 {
            set.insert(i);
        }
        assert!(set.all());
    }
}
