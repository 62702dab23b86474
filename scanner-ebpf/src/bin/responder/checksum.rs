//! The Internet checksum (RFC 1071) of the headers the responder writes: fixed sizes, straight
//! -line sums of 16-bit words, nothing the verifier has to bound.

/// Folds a 32-bit sum of 16-bit words into its ones' complement checksum.
#[inline(always)]
pub fn finish(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// The sum of a 32-bit value's two 16-bit halves.
#[inline(always)]
pub fn words(value: u32) -> u32 {
    (value >> 16) + (value & 0xffff)
}
