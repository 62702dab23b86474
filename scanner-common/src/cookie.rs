//! The stateless probe cookie: SipHash-2-4, keyed per scan, over what identifies a probe.
//!
//! A reply is ours when the fields it echoes (TCP acknowledgement number and destination port,
//! or the probe quoted inside an ICMP error) equal what the cookie of the probe's identity
//! predicts. No per-probe state is kept anywhere.
//!
//! The message is 16 bytes — target address, source address (both network order), port
//! (network order), IP protocol, five zero bytes — hashed with standard SipHash-2-4, so any
//! independent SipHash implementation can check it.

use bytemuck::{Pod, Zeroable};

/// A SipHash key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Key {
    pub k0: u64,
    pub k1: u64,
}

/// Who a probe goes to, from where: the input of the cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeId {
    /// Our address, as `u32::from_be_bytes` of its octets.
    pub source: u32,
    /// The target address, likewise.
    pub target: u32,
    /// The target port (host order).
    pub port: u16,
    /// The probe's IP protocol number.
    pub proto: u8,
}

impl ProbeId {
    /// The identity of a port scan's probe (SYN, SCTP): `port` of `target` in `proto`.
    #[inline(always)]
    pub const fn port_scan(source: u32, target: u32, port: u16, proto: u8) -> Self {
        Self {
            source,
            target,
            port,
            proto,
        }
    }

    /// The identity of an IP protocol scan (-sO) probe: its protocol is its "port", so the
    /// message's port is 0 (no SYN-scan probe aliases one: those have protocol 6 and a port).
    #[inline(always)]
    pub const fn ip_scan(source: u32, target: u32, protocol: u8) -> Self {
        Self {
            source,
            target,
            port: 0,
            proto: protocol,
        }
    }
}

/// The keyed hash of a [`ProbeId`]; probes carry slices of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie(pub u64);

impl Cookie {
    #[inline(always)]
    pub fn of(key: &Key, id: &ProbeId) -> Self {
        // Little-endian words of the message bytes described in the module docs.
        let m0 = u64::from(id.target.swap_bytes()) | (u64::from(id.source.swap_bytes()) << 32);
        let m1 = u64::from(id.port.swap_bytes()) | (u64::from(id.proto) << 16);
        Self(siphash24_16(key, m0, m1))
    }

    /// The TCP sequence number of the probe; a SYN-ACK or RST acknowledges it plus one.
    #[inline(always)]
    pub fn tcp_seq(self) -> u32 {
        self.0 as u32
    }

    /// The probe's source port: `base` plus cookie bits selected by `mask`.
    #[inline(always)]
    pub fn source_port(self, base: u16, mask: u16) -> u16 {
        base.wrapping_add((self.0 >> 32) as u16 & mask)
    }

    /// The probe's IPv4 identification.
    #[inline(always)]
    pub fn ip_id(self) -> u16 {
        (self.0 >> 48) as u16
    }

    /// The id of a DNS query: what a DNS answer must echo (the bits of the TCP sequence
    /// number, which a UDP probe has no other use for).
    #[inline(always)]
    pub fn dns_id(self) -> u16 {
        self.0 as u16
    }

    /// The identifier and sequence number of an ICMP echo request, as the 32-bit word they
    /// form on the wire (identifier high). The identifier is never 0: some hosts ignore such
    /// requests (nmap avoids it too).
    #[inline(always)]
    pub fn echo_word(self) -> u32 {
        self.tcp_seq() | 1 << 16
    }
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of exactly 16 message bytes given as two little-endian words: straight-line
/// code, which the BPF verifier accepts without loops.
#[inline(always)]
pub fn siphash24_16(key: &Key, m0: u64, m1: u64) -> u64 {
    let mut v = [
        key.k0 ^ 0x736f_6d65_7073_6575,
        key.k1 ^ 0x646f_7261_6e64_6f6d,
        key.k0 ^ 0x6c79_6765_6e65_7261,
        key.k1 ^ 0x7465_6462_7974_6573,
    ];
    let last = 16u64 << 56;
    for m in [m0, m1, last] {
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    fn reference(key: &Key, bytes: &[u8]) -> u64 {
        let mut h = siphasher::sip::SipHasher24::new_with_keys(key.k0, key.k1);
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn matches_the_siphash_paper_vector() {
        // Appendix A of Aumasson & Bernstein: key 00..0f, message 00..0e (15 bytes) is
        // a129ca6149be45e5; check our 16-byte variant against the reference crate instead,
        // and the reference crate against the paper.
        let key = Key {
            k0: u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]),
            k1: u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
        };
        let fifteen: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(reference(&key, &fifteen), 0xa129_ca61_49be_45e5);
        let sixteen: [u8; 16] = core::array::from_fn(|i| i as u8);
        let m0 = u64::from_le_bytes(sixteen[..8].try_into().unwrap());
        let m1 = u64::from_le_bytes(sixteen[8..].try_into().unwrap());
        assert_eq!(siphash24_16(&key, m0, m1), reference(&key, &sixteen));
    }

    #[test]
    fn cookie_is_siphash_of_the_documented_message() {
        let key = Key {
            k0: 0x0123_4567_89ab_cdef,
            k1: 0xfedc_ba98_7654_3210,
        };
        let id = ProbeId {
            source: u32::from_be_bytes([198, 18, 0, 1]),
            target: u32::from_be_bytes([198, 18, 128, 7]),
            port: 8080,
            proto: 6,
        };
        let mut msg = [0u8; 16];
        msg[..4].copy_from_slice(&[198, 18, 128, 7]);
        msg[4..8].copy_from_slice(&[198, 18, 0, 1]);
        msg[8..10].copy_from_slice(&8080u16.to_be_bytes());
        msg[10] = 6;
        assert_eq!(Cookie::of(&key, &id).0, reference(&key, &msg));
    }

    #[test]
    fn cookie_depends_on_every_input_and_the_key() {
        let key = Key { k0: 1, k1: 2 };
        let id = ProbeId {
            source: 0xc612_0001,
            target: 0xc612_8001,
            port: 80,
            proto: 6,
        };
        let base = Cookie::of(&key, &id);
        let variants = [
            ProbeId {
                source: 0xc612_0002,
                ..id
            },
            ProbeId {
                target: 0xc612_8002,
                ..id
            },
            ProbeId { port: 81, ..id },
            ProbeId { proto: 17, ..id },
        ];
        for v in variants {
            assert_ne!(Cookie::of(&key, &v), base, "{v:?}");
        }
        assert_ne!(Cookie::of(&Key { k0: 1, k1: 3 }, &id), base);
    }

    #[test]
    fn echo_identifier_is_never_zero() {
        for raw in [0u64, 0xffff, 0x1_0000, u64::MAX] {
            assert_ne!(Cookie(raw).echo_word() >> 16, 0);
            assert_eq!(Cookie(raw).echo_word() as u16, raw as u16);
        }
    }

    #[test]
    fn ip_scan_ids_never_alias_port_scan_ids() {
        let id = ProbeId::ip_scan(1, 2, 6);
        assert_eq!((id.port, id.proto), (0, 6));
    }

    #[test]
    fn source_port_stays_in_its_range() {
        for raw in [0u64, u64::MAX, 0x0000_7fff_0000_0000, 0x1234_5678_9abc_def0] {
            let port = Cookie(raw).source_port(32768, 0x7fff);
            assert!(port >= 32768, "{port}");
            assert_eq!(Cookie(raw).source_port(40000, 0), 40000);
        }
    }
}
