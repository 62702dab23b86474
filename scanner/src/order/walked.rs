//! Which probes of the scan space went out in the first pass: all of them, or (for a shard,
//! a capped or interrupted scan) the set the sender threads actually walked.

use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Walked {
    /// Every probe of the space.
    All { len: u64 },
    /// Only these: one bit per probe.
    Some { bits: Vec<u64>, count: u64 },
    /// Only this many, of a space too large for a bit per probe: which ones is not known, so
    /// silence is counted but given to no port.
    Counted { count: u64 },
}

impl Walked {
    /// The set of `indices` (each < `len`), one bit per probe of the space.
    pub fn from_indices(len: u64, indices: impl IntoIterator<Item = u64>) -> Self {
        let mut bits = vec![0u64; len.div_ceil(64) as usize];
        let mut count = 0;
        for index in indices {
            let word = &mut bits[(index / 64) as usize];
            let bit = 1 << (index % 64);
            count += u64::from(*word & bit == 0);
            *word |= bit;
        }
        if count == len {
            Self::All { len }
        } else {
            Self::Some { bits, count }
        }
    }

    /// Whether [`Self::contains`] tells which probes went out (not so for `Counted`).
    pub fn knows_which(&self) -> bool {
        !matches!(self, Self::Counted { .. })
    }

    pub fn count(&self) -> u64 {
        match self {
            Self::All { len } => *len,
            Self::Some { count, .. } | Self::Counted { count } => *count,
        }
    }

    #[inline]
    pub fn contains(&self, index: u64) -> bool {
        match self {
            Self::All { len } => index < *len,
            Self::Some { bits, .. } => bits
                .get((index / 64) as usize)
                .is_some_and(|word| word & (1 << (index % 64)) != 0),
            Self::Counted { .. } => false,
        }
    }

    /// How many probes of `range` went out.
    pub fn count_in(&self, range: Range<u64>) -> u64 {
        match self {
            Self::All { len } => range.end.min(*len).saturating_sub(range.start),
            Self::Counted { .. } => 0,
            Self::Some { bits, .. } => {
                let mut count = 0;
                let mut index = range.start;
                while index < range.end {
                    let word = (index / 64) as usize;
                    let Some(&value) = bits.get(word) else { break };
                    let from = index % 64;
                    let to = (range.end - word as u64 * 64).min(64);
                    let mask = if to == 64 { u64::MAX } else { (1 << to) - 1 } & !((1 << from) - 1);
                    count += u64::from((value & mask).count_ones());
                    index = (word as u64 + 1) * 64;
                }
                count
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ranges_like_a_plain_filter() {
        let picked: Vec<u64> = (0..300).filter(|i| i % 7 == 3 || i % 11 == 0).collect();
        let walked = Walked::from_indices(300, picked.iter().copied());
        assert_eq!(walked.count(), picked.len() as u64);
        for (start, end) in [
            (0, 300),
            (0, 0),
            (5, 64),
            (63, 65),
            (64, 128),
            (100, 299),
            (250, 400),
        ] {
            let expected = picked.iter().filter(|&&i| i >= start && i < end).count() as u64;
            assert_eq!(walked.count_in(start..end), expected, "{start}..{end}");
        }
        assert!(walked.contains(3) && !walked.contains(4) && !walked.contains(1000));
    }

    #[test]
    fn a_complete_walk_is_all() {
        let walked = Walked::from_indices(70, (0..70).rev());
        assert_eq!(walked, Walked::All { len: 70 });
        assert_eq!(walked.count_in(60..100), 10);
    }
}
