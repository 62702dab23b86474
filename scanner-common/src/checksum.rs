//! The Internet checksum (RFC 1071) as a running one's-complement sum, so templates can sum
//! their fixed words once and each probe adds only the words it changes. Straight-line code
//! (but for [`Sum::of`]): the responder's XDP program sums its fixed-size headers with it too.

/// An unfolded 32-bit accumulator of 16-bit big-endian words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(u32);

impl Sum {
    /// Sums `bytes` as big-endian 16-bit words (a trailing odd byte is padded with zero).
    pub fn of(bytes: &[u8]) -> Self {
        let (words, rest) = bytes.as_chunks::<2>();
        let mut sum = Self::default();
        for word in words {
            sum = sum.add16(u16::from_be_bytes(*word));
        }
        if let [last] = rest {
            sum = sum.add16(u16::from_be_bytes([*last, 0]));
        }
        sum
    }

    #[inline(always)]
    pub fn add16(self, word: u16) -> Self {
        Self(self.0 + u32::from(word))
    }

    #[inline(always)]
    pub fn add32(self, value: u32) -> Self {
        self.add16((value >> 16) as u16).add16(value as u16)
    }

    #[inline(always)]
    pub fn combine(self, other: Sum) -> Self {
        // Folding first keeps both terms below 2^17, so the addition cannot overflow.
        Self(u32::from(self.fold()) + u32::from(other.fold()))
    }

    /// The checksum field's value: the one's complement of the folded sum.
    #[inline(always)]
    pub fn finish(self) -> u16 {
        !self.fold()
    }

    #[inline(always)]
    fn fold(self) -> u16 {
        let folded = (self.0 & 0xffff) + (self.0 >> 16);
        ((folded & 0xffff) + (folded >> 16)) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let sum = Sum::of(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(sum.finish(), !0xddf2);
    }

    #[test]
    fn incremental_equals_whole() {
        let mut bytes = [0u8; 1001];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = i as u8;
        }
        let whole = Sum::of(&bytes);
        let split = Sum::of(&bytes[..400]).combine(Sum::of(&bytes[400..]));
        assert_eq!(whole.finish(), split.finish());
        let by_words = Sum::of(&bytes[..996]).add32(u32::from_be_bytes([
            bytes[996], bytes[997], bytes[998], bytes[999],
        ]));
        assert_eq!(
            by_words.add16(u16::from(bytes[1000]) << 8).finish(),
            whole.finish()
        );
    }
}
