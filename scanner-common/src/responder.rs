//! The lab responder's ground truth: which (address, port, protocol) answers open, closed or
//! nothing, decided by a keyed hash, so the XDP program that answers probes (in the kernel)
//! and whoever checks a scan against it (user space: tests, benchmarks) compute the same
//! answer with [`truth`] and never need a table.
//!
//! The message is 16 bytes — address (network order), port (network order), IP protocol, a
//! domain byte `b'R'`, eight zero bytes — hashed with SipHash-2-4 under a key derived from a
//! seed ([`Key::from_seed`]). The low 16 bits of the hash are a draw in `0..65536`: below
//! `open_share` the port is open, below `open_share + closed_share` closed, otherwise silent.
//! The high 32 bits are the initial sequence number of a SYN-ACK.
//!
//! Protocols: the protocol number is part of the message, so each protocol has its own truth.
//! The XDP program answers TCP SYNs (SYN-ACK or RST-ACK) and SCTP INITs (INIT ACK or ABORT)
//! and COOKIE ECHOs (nothing or ABORT), this same function deciding for both protocols.

use bytemuck::{Pod, Zeroable};

use crate::cookie::{Key, siphash24_16};

/// Name of the XDP program in the responder's object file.
pub const PROGRAM: &str = "responder";
/// Name of the global holding the [`ResponderConfig`].
pub const CONFIG_GLOBAL: &str = "RESPONDER_CONFIG";
/// Name of the per-CPU array of counters, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "RESPONDER_COUNTERS";

/// A share of all (address, port) pairs, in parts of [`Share::ONE`] (65536).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Pod, Zeroable)]
pub struct Share(pub u32);

impl Share {
    /// All of them.
    pub const ONE: Share = Share(1 << 16);
    pub const ZERO: Share = Share(0);

    /// The share nearest to `fraction`, which must be a number in `[0, 1]`.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_fraction(fraction: f64) -> Result<Share, ShareError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(ShareError::OutOfRange);
        }
        // In [0, 65536.5): the cast cannot overflow, and + 0.5 rounds to the nearest part.
        Ok(Share((fraction * f64::from(Self::ONE.0) + 0.5) as u32))
    }

    /// The open and closed shares of two fractions: each in `[0, 1]`, together at most 1
    /// (up to rounding: fractions that add up to 1 in decimal give shares that add up to
    /// [`Share::ONE`] exactly).
    #[cfg(not(target_arch = "bpf"))]
    pub fn split(open: f64, closed: f64) -> Result<(Share, Share), ShareError> {
        let (open_share, closed_share) = (Self::from_fraction(open)?, Self::from_fraction(closed)?);
        if open + closed > 1.0 + 1e-9 {
            return Err(ShareError::SumAboveOne);
        }
        let closed_share = Share(closed_share.0.min(Self::ONE.0 - open_share.0));
        Ok((open_share, closed_share))
    }

    /// The share as a fraction (exact: every share is a multiple of 2^-16).
    #[cfg(not(target_arch = "bpf"))]
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE.0)
    }
}

/// Why shares were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareError {
    /// A share below 0, above 1, or not a number.
    OutOfRange,
    /// Open and closed together above 1.
    SumAboveOne,
}

impl core::fmt::Display for ShareError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ShareError::OutOfRange => "a share must be a number from 0 to 1",
            ShareError::SumAboveOne => "the open and closed shares together must not exceed 1",
        })
    }
}

/// What the responder does with a probe of one (address, port, protocol).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Truth {
    /// TCP: SYN-ACK. SCTP: INIT ACK to an INIT, nothing to a COOKIE ECHO.
    Open = 0,
    /// TCP: RST-ACK. SCTP: ABORT.
    Closed = 1,
    /// No answer at all.
    Silent = 2,
}

/// The responder's configuration, loaded into the XDP program before it is attached.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ResponderConfig {
    /// Key of the truth hash ([`Key::from_seed`]).
    pub key: Key,
    /// First address of the range answered for, as `u32::from_be_bytes` of its octets.
    pub range_base: u32,
    /// The range's netmask in the same form (`!0 << (32 - prefix)`; 0 for /0).
    pub range_mask: u32,
    /// Draws below this answer open.
    pub open_share: Share,
    /// The next this many draws answer closed; the rest is silent.
    pub closed_share: Share,
}

/// [`answer`]: what to do, and with which sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub truth: Truth,
    /// The initial sequence number of a SYN-ACK.
    pub isn: u32,
}

impl Key {
    /// The key of a seed: SipHash-2-4 of the seed under the zero key, twice. The same seed
    /// gives the same ground truth everywhere.
    #[inline(always)]
    pub fn from_seed(seed: u64) -> Key {
        let zero = Key { k0: 0, k1: 0 };
        Key {
            k0: siphash24_16(&zero, seed, 0),
            k1: siphash24_16(&zero, seed, 1),
        }
    }
}

impl ResponderConfig {
    /// The configuration for `seed`, answering for `range_base/prefix` (host bits of
    /// `range_base` are ignored; a prefix above 32 counts as 32).
    pub fn new(
        seed: u64,
        range_base: u32,
        prefix: u8,
        open_share: Share,
        closed_share: Share,
    ) -> Result<Self, ShareError> {
        if open_share > Share::ONE || closed_share > Share::ONE {
            return Err(ShareError::OutOfRange);
        }
        if open_share.0 + closed_share.0 > Share::ONE.0 {
            return Err(ShareError::SumAboveOne);
        }
        let range_mask = match prefix {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        };
        Ok(ResponderConfig {
            key: Key::from_seed(seed),
            range_base: range_base & range_mask,
            range_mask,
            open_share,
            closed_share,
        })
    }

    /// Whether the responder answers for `address` (`u32::from_be_bytes` of its octets).
    #[inline(always)]
    pub fn covers(&self, address: u32) -> bool {
        address & self.range_mask == self.range_base
    }

    /// How many addresses the range holds.
    pub fn range_len(&self) -> u64 {
        u64::from(!self.range_mask) + 1
    }
}

/// What the responder answers to a probe of `port` on `address` (`u32::from_be_bytes` of its
/// octets) in IP protocol `ip_proto`, and the sequence number a SYN-ACK carries. Meaningful
/// for addresses the configuration [covers](ResponderConfig::covers).
#[inline(always)]
pub fn answer(config: &ResponderConfig, address: u32, port: u16, ip_proto: u8) -> Answer {
    // Little-endian words of the message bytes described in the module docs.
    let m0 = u64::from(address.swap_bytes())
        | (u64::from(port.swap_bytes()) << 32)
        | (u64::from(ip_proto) << 48)
        | (u64::from(b'R') << 56);
    let hash = siphash24_16(&config.key, m0, 0);
    let draw = (hash & 0xffff) as u32;
    let truth = if draw < config.open_share.0 {
        Truth::Open
    } else if draw < config.open_share.0.saturating_add(config.closed_share.0) {
        Truth::Closed
    } else {
        Truth::Silent
    };
    Answer {
        truth,
        isn: (hash >> 32) as u32,
    }
}

/// The ground truth of one (address, port, protocol): see [`answer`].
#[inline(always)]
pub fn truth(config: &ResponderConfig, address: u32, port: u16, ip_proto: u8) -> Truth {
    answer(config, address, port, ip_proto).truth
}

/// Per-CPU counters of the responder, indices into [`COUNTERS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every packet the program saw.
    Packets = 0,
    /// Probes to an address of the range: TCP segments with SYN and without ACK or RST; SCTP
    /// packets whose first chunk is a valid INIT or COOKIE ECHO.
    Probes = 1,
    /// Probes answered open (SYN-ACK, INIT ACK).
    Open = 2,
    /// Probes answered closed (RST-ACK, ABORT).
    Closed = 3,
    /// Probes dropped without an answer (silent ports; COOKIE ECHOs to open SCTP ports).
    Silent = 4,
    /// IPv4 packets to the range the program could not parse (truncated headers, lengths that
    /// disagree, IP options, fragments) or, rarely, could not rewrite into an answer (a probe
    /// then counts here as well as in `Probes`): passed to the kernel. Also SCTP packets that
    /// RFC 9260 says to discard silently (bad CRC-32C, a bundled INIT...): dropped.
    Malformed = 5,
    /// `bpf_ktime_get_ns()` of this CPU's first probe (0: none yet).
    FirstProbeNs = 6,
    /// `bpf_ktime_get_ns()` of this CPU's latest probe.
    LastProbeNs = 7,
}

impl Counter {
    pub const COUNT: u32 = 8;
    pub const ALL: [Counter; Self::COUNT as usize] = [
        Self::Packets,
        Self::Probes,
        Self::Open,
        Self::Closed,
        Self::Silent,
        Self::Malformed,
        Self::FirstProbeNs,
        Self::LastProbeNs,
    ];
}

/// The responder's counters over all CPUs: what `scanner responder` prints when it stops, as
/// a JSON object keyed by [`Counts::named`]'s names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub probes: u64,
    pub open: u64,
    pub closed: u64,
    pub silent: u64,
    pub malformed: u64,
    /// CLOCK_MONOTONIC of the first probe seen (0: none).
    pub first_probe_ns: u64,
    /// CLOCK_MONOTONIC of the last probe seen.
    pub last_probe_ns: u64,
}

impl Counts {
    /// Adds one CPU's slots, indexed by [`Counter`]: counters add up, the first probe is the
    /// earliest of any CPU, the last the latest.
    pub fn add_cpu(&mut self, slots: &[u64; Counter::COUNT as usize]) {
        let slot = |counter: Counter| slots[counter as usize];
        self.packets += slot(Counter::Packets);
        self.probes += slot(Counter::Probes);
        self.open += slot(Counter::Open);
        self.closed += slot(Counter::Closed);
        self.silent += slot(Counter::Silent);
        self.malformed += slot(Counter::Malformed);
        let first = slot(Counter::FirstProbeNs);
        if first != 0 && (self.first_probe_ns == 0 || first < self.first_probe_ns) {
            self.first_probe_ns = first;
        }
        self.last_probe_ns = self.last_probe_ns.max(slot(Counter::LastProbeNs));
    }

    /// Each counter with its name (the keys of the JSON object `scanner responder` prints).
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("packets", self.packets),
            ("probes", self.probes),
            ("open", self.open),
            ("closed", self.closed),
            ("silent", self.silent),
            ("malformed", self.malformed),
            ("first_probe_ns", self.first_probe_ns),
            ("last_probe_ns", self.last_probe_ns),
        ]
    }

    /// The counters from their names ([`named`](Self::named)); `None` when one is missing.
    pub fn from_named(value_of: impl Fn(&str) -> Option<u64>) -> Option<Counts> {
        Some(Counts {
            packets: value_of("packets")?,
            probes: value_of("probes")?,
            open: value_of("open")?,
            closed: value_of("closed")?,
            silent: value_of("silent")?,
            malformed: value_of("malformed")?,
            first_probe_ns: value_of("first_probe_ns")?,
            last_probe_ns: value_of("last_probe_ns")?,
        })
    }

    /// From the first probe to the last one, in nanoseconds: the time probes took to arrive.
    pub fn probe_span_ns(&self) -> u64 {
        self.last_probe_ns.saturating_sub(self.first_probe_ns)
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: `#[repr(C)]`, `Pod` (checked by bytemuck's derive), as aya requires of globals.
    unsafe impl aya::Pod for super::ResponderConfig {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    fn config(open: u32, closed: u32) -> ResponderConfig {
        ResponderConfig::new(7, 0xc613_0000, 16, Share(open), Share(closed)).unwrap()
    }

    #[test]
    fn layout_has_no_hidden_padding() {
        assert_eq!(core::mem::size_of::<ResponderConfig>(), 32);
    }

    #[test]
    fn hash_is_siphash_of_the_documented_message() {
        let config = config(1000, 1000);
        let mut reference =
            siphasher::sip::SipHasher24::new_with_keys(config.key.k0, config.key.k1);
        let mut msg = [0u8; 16];
        msg[..4].copy_from_slice(&[198, 19, 1, 2]);
        msg[4..6].copy_from_slice(&443u16.to_be_bytes());
        msg[6] = 6;
        msg[7] = b'R';
        reference.write(&msg);
        let hash = reference.finish();
        let got = answer(&config, u32::from_be_bytes([198, 19, 1, 2]), 443, 6);
        assert_eq!(got.isn, (hash >> 32) as u32);
        let draw = (hash & 0xffff) as u32;
        let expected = if draw < 1000 {
            Truth::Open
        } else if draw < 2000 {
            Truth::Closed
        } else {
            Truth::Silent
        };
        assert_eq!(got.truth, expected);
    }

    #[test]
    fn shares_are_honoured_over_a_slash_16() {
        let (open, closed) = (Share(6554), Share(32768)); // 0.1 and 0.5
        let config = ResponderConfig::new(1, 0xc613_0000, 16, open, closed).unwrap();
        let mut counts = [0u32; 3];
        for address in 0xc613_0000..0xc614_0000u32 {
            counts[truth(&config, address, 80, 6) as usize] += 1;
        }
        let expect = |share: f64| 65536.0 * share;
        for (got, want) in counts.iter().zip([0.1, 0.5, 0.4]) {
            let got = f64::from(*got);
            assert!((got - expect(want)).abs() < 0.02 * 65536.0, "{counts:?}");
        }
    }

    #[test]
    fn extremes_and_independence() {
        let all_open = config(Share::ONE.0, 0);
        let all_closed = config(0, Share::ONE.0);
        let none = config(0, 0);
        for address in 0xc613_0000..0xc613_0100u32 {
            assert_eq!(truth(&all_open, address, 22, 6), Truth::Open);
            assert_eq!(truth(&all_closed, address, 22, 6), Truth::Closed);
            assert_eq!(truth(&none, address, 22, 6), Truth::Silent);
        }
        // Port, protocol and seed each change the draw.
        let half = config(Share::ONE.0 / 2, 0);
        let differs = |f: &dyn Fn(u32) -> bool| (0xc613_0000..0xc613_0400u32).any(f);
        assert!(differs(
            &|a| truth(&half, a, 22, 6) != truth(&half, a, 23, 6)
        ));
        assert!(differs(
            &|a| truth(&half, a, 22, 6) != truth(&half, a, 22, 132)
        ));
        let other_seed =
            ResponderConfig::new(8, 0xc613_0000, 16, Share(Share::ONE.0 / 2), Share(0)).unwrap();
        assert!(differs(
            &|a| truth(&half, a, 22, 6) != truth(&other_seed, a, 22, 6)
        ));
    }

    #[test]
    fn ranges_and_share_validation() {
        let config = ResponderConfig::new(1, 0xc613_1234, 16, Share(1), Share(1)).unwrap();
        assert_eq!(config.range_base, 0xc613_0000);
        assert_eq!(config.range_mask, 0xffff_0000);
        assert_eq!(config.range_len(), 65536);
        assert!(config.covers(0xc613_ffff) && config.covers(0xc613_0000));
        assert!(!config.covers(0xc614_0000) && !config.covers(0xc612_ffff));
        let all = ResponderConfig::new(1, 0xc613_1234, 0, Share(1), Share(1)).unwrap();
        assert!(all.covers(0) && all.covers(u32::MAX));
        assert_eq!(all.range_len(), 1 << 32);
        let host = ResponderConfig::new(1, 0xc613_1234, 32, Share(1), Share(1)).unwrap();
        assert!(host.covers(0xc613_1234) && !host.covers(0xc613_1235));

        assert_eq!(
            ResponderConfig::new(1, 0, 16, Share(40000), Share(30000)),
            Err(ShareError::SumAboveOne)
        );
        assert_eq!(
            ResponderConfig::new(1, 0, 16, Share(65537), Share(0)),
            Err(ShareError::OutOfRange)
        );
        assert!(ResponderConfig::new(1, 0, 16, Share::ONE, Share::ZERO).is_ok());
        assert_eq!(Share::from_fraction(0.1), Ok(Share(6554)));
        assert_eq!(Share::from_fraction(1.0), Ok(Share::ONE));
        assert_eq!(Share::from_fraction(0.0), Ok(Share::ZERO));
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Share::from_fraction(bad),
                Err(ShareError::OutOfRange),
                "{bad}"
            );
        }
        assert_eq!(Share(6554).fraction(), 6554.0 / 65536.0);
        // Fractions that sum to 1 in decimal give shares that sum to ONE.
        let half_part = 0.5 / 65536.0;
        for (a, b) in [
            (0.3, 0.7),
            (0.1, 0.9),
            (0.5, 0.5),
            (half_part, 1.0 - half_part),
        ] {
            let (open, closed) = Share::split(a, b).unwrap();
            assert_eq!(open.0 + closed.0, Share::ONE.0, "{a} {b}");
            assert!(ResponderConfig::new(1, 0, 16, open, closed).is_ok());
        }
        assert_eq!(Share::split(0.6, 0.5), Err(ShareError::SumAboveOne));
        assert_eq!(Share::split(0.6, -0.1), Err(ShareError::OutOfRange));
        assert_eq!(Share::split(0.1, 0.5), Ok((Share(6554), Share(32768))));
    }

    #[test]
    fn counts_combine_cpus() {
        let mut counts = Counts::default();
        counts.add_cpu(&[10, 4, 1, 2, 1, 0, 500, 900]);
        counts.add_cpu(&[3, 0, 0, 0, 0, 1, 0, 0]);
        counts.add_cpu(&[7, 2, 0, 1, 1, 0, 300, 800]);
        assert_eq!(counts.packets, 20);
        assert_eq!(counts.probes, 6);
        assert_eq!((counts.open, counts.closed, counts.silent), (1, 3, 2));
        assert_eq!(counts.malformed, 1);
        assert_eq!(counts.first_probe_ns, 300);
        assert_eq!(counts.last_probe_ns, 900);
        assert_eq!(counts.probe_span_ns(), 600);
        let named = counts.named();
        let back =
            Counts::from_named(|name| named.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
        assert_eq!(back, Some(counts));
        assert_eq!(
            Counts::from_named(|name| (name != "silent").then_some(1)),
            None
        );
    }
}
