//! The SCTP scans: INIT (-sY) and COOKIE ECHO (-sZ), shaped as nmap's. The cookie sits in the
//! source port, the IP ID, and the 32 bits an answer reflects: the INIT's initiate tag (which an
//! INIT-ACK or ABORT carries as its verification tag, RFC 9260 5.1 and 8.4) or the COOKIE
//! ECHO's own verification tag (which an ABORT reflects with the T bit set, 8.4).

use std::net::Ipv4Addr;

use scanner_common::{
    ReplyKind, ReplyRecord,
    cookie::{Cookie, ProbeId},
    family,
    wire::{SCTP_HEADER_LEN, ip_proto, sctp_chunk},
};

use super::{
    FrameAddrs, Probe,
    ipv4::{self, L4},
};
use crate::verdict::{PortState, Proto, Reason, Verdict};

/// nmap's INIT chunk with a zero initiate tag and initial TSN: 20 bytes, a_rwnd 32768, 10
/// outbound and 2048 inbound streams.
pub const INIT_CHUNK: [u8; 20] = [
    sctp_chunk::INIT,
    0,
    0,
    20, // type, flags, length
    0,
    0,
    0,
    0, // initiate tag
    0,
    0,
    0x80,
    0, // a_rwnd 32768
    0,
    10,
    0x08,
    0, // outbound streams 10, inbound streams 2048
    0,
    0,
    0,
    0, // initial TSN
];
/// Where the initiate tag and the initial TSN sit in [`INIT_CHUNK`].
pub const INIT_TAG_AT: usize = 4;
pub const INIT_TSN_AT: usize = 16;
/// nmap's COOKIE ECHO: a chunk header and four bytes of (bogus) cookie.
const COOKIE_ECHO_CHUNK: [u8; 8] = [sctp_chunk::COOKIE_ECHO, 0, 0, 8, 0, 0, 0, 0];

/// Where the per-probe fields sit in the frame.
mod at {
    use super::{L4, SCTP_HEADER_LEN};
    pub const SRC_PORT: usize = L4;
    pub const DST_PORT: usize = L4 + 2;
    pub const VTAG: usize = L4 + 4;
    pub const CHECKSUM: usize = L4 + 8;
    pub const CHUNK: usize = L4 + SCTP_HEADER_LEN;
}

/// The chunk a scan sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// -sY: INIT-ACK open, ABORT closed, silence filtered.
    Init,
    /// -sZ: ABORT closed, silence open|filtered.
    CookieEcho,
}

/// The SCTP checksum algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Checksum {
    /// CRC32c (RFC 9260 appendix A), the standard.
    #[default]
    Crc32c,
    /// Adler-32, RFC 2960's original (nmap's --adler32), for old stacks.
    Adler32,
}

impl Checksum {
    /// The checksum field of an SCTP packet whose checksum field is zero, as it goes on the
    /// wire: CRC32c little-endian (as Linux and usrsctp store it), Adler-32 in network order.
    pub fn field(self, packet: &[u8]) -> [u8; 4] {
        match self {
            Checksum::Crc32c => crc32c::crc32c(packet).to_le_bytes(),
            Checksum::Adler32 => adler2::adler32_slice(packet).to_be_bytes(),
        }
    }
}

pub struct Sctp {
    chunk: Chunk,
    checksum: Checksum,
    template: Vec<u8>,
    ip: ipv4::Header,
    port_base: u16,
    port_mask: u16,
}

impl Sctp {
    pub fn new(
        addrs: FrameAddrs,
        chunk: Chunk,
        checksum: Checksum,
        port_base: u16,
        port_mask: u16,
    ) -> Self {
        let body: &[u8] = match chunk {
            Chunk::Init => &INIT_CHUNK,
            Chunk::CookieEcho => &COOKIE_ECHO_CHUNK,
        };
        let sctp_len = SCTP_HEADER_LEN + body.len();
        let mut template = vec![0u8; L4 + sctp_len];
        let ip = ipv4::Header::write(&mut template, &addrs, ip_proto::SCTP, sctp_len);
        template[at::CHUNK..].copy_from_slice(body);
        Self {
            chunk,
            checksum,
            template,
            ip,
            port_base,
            port_mask,
        }
    }
}

impl Probe for Sctp {
    const PROTO: Proto = Proto::Sctp;
    const XDP_FAMILIES: u32 = family::SCTP;

    fn id(&self, source: Ipv4Addr, target: Ipv4Addr, port: u16) -> ProbeId {
        ProbeId::port_scan(u32::from(source), u32::from(target), port, ip_proto::SCTP)
    }

    fn template(&self) -> &[u8] {
        &self.template
    }

    #[inline]
    fn patch(
        &self,
        frame: &mut [u8],
        target: Ipv4Addr,
        port: u16,
        cookie: Cookie,
        _attempt: u32,
    ) -> usize {
        let len = self.template.len();
        let frame = &mut frame[..len];
        let tag = cookie.tcp_seq().to_be_bytes();
        self.ip.patch(frame, cookie.ip_id(), target);
        let sport = cookie.source_port(self.port_base, self.port_mask);
        frame[at::SRC_PORT..at::SRC_PORT + 2].copy_from_slice(&sport.to_be_bytes());
        frame[at::DST_PORT..at::DST_PORT + 2].copy_from_slice(&port.to_be_bytes());
        match self.chunk {
            Chunk::Init => {
                let chunk = at::CHUNK;
                frame[chunk + INIT_TAG_AT..chunk + INIT_TAG_AT + 4].copy_from_slice(&tag);
                frame[chunk + INIT_TSN_AT..chunk + INIT_TSN_AT + 4].copy_from_slice(&tag);
            }
            Chunk::CookieEcho => {
                frame[at::VTAG..at::VTAG + 4].copy_from_slice(&tag);
                frame[at::CHUNK + 4..at::CHUNK + 8].copy_from_slice(&tag);
            }
        }
        frame[at::CHECKSUM..at::CHECKSUM + 4].fill(0);
        let checksum = self.checksum.field(&frame[L4..]);
        frame[at::CHECKSUM..at::CHECKSUM + 4].copy_from_slice(&checksum);
        len
    }

    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict> {
        match (ReplyKind::from_u8(reply.kind)?, self.chunk) {
            (ReplyKind::SctpReply, Chunk::Init) if reply.sctp_chunk == sctp_chunk::INIT_ACK => {
                Some(Verdict::new(PortState::Open, Reason::InitAck))
            }
            (ReplyKind::SctpReply, _) if reply.sctp_chunk == sctp_chunk::ABORT => {
                Some(Verdict::new(PortState::Closed, Reason::Abort))
            }
            // nmap: type 3 codes 0-3, 9, 10, 13 and time exceeded filter the port.
            (ReplyKind::IcmpError, _) => Reason::of_icmp_error(reply.icmp_type, reply.icmp_code)
                .map(|reason| Verdict::new(PortState::Filtered, reason)),
            _ => None,
        }
    }

    fn silent_verdict(&self) -> Verdict {
        match self.chunk {
            Chunk::Init => Verdict::new(PortState::Filtered, Reason::NoResponse),
            Chunk::CookieEcho => Verdict::new(PortState::OpenFiltered, Reason::NoResponse),
        }
    }

    fn source_port(&self, cookie: Cookie) -> Option<u16> {
        Some(cookie.source_port(self.port_base, self.port_mask))
    }
}

#[cfg(test)]
mod tests {
    use pnet_packet::{Packet, ethernet::EthernetPacket, ipv4::Ipv4Packet};
    use scanner_common::cookie::Key;

    use super::*;

    const ADDRS: FrameAddrs = FrameAddrs {
        source_mac: [2, 0, 0, 0, 0, 1],
        next_hop_mac: [2, 0, 0, 0, 0, 2],
        source_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 128, 3);

    /// The SCTP packets of nmap 7.93's -sY and -sZ probes to 198.18.128.3:80, captured in the
    /// lab with tcpdump.
    const NMAP_INIT: [u8; 32] = [
        0x97, 0xae, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x02, 0x22, 0xe1, 0x52, 0x01, 0x00, 0x00,
        0x14, 0x47, 0xdf, 0x96, 0x6a, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0a, 0x08, 0x00, 0x94, 0x8e,
        0xf9, 0xd0,
    ];
    const NMAP_COOKIE_ECHO: [u8; 20] = [
        0xb9, 0x70, 0x00, 0x50, 0x8c, 0x5a, 0x54, 0x5d, 0xbd, 0x88, 0xaa, 0x84, 0x0a, 0x00, 0x00,
        0x08, 0xbc, 0xfa, 0xdd, 0xd3,
    ];

    fn probe(chunk: Chunk, checksum: Checksum) -> (Vec<u8>, Cookie) {
        let scan = Sctp::new(ADDRS, chunk, checksum, 32768, 0x7fff);
        let key = Key { k0: 7, k1: 11 };
        let cookie = Cookie::of(&key, &scan.id(ADDRS.source_ip, TARGET, 80));
        let mut frame = scan.template().to_vec();
        let len = scan.patch(&mut frame, TARGET, 80, cookie, 0);
        frame.truncate(len);
        (frame, cookie)
    }

    fn sctp_of(frame: &[u8]) -> Vec<u8> {
        let eth = EthernetPacket::new(frame).unwrap();
        let ip = Ipv4Packet::new(eth.payload()).unwrap();
        assert_eq!(ip.get_checksum(), pnet_packet::ipv4::checksum(&ip));
        assert_eq!(ip.get_next_level_protocol().0, 132);
        ip.payload().to_vec()
    }

    /// Our packets are nmap's, field for field, but for what is random in nmap's (ports, tags,
    /// TSN, cookie bytes) and the checksum over them.
    #[test]
    fn chunks_are_laid_out_as_nmaps_captured_probes() {
        let random_init = [0..2, 8..12, 16..20, 28..32];
        let random_echo = [0..2, 4..12, 16..20];
        for (chunk, nmap, random) in [
            (Chunk::Init, &NMAP_INIT[..], &random_init[..]),
            (Chunk::CookieEcho, &NMAP_COOKIE_ECHO[..], &random_echo[..]),
        ] {
            let (frame, cookie) = probe(chunk, Checksum::Crc32c);
            let ours = sctp_of(&frame);
            assert_eq!(ours.len(), nmap.len(), "{chunk:?}");
            let fixed = |bytes: &[u8]| -> Vec<u8> {
                let mut bytes = bytes.to_vec();
                for range in random {
                    bytes[range.clone()].fill(0);
                }
                bytes
            };
            assert_eq!(fixed(&ours), fixed(nmap), "{chunk:?}");
            let sport = u16::from_be_bytes([ours[0], ours[1]]);
            assert_eq!(sport, cookie.source_port(32768, 0x7fff));
            let tag_at = match chunk {
                Chunk::Init => 16,
                Chunk::CookieEcho => 4,
            };
            let tag = u32::from_be_bytes(ours[tag_at..tag_at + 4].try_into().unwrap());
            assert_eq!(tag, cookie.tcp_seq(), "{chunk:?}: the cookie is in the tag");
        }
    }

    /// Our checksum of nmap's captured packets is the checksum nmap put there: same algorithm,
    /// same byte order on the wire.
    #[test]
    fn checksums_agree_with_nmaps_packets_and_published_vectors() {
        for nmap in [&NMAP_INIT[..], &NMAP_COOKIE_ECHO[..]] {
            let mut zeroed = nmap.to_vec();
            zeroed[8..12].fill(0);
            assert_eq!(Checksum::Crc32c.field(&zeroed), nmap[8..12]);
        }
        // RFC 3720 B.4 and the usual check value; Adler-32's from RFC 1950's definition.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c::crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        assert_eq!(
            Checksum::Crc32c.field(b"123456789"),
            0xe306_9283u32.to_le_bytes()
        );
        assert_eq!(
            Checksum::Adler32.field(b"Wikipedia"),
            0x11e6_0398u32.to_be_bytes()
        );
        // Our own probes verify under their algorithm.
        for checksum in [Checksum::Crc32c, Checksum::Adler32] {
            let (frame, _) = probe(Chunk::Init, checksum);
            let sctp = sctp_of(&frame);
            let mut zeroed = sctp.clone();
            zeroed[8..12].fill(0);
            assert_eq!(checksum.field(&zeroed), sctp[8..12], "{checksum:?}");
        }
    }

    #[test]
    fn verdicts_follow_nmap() {
        let record = |kind: ReplyKind, sctp_chunk: u8, icmp_type: u8, icmp_code: u8| ReplyRecord {
            kind: kind as u8,
            sctp_chunk,
            icmp_type,
            icmp_code,
            ..Default::default()
        };
        let init = Sctp::new(ADDRS, Chunk::Init, Checksum::Crc32c, 32768, 0x7fff);
        let echo = Sctp::new(ADDRS, Chunk::CookieEcho, Checksum::Crc32c, 32768, 0x7fff);
        let init_ack = record(ReplyKind::SctpReply, sctp_chunk::INIT_ACK, 0, 0);
        let abort = record(ReplyKind::SctpReply, sctp_chunk::ABORT, 0, 0);
        let verdict = |state, reason| Some(Verdict::new(state, reason));
        assert_eq!(
            init.verdict(&init_ack),
            verdict(PortState::Open, Reason::InitAck)
        );
        assert_eq!(
            init.verdict(&abort),
            verdict(PortState::Closed, Reason::Abort)
        );
        assert_eq!(
            echo.verdict(&abort),
            verdict(PortState::Closed, Reason::Abort)
        );
        assert_eq!(
            echo.verdict(&init_ack),
            None,
            "not an answer to a COOKIE ECHO"
        );
        for scan in [&init, &echo] {
            for (code, reason) in [
                (1, Reason::HostUnreach),
                (2, Reason::ProtoUnreach),
                (3, Reason::PortUnreach),
                (9, Reason::NetProhibited),
                (10, Reason::HostProhibited),
                (13, Reason::AdminProhibited),
            ] {
                let error = record(ReplyKind::IcmpError, 0, 3, code);
                assert_eq!(scan.verdict(&error), verdict(PortState::Filtered, reason));
            }
            let shutdown = record(ReplyKind::SctpReply, 7, 0, 0);
            assert_eq!(scan.verdict(&shutdown), None);
        }
        assert_eq!(
            init.silent_verdict(),
            Verdict::new(PortState::Filtered, Reason::NoResponse)
        );
        assert_eq!(
            echo.silent_verdict(),
            Verdict::new(PortState::OpenFiltered, Reason::NoResponse)
        );
    }
}
