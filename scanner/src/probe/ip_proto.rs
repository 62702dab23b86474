//! The IP protocol scan (-sO): one probe per IP protocol number, shaped as nmap shapes it (see
//! `scanner_common::ip_scan`), and nmap's verdicts: any answer in the protocol, or an ICMP
//! port unreachable, means open; protocol unreachable from the target means closed; other
//! unreachables mean filtered; silence means open|filtered.

use std::net::Ipv4Addr;

use scanner_common::{
    ReplyKind, ReplyRecord,
    checksum::Sum,
    cookie::{Cookie, ProbeId},
    family, ip_scan,
    wire::{SCTP_HEADER_LEN, UDP_HEADER_LEN, icmp, ip_proto, tcp_flags},
};

use super::{
    FrameAddrs, Probe,
    ipv4::{self, L4},
    sctp::{self, Checksum},
};
use crate::verdict::{PortState, Proto, Reason, Verdict};

/// TCP probe's window (nmap's default when it asks for none).
const TCP_WINDOW: u16 = 1024;
/// IGMP membership query (RFC 2236).
const IGMP_QUERY: u8 = 0x11;
const SCTP_INIT_LEN: usize = sctp::INIT_CHUNK.len();

/// The longest probe: the SCTP INIT.
const MAX_FRAME: usize = L4 + SCTP_HEADER_LEN + SCTP_INIT_LEN;

/// Where the per-probe fields sit in the frame.
mod at {
    use super::L4;
    pub const SRC_PORT: usize = L4;
    pub const TCP_SEQ: usize = L4 + 4;
    pub const TCP_ACK: usize = L4 + 8;
    pub const TCP_CHECKSUM: usize = L4 + 16;
    pub const UDP_CHECKSUM: usize = L4 + 6;
    pub const ICMP_CHECKSUM: usize = L4 + 2;
    pub const ICMP_ECHO_WORD: usize = L4 + 4;
    pub const SCTP_CHECKSUM: usize = L4 + 8;
    pub const SCTP_CHUNK: usize = L4 + super::SCTP_HEADER_LEN;
}

/// The probe of one protocol, with zero in every per-probe field.
#[derive(Clone)]
struct Template {
    frame: [u8; MAX_FRAME],
    len: usize,
    ip: ipv4::Header,
    /// Sum of what the transport checksum covers (pseudo-header without the destination).
    l4_sum: Sum,
}

pub struct IpProto {
    templates: Box<[Template]>,
    port_base: u16,
    port_mask: u16,
}

impl IpProto {
    /// Probes that have a source port take it from `port_base + (cookie bits & port_mask)`.
    pub fn new(addrs: FrameAddrs, port_base: u16, port_mask: u16) -> Self {
        let templates = (0..=u8::MAX)
            .map(|protocol| Template::new(&addrs, protocol))
            .collect();
        Self {
            templates,
            port_base,
            port_mask,
        }
    }
}

impl Template {
    fn new(addrs: &FrameAddrs, protocol: u8) -> Self {
        let mut frame = [0u8; MAX_FRAME];
        let payload: &[u8] = &match protocol {
            ip_proto::TCP => {
                let mut tcp = [0u8; 20];
                tcp[2..4].copy_from_slice(&ip_scan::TCP_PORT.to_be_bytes());
                tcp[12] = 5 << 4;
                tcp[13] = tcp_flags::ACK;
                tcp[14..16].copy_from_slice(&TCP_WINDOW.to_be_bytes());
                tcp.to_vec()
            }
            ip_proto::UDP => {
                let mut udp = [0u8; UDP_HEADER_LEN];
                udp[2..4].copy_from_slice(&ip_scan::UDP_PORT.to_be_bytes());
                udp[4..6].copy_from_slice(&(UDP_HEADER_LEN as u16).to_be_bytes());
                udp.to_vec()
            }
            ip_proto::ICMP => vec![icmp::ECHO_REQUEST, 0, 0, 0, 0, 0, 0, 0],
            ip_proto::IGMP => {
                let mut igmp = [IGMP_QUERY, 0, 0, 0, 0, 0, 0, 0];
                let check = Sum::of(&igmp).finish();
                igmp[2..4].copy_from_slice(&check.to_be_bytes());
                igmp.to_vec()
            }
            ip_proto::SCTP => {
                let mut packet = [0u8; SCTP_HEADER_LEN + SCTP_INIT_LEN];
                packet[2..4].copy_from_slice(&ip_scan::SCTP_PORT.to_be_bytes());
                packet[SCTP_HEADER_LEN..].copy_from_slice(&sctp::INIT_CHUNK);
                packet.to_vec()
            }
            _ => Vec::new(),
        };
        let len = L4 + payload.len();
        let ip = ipv4::Header::write(&mut frame, addrs, protocol, payload.len());
        frame[L4..len].copy_from_slice(payload);
        let l4_sum = match protocol {
            ip_proto::TCP | ip_proto::UDP => Sum::of(&addrs.source_ip.octets())
                .add16(u16::from(protocol))
                .add16(payload.len() as u16)
                .combine(Sum::of(payload)),
            _ => Sum::of(payload),
        };
        Self {
            frame,
            len,
            ip,
            l4_sum,
        }
    }
}

impl Probe for IpProto {
    const PROTO: Proto = Proto::Ip;
    const XDP_FAMILIES: u32 = family::IP_PROTO;
    const RATE_LIMITED_REPLIES: bool = true;

    fn id(&self, source: Ipv4Addr, target: Ipv4Addr, port: u16) -> ProbeId {
        ProbeId::ip_scan(u32::from(source), u32::from(target), port as u8)
    }

    fn template(&self) -> &[u8] {
        let sctp = &self.templates[usize::from(ip_proto::SCTP)];
        &sctp.frame[..sctp.len]
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
        let protocol = port as u8;
        let template = &self.templates[usize::from(protocol)];
        let len = template.len;
        let frame = &mut frame[..len];
        frame.copy_from_slice(&template.frame[..len]);
        let put16 = |frame: &mut [u8], at: usize, value: u16| {
            frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
        };
        let put32 = |frame: &mut [u8], at: usize, value: u32| {
            frame[at..at + 4].copy_from_slice(&value.to_be_bytes());
        };
        template.ip.patch(frame, cookie.ip_id(), target);
        let dst = u32::from(target);
        let sport = cookie.source_port(self.port_base, self.port_mask);
        let word = cookie.tcp_seq();
        match protocol {
            ip_proto::TCP => {
                put16(frame, at::SRC_PORT, sport);
                put32(frame, at::TCP_SEQ, word);
                put32(frame, at::TCP_ACK, word);
                let sum = template
                    .l4_sum
                    .add32(dst)
                    .add16(sport)
                    .add32(word)
                    .add32(word);
                put16(frame, at::TCP_CHECKSUM, sum.finish());
            }
            ip_proto::UDP => {
                put16(frame, at::SRC_PORT, sport);
                let check = match template.l4_sum.add32(dst).add16(sport).finish() {
                    0 => 0xffff, // RFC 768: zero means "no checksum"
                    check => check,
                };
                put16(frame, at::UDP_CHECKSUM, check);
            }
            ip_proto::ICMP => {
                let echo = cookie.echo_word();
                put32(frame, at::ICMP_ECHO_WORD, echo);
                put16(
                    frame,
                    at::ICMP_CHECKSUM,
                    template.l4_sum.add32(echo).finish(),
                );
            }
            ip_proto::SCTP => {
                put16(frame, at::SRC_PORT, sport);
                put32(frame, at::SCTP_CHUNK + sctp::INIT_TAG_AT, word);
                put32(frame, at::SCTP_CHUNK + sctp::INIT_TSN_AT, word);
                let checksum = Checksum::Crc32c.field(&frame[L4..]);
                frame[at::SCTP_CHECKSUM..at::SCTP_CHECKSUM + 4].copy_from_slice(&checksum);
            }
            _ => {}
        }
        len
    }

    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict> {
        let from_target = reply.responder == reply.target;
        let verdict = match ReplyKind::from_u8(reply.kind)? {
            ReplyKind::TcpRst
            | ReplyKind::UdpReply
            | ReplyKind::SctpReply
            | ReplyKind::ProtoResponse
            | ReplyKind::TcpSynAck => Verdict::new(PortState::Open, Reason::ProtoResponse),
            ReplyKind::IcmpEchoReply => Verdict::new(PortState::Open, Reason::EchoReply),
            ReplyKind::IcmpError => {
                let reason = Reason::of_icmp_error(reply.icmp_type, reply.icmp_code)?;
                let state = match reason {
                    Reason::ProtoUnreach if from_target => PortState::Closed,
                    Reason::PortUnreach if from_target => PortState::Open,
                    _ => PortState::Filtered,
                };
                Verdict::new(state, reason)
            }
        };
        Some(verdict)
    }

    /// Nmap takes any ICMP message from a target as ICMP's answer: ICMP is open (an error
    /// about another protocol shows the host speaks ICMP as well as an echo reply does).
    fn implied(&self, reply: &ReplyRecord) -> Option<(u16, Verdict)> {
        let icmp = matches!(
            ReplyKind::from_u8(reply.kind)?,
            ReplyKind::IcmpError | ReplyKind::IcmpEchoReply
        );
        if !icmp || reply.responder != reply.target {
            return None;
        }
        let reason = Reason::of_icmp(reply.icmp_type, reply.icmp_code)?;
        Some((
            u16::from(ip_proto::ICMP),
            Verdict::new(PortState::Open, reason),
        ))
    }

    fn silent_verdict(&self) -> Verdict {
        Verdict::new(PortState::OpenFiltered, Reason::NoResponse)
    }
}

#[cfg(test)]
mod tests {
    use pnet_packet::{
        Packet,
        ethernet::EthernetPacket,
        icmp::{self, IcmpPacket},
        ip::IpNextHeaderProtocol,
        ipv4::{self, Ipv4Packet},
        tcp::{self, TcpFlags, TcpPacket},
        udp::{self, UdpPacket},
    };
    use scanner_common::cookie::Key;

    use super::*;

    const ADDRS: FrameAddrs = FrameAddrs {
        source_mac: [2, 0, 0, 0, 0, 1],
        next_hop_mac: [2, 0, 0, 0, 0, 2],
        source_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const KEY: Key = Key {
        k0: 0x0123_4567_89ab_cdef,
        k1: 0x1111_2222_3333_4444,
    };
    const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 128, 9);

    fn probe(scan: &IpProto, slot: &mut [u8], protocol: u8) -> (usize, Cookie) {
        let cookie = Cookie::of(&KEY, &scan.id(ADDRS.source_ip, TARGET, u16::from(protocol)));
        (
            scan.patch(slot, TARGET, u16::from(protocol), cookie, 0),
            cookie,
        )
    }

    /// Every protocol's probe, patched into one reused slot in a scrambled order as the
    /// sender reuses slots: a well-formed IPv4 datagram in that protocol, the cookie in its IP
    /// ID, checksums right.
    #[test]
    fn every_protocol_gets_a_valid_probe_carrying_its_cookie() {
        let scan = IpProto::new(ADDRS, 32768, 0x7fff);
        let mut slot = scan.template().to_vec();
        for protocol in (0..=u8::MAX).map(|p| p.wrapping_mul(37).wrapping_add(11)) {
            let (len, cookie) = probe(&scan, &mut slot, protocol);
            let frame = &slot[..len];
            let eth = EthernetPacket::new(frame).unwrap();
            assert_eq!(eth.get_destination().octets(), ADDRS.next_hop_mac);
            let ip = Ipv4Packet::new(eth.payload()).unwrap();
            assert_eq!(
                usize::from(ip.get_total_length()),
                len - crate::probe::ipv4::IP
            );
            assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocol(protocol));
            assert_eq!(
                (ip.get_source(), ip.get_destination()),
                (ADDRS.source_ip, TARGET)
            );
            assert_eq!(
                ip.get_identification(),
                cookie.ip_id(),
                "protocol {protocol}"
            );
            assert_eq!(
                ip.get_checksum(),
                ipv4::checksum(&ip),
                "protocol {protocol}"
            );
            assert_eq!(ip.get_flags(), 0, "no DF, as nmap");
            let sport = cookie.source_port(32768, 0x7fff);
            match protocol {
                ip_proto::TCP => {
                    let seg = TcpPacket::new(ip.payload()).unwrap();
                    assert_eq!(seg.get_flags(), TcpFlags::ACK);
                    assert_eq!((seg.get_source(), seg.get_destination()), (sport, 80));
                    assert_eq!(seg.get_acknowledgement(), cookie.tcp_seq());
                    assert_eq!(seg.get_window(), 1024);
                    let check = tcp::ipv4_checksum(&seg, &ADDRS.source_ip, &TARGET);
                    assert_eq!(seg.get_checksum(), check);
                }
                ip_proto::UDP => {
                    let datagram = UdpPacket::new(ip.payload()).unwrap();
                    assert_eq!(
                        (datagram.get_source(), datagram.get_destination()),
                        (sport, 40125)
                    );
                    assert_eq!(datagram.get_length(), 8);
                    let check = udp::ipv4_checksum(&datagram, &ADDRS.source_ip, &TARGET);
                    assert_eq!(datagram.get_checksum(), check);
                }
                ip_proto::ICMP => {
                    let echo = IcmpPacket::new(ip.payload()).unwrap();
                    assert_eq!(echo.get_icmp_type().0, icmp::IcmpTypes::EchoRequest.0);
                    assert_eq!(echo.get_checksum(), icmp::checksum(&echo));
                    let word = u32::from_be_bytes(echo.payload()[..4].try_into().unwrap());
                    assert_eq!(word, cookie.echo_word());
                }
                ip_proto::IGMP => {
                    assert_eq!(ip.payload()[0], 0x11, "membership query");
                    assert_eq!(Sum::of(ip.payload()).finish(), 0, "IGMP checksum");
                    assert_eq!(ip.payload().len(), 8);
                }
                ip_proto::SCTP => {
                    let sctp = ip.payload();
                    assert_eq!(sctp.len(), 32);
                    assert_eq!(u16::from_be_bytes([sctp[0], sctp[1]]), sport);
                    assert_eq!(u16::from_be_bytes([sctp[2], sctp[3]]), 80);
                    assert_eq!(&sctp[4..8], &[0; 4], "an INIT's verification tag is 0");
                    assert_eq!(sctp[12], scanner_common::wire::sctp_chunk::INIT);
                    let tag = u32::from_be_bytes(sctp[16..20].try_into().unwrap());
                    assert_eq!(tag, cookie.tcp_seq());
                    let mut zeroed = sctp.to_vec();
                    zeroed[8..12].fill(0);
                    let crc = u32::from_le_bytes(sctp[8..12].try_into().unwrap());
                    assert_eq!(crc, crc32c::crc32c(&zeroed), "CRC32c, little-endian");
                }
                _ => assert!(
                    ip.payload().is_empty(),
                    "protocol {protocol}: empty payload"
                ),
            }
        }
    }

    fn record(kind: ReplyKind, icmp_type: u8, icmp_code: u8, from_router: bool) -> ReplyRecord {
        let target = u32::from(TARGET);
        ReplyRecord {
            kind: kind as u8,
            icmp_type,
            icmp_code,
            target,
            responder: if from_router { target ^ 0xff } else { target },
            port: 47,
            ..Default::default()
        }
    }

    #[test]
    fn verdicts_follow_nmaps_table() {
        let scan = IpProto::new(ADDRS, 32768, 0x7fff);
        let v = |kind, t, c, router| scan.verdict(&record(kind, t, c, router));
        let verdict = |state, reason| Some(Verdict::new(state, reason));
        use PortState::*;
        for kind in [
            ReplyKind::TcpRst,
            ReplyKind::UdpReply,
            ReplyKind::SctpReply,
            ReplyKind::ProtoResponse,
        ] {
            assert_eq!(v(kind, 0, 0, false), verdict(Open, Reason::ProtoResponse));
        }
        assert_eq!(
            v(ReplyKind::IcmpEchoReply, 0, 0, false),
            verdict(Open, Reason::EchoReply)
        );
        // From the target itself: protocol unreachable closes, port unreachable (an answer
        // of the protocol's own stack) opens.
        assert_eq!(
            v(ReplyKind::IcmpError, 3, 2, false),
            verdict(Closed, Reason::ProtoUnreach)
        );
        assert_eq!(
            v(ReplyKind::IcmpError, 3, 3, false),
            verdict(Open, Reason::PortUnreach)
        );
        // The same errors from a router on the way only say something is in the way.
        assert_eq!(
            v(ReplyKind::IcmpError, 3, 2, true),
            verdict(Filtered, Reason::ProtoUnreach)
        );
        assert_eq!(
            v(ReplyKind::IcmpError, 3, 3, true),
            verdict(Filtered, Reason::PortUnreach)
        );
        for (code, reason) in [
            (0, Reason::NetUnreach),
            (1, Reason::HostUnreach),
            (9, Reason::NetProhibited),
            (10, Reason::HostProhibited),
            (13, Reason::AdminProhibited),
        ] {
            for router in [false, true] {
                assert_eq!(
                    v(ReplyKind::IcmpError, 3, code, router),
                    verdict(Filtered, reason)
                );
            }
        }
        assert_eq!(
            v(ReplyKind::IcmpError, 11, 0, true),
            verdict(Filtered, Reason::TimeExceeded)
        );
        // Codes nmap draws no conclusion from (fragmentation needed, source route failed...).
        for code in [4, 5, 6, 7, 8, 11, 12, 14, 15] {
            assert_eq!(v(ReplyKind::IcmpError, 3, code, false), None, "code {code}");
        }
        assert_eq!(
            scan.silent_verdict(),
            Verdict::new(OpenFiltered, Reason::NoResponse)
        );
    }

    #[test]
    fn any_icmp_from_the_target_shows_icmp_open() {
        let scan = IpProto::new(ADDRS, 32768, 0x7fff);
        let implied = |record| scan.implied(&record);
        assert_eq!(
            implied(record(ReplyKind::IcmpError, 3, 2, false)),
            Some((1, Verdict::new(PortState::Open, Reason::ProtoUnreach)))
        );
        assert_eq!(
            implied(record(ReplyKind::IcmpError, 3, 13, false)),
            Some((1, Verdict::new(PortState::Open, Reason::AdminProhibited)))
        );
        assert_eq!(
            implied(record(ReplyKind::IcmpEchoReply, 0, 0, false)),
            Some((1, Verdict::new(PortState::Open, Reason::EchoReply)))
        );
        // A router's ICMP says nothing about the target's, nor do other protocols' answers.
        assert_eq!(implied(record(ReplyKind::IcmpError, 3, 2, true)), None);
        assert_eq!(implied(record(ReplyKind::TcpRst, 0, 0, false)), None);
    }
}
