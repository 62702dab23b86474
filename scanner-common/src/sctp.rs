//! SCTP checksums and the two answers the lab responder sends, as plain byte arrays: the same
//! code runs in its XDP program and in the unit tests below.
//!
//! Checksums (RFC 9260 6.8 and appendix A): the CRC-32C (Castagnoli, reflected polynomial
//! 0x82F63B78) of the whole SCTP packet with its checksum field zero. [`crc32c`] returns the
//! standard CRC-32C value (`crc32c(b"123456789") == 0xE3069283`); the wire carries it
//! little-endian (`to_le_bytes()`), which is what Linux's `sctp_compute_cksum`
//! (`cpu_to_le32(~crc)`) and usrsctp store, and what tshark accepts as good. (RFC 2960's
//! original Adler-32, for the scanner's `--adler32`, is user space's alone: `adler2` there.)
//!
//! The loop is bounded by the input's length, and the CRC's table is a `static` (256
//! `u32`s in `.rodata`), indexed by a `u8`: no bounds check the verifier could trip on.

/// The common header: ports, verification tag, checksum (RFC 9260 3.1).
pub const HEADER_LEN: usize = crate::wire::SCTP_HEADER_LEN;
/// Offset of the checksum in the common header.
pub const CHECKSUM_AT: usize = 8;
/// A chunk header: type, flags, length.
pub const CHUNK_HEADER_LEN: usize = 4;
/// INIT and INIT ACK: chunk header, initiate tag, a_rwnd, outbound and inbound streams,
/// initial TSN (RFC 9260 3.3.2, 3.3.3).
pub const INIT_CHUNK_LEN: usize = 20;
/// The T bit of ABORT's flags: the verification tag is the receiver's own, reflected.
pub const ABORT_T_BIT: u8 = 0x01;
/// Parameter type of the State Cookie in INIT ACK (RFC 9260 3.3.3.1).
pub const STATE_COOKIE_PARAM: u16 = 7;
/// The responder's cookie: 8 opaque bytes (its own tag and the peer's).
pub const COOKIE_LEN: usize = 8;
/// An ABORT packet: common header and a bare chunk header (no error causes).
pub const ABORT_LEN: usize = HEADER_LEN + CHUNK_HEADER_LEN;
/// An INIT ACK packet: common header, INIT ACK with one parameter, the State Cookie.
pub const INIT_ACK_LEN: usize = HEADER_LEN + INIT_CHUNK_LEN + 4 + COOKIE_LEN;

/// CRC-32C, reflected polynomial (RFC 9260 appendix A).
const POLY: u32 = 0x82F6_3B78;

/// One entry per byte value: the CRC of that byte alone, without pre- or post-inversion.
static TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// A running CRC-32C: feed bytes with [`update`](Self::update) or [`byte`](Self::byte), then
/// [`finish`](Self::finish).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    #[inline(always)]
    pub const fn new() -> Self {
        Self(!0)
    }

    #[inline(always)]
    pub fn byte(self, byte: u8) -> Self {
        Self((self.0 >> 8) ^ TABLE[usize::from((self.0 as u8) ^ byte)])
    }

    #[inline(always)]
    pub fn update(mut self, bytes: &[u8]) -> Self {
        for &byte in bytes {
            self = self.byte(byte);
        }
        self
    }

    /// The standard CRC-32C value; SCTP stores its `to_le_bytes()`.
    #[inline(always)]
    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// The standard CRC-32C of `bytes`.
#[inline(always)]
pub fn crc32c(bytes: &[u8]) -> u32 {
    Crc32c::new().update(bytes).finish()
}

/// Writes the CRC-32C of `packet` (an SCTP packet, checksum field ignored) into its checksum
/// field.
#[inline(always)]
pub fn seal<const N: usize>(packet: &mut [u8; N]) {
    packet[CHECKSUM_AT..CHECKSUM_AT + 4].fill(0);
    let crc = crc32c(packet);
    packet[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Whether `packet`'s checksum field holds the CRC-32C of the rest (computed with it zero).
pub fn crc32c_is_valid(packet: &[u8]) -> bool {
    let Some(stored) = packet.get(CHECKSUM_AT..CHECKSUM_AT + 4) else {
        return false;
    };
    let crc = Crc32c::new()
        .update(&packet[..CHECKSUM_AT])
        .update(&[0; 4])
        .update(&packet[CHECKSUM_AT + 4..])
        .finish();
    stored == crc.to_le_bytes()
}

/// The ports of an answer: ours (the probe's destination) and the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub ours: u16,
    pub peer: u16,
}

/// What an INIT ACK says (RFC 9260 3.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitAck {
    /// The INIT's initiate tag: the packet's verification tag.
    pub peer_tag: u32,
    /// Our initiate tag (never 0).
    pub initiate_tag: u32,
    pub a_rwnd: u32,
    pub outbound_streams: u16,
    pub inbound_streams: u16,
    pub initial_tsn: u32,
}

/// The INIT ACK packet, checksum included. Its State Cookie is `initiate_tag`, `peer_tag`.
#[inline(always)]
pub fn init_ack(ports: Ports, ack: &InitAck) -> [u8; INIT_ACK_LEN] {
    let mut packet = [0u8; INIT_ACK_LEN];
    put_header(&mut packet, ports, ack.peer_tag);
    let chunk = &mut packet[HEADER_LEN..];
    chunk[0] = crate::wire::sctp_chunk::INIT_ACK;
    chunk[2..4].copy_from_slice(&((INIT_ACK_LEN - HEADER_LEN) as u16).to_be_bytes());
    chunk[4..8].copy_from_slice(&ack.initiate_tag.to_be_bytes());
    chunk[8..12].copy_from_slice(&ack.a_rwnd.to_be_bytes());
    chunk[12..14].copy_from_slice(&ack.outbound_streams.to_be_bytes());
    chunk[14..16].copy_from_slice(&ack.inbound_streams.to_be_bytes());
    chunk[16..20].copy_from_slice(&ack.initial_tsn.to_be_bytes());
    let param = &mut chunk[INIT_CHUNK_LEN..];
    param[0..2].copy_from_slice(&STATE_COOKIE_PARAM.to_be_bytes());
    param[2..4].copy_from_slice(&((4 + COOKIE_LEN) as u16).to_be_bytes());
    param[4..8].copy_from_slice(&ack.initiate_tag.to_be_bytes());
    param[8..12].copy_from_slice(&ack.peer_tag.to_be_bytes());
    seal(&mut packet);
    packet
}

/// An ABORT packet without error causes, checksum included. `reflected`: the T bit, set when
/// `verification_tag` is the one the peer's packet carried (RFC 9260 3.3.7, 8.4 item 8), clear
/// when it is the INIT's initiate tag (8.4 item 3).
#[inline(always)]
pub fn abort(ports: Ports, verification_tag: u32, reflected: bool) -> [u8; ABORT_LEN] {
    let mut packet = [0u8; ABORT_LEN];
    put_header(&mut packet, ports, verification_tag);
    let chunk = &mut packet[HEADER_LEN..];
    chunk[0] = crate::wire::sctp_chunk::ABORT;
    chunk[1] = if reflected { ABORT_T_BIT } else { 0 };
    chunk[2..4].copy_from_slice(&(CHUNK_HEADER_LEN as u16).to_be_bytes());
    seal(&mut packet);
    packet
}

#[inline(always)]
fn put_header(packet: &mut [u8], ports: Ports, verification_tag: u32) {
    packet[0..2].copy_from_slice(&ports.ours.to_be_bytes());
    packet[2..4].copy_from_slice(&ports.peer.to_be_bytes());
    packet[4..8].copy_from_slice(&verification_tag.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_published_vectors() {
        // The check value of the CRC-32C catalogue entry.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 (iSCSI) B.4.
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xff; 32]), 0x62A8_AB43);
        let ascending: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        let descending: [u8; 32] = core::array::from_fn(|i| 31 - i as u8);
        assert_eq!(crc32c(&descending), 0x113F_DB5C);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn crc32c_matches_the_crc32c_crate_and_runs_incrementally() {
        let bytes: [u8; 1000] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        assert_eq!(crc32c(&bytes), ::crc32c::crc32c(&bytes));
        let split = Crc32c::new()
            .update(&bytes[..333])
            .update(&bytes[333..])
            .finish();
        assert_eq!(split, crc32c(&bytes));
    }

    /// nmap 7.93's -sY INIT to 198.18.0.2 port 80 (a lab capture), checksum as it arrived:
    /// initiate tag 0x5373f8c8, a_rwnd 32768, 10 outbound and 2048 inbound streams.
    const NMAP_INIT: [u8; 32] = [
        0xe7, 0xa2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0xa9, 0xef, 0x10, 0xca, 0x01, 0x00, 0x00,
        0x14, 0x53, 0x73, 0xf8, 0xc8, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0a, 0x08, 0x00, 0x97, 0x1b,
        0x26, 0xa4,
    ];

    #[test]
    fn answers_are_well_formed() {
        let ports = Ports {
            ours: 80,
            peer: 40000,
        };
        let ack = InitAck {
            peer_tag: 0x0102_0304,
            initiate_tag: 0xa0b0_c0d0,
            a_rwnd: 106_496,
            outbound_streams: 10,
            inbound_streams: 65535,
            initial_tsn: 0xa0b0_c0d0,
        };
        let packet = init_ack(ports, &ack);
        assert!(crc32c_is_valid(&packet));
        assert_eq!(&packet[..8], &[0, 80, 0x9c, 0x40, 1, 2, 3, 4]);
        assert_eq!(&packet[12..16], &[2, 0, 0, 32]); // INIT ACK, flags 0, length 32
        assert_eq!(&packet[16..20], &[0xa0, 0xb0, 0xc0, 0xd0]);
        assert_eq!(&packet[20..24], &106_496u32.to_be_bytes());
        assert_eq!(&packet[24..28], &[0, 10, 0xff, 0xff]);
        assert_eq!(&packet[32..36], &[0, 7, 0, 12]); // State Cookie, length 12
        assert_eq!(&packet[36..44], &[0xa0, 0xb0, 0xc0, 0xd0, 1, 2, 3, 4]);

        let abort_init = abort(ports, 0x0102_0304, false);
        assert!(crc32c_is_valid(&abort_init));
        assert_eq!(&abort_init[4..8], &[1, 2, 3, 4]);
        assert_eq!(&abort_init[12..], &[6, 0, 0, 4]);
        let abort_reflected = abort(ports, 0x0102_0304, true);
        assert!(crc32c_is_valid(&abort_reflected));
        assert_eq!(&abort_reflected[12..], &[6, 1, 0, 4]);

        // A real peer's checksum validates; a flipped bit does not.
        assert!(crc32c_is_valid(&NMAP_INIT));
        let mut bad = NMAP_INIT;
        bad[20] ^= 1;
        assert!(!crc32c_is_valid(&bad));
        assert!(!crc32c_is_valid(&NMAP_INIT[..10]));
    }
}
