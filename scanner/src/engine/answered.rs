//! Which probes got a conclusive answer: one bit per probe of the scan space, shared lock-free
//! by the receiver (which sets bits) and the sender (which skips answered probes on retries).

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Answered {
    bits: Box<[AtomicU64]>,
    count: AtomicU64,
    len: u64,
}

impl Answered {
    pub fn new(len: u64) -> Self {
        let words = len.div_ceil(64) as usize;
        Self {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
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

    pub fn all(&self) -> bool {
        self.count() == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_index_once() {
        let set = Answered::new(130);
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
