//! The UDP scan (-sU), nmap's: each port gets its protocol's payload (see [`payloads`]); any
//! UDP answer means open, an ICMP port unreachable from the target closed, other unreachables
//! filtered, and silence open|filtered. The cookie rides in the source port and the IP ID,
//! which answers and ICMP errors reflect, and in a DNS query's id.
//!
//! Closed ports answer with ICMP errors, which hosts rate-limit (Linux: one a second per peer
//! after a burst): the engine keeps resending while passes still recover answers.

pub mod payloads;

use std::{net::Ipv4Addr, sync::Arc};

use scanner_common::{
    ReplyKind, ReplyRecord,
    checksum::Sum,
    cookie::{Cookie, ProbeId},
    family, udp,
    wire::{IPV4_HEADER_LEN, UDP_HEADER_LEN, ip_proto},
};

pub use self::payloads::Payloads;
use super::{
    FrameAddrs, Probe,
    ipv4::{self, IP, L4 as UDP_AT},
};
use crate::verdict::{PortState, Proto, Reason, Verdict};

/// Where the per-probe fields sit in the frame.
mod at {
    use super::{IP, UDP_AT};
    pub const IP_TOTAL_LEN: usize = IP + 2;
    pub const SRC_PORT: usize = UDP_AT;
    pub const DST_PORT: usize = UDP_AT + 2;
    pub const UDP_LEN: usize = UDP_AT + 4;
    pub const UDP_CHECKSUM: usize = UDP_AT + 6;
    pub const PAYLOAD: usize = UDP_AT + 8;
}

/// One payload, summed once: what a probe carrying it needs beyond its own fields.
struct Prepared {
    ip: ipv4::Header,
    ip_total_len: u16,
    udp_len: u16,
    /// The payload's first word (a DNS query's id, replaced by the cookie's on DNS ports).
    head: u16,
    /// Sum of the pseudo-header and datagram with ports, checksum and first word zero.
    sum: Sum,
}

pub struct Udp {
    payloads: Arc<Payloads>,
    prepared: Vec<Prepared>,
    template: Vec<u8>,
    port_base: u16,
    port_mask: u16,
}

impl Udp {
    /// Probes leave from `port_base + (cookie bits & port_mask)`, carrying `payloads`.
    pub fn new(addrs: FrameAddrs, payloads: Arc<Payloads>, port_base: u16, port_mask: u16) -> Self {
        let longest = payloads.all().iter().map(|p| p.len()).max().unwrap_or(0);
        let mut template = vec![0u8; at::PAYLOAD + longest];
        let prepared = payloads
            .all()
            .iter()
            .map(|payload| {
                let udp_len = (UDP_HEADER_LEN + payload.len()) as u16;
                let ip = ipv4::Header::write(&mut template, &addrs, ip_proto::UDP, udp_len.into());
                let (head, tail) = match payload.len() {
                    0 => (0, &payload[..]),
                    1 => (u16::from(payload[0]) << 8, &payload[1..]),
                    _ => (u16::from_be_bytes([payload[0], payload[1]]), &payload[2..]),
                };
                let sum = Sum::of(&addrs.source_ip.octets())
                    .add16(u16::from(ip_proto::UDP))
                    .add16(udp_len) // pseudo-header
                    .add16(udp_len) // header
                    .combine(Sum::of(tail));
                Prepared {
                    ip,
                    ip_total_len: IPV4_HEADER_LEN as u16 + udp_len,
                    udp_len,
                    head,
                    sum,
                }
            })
            .collect();
        // The template holds the longest payload's headers: any prepared one would do.
        let longest_datagram = template.len() - UDP_AT;
        ipv4::Header::write(&mut template, &addrs, ip_proto::UDP, longest_datagram);
        Self {
            payloads,
            prepared,
            template,
            port_base,
            port_mask,
        }
    }
}

impl Probe for Udp {
    const PROTO: Proto = Proto::Udp;
    const XDP_FAMILIES: u32 = family::UDP;
    const RATE_LIMITED_REPLIES: bool = true;

    fn id(&self, source: Ipv4Addr, target: Ipv4Addr, port: u16) -> ProbeId {
        ProbeId::port_scan(u32::from(source), u32::from(target), port, ip_proto::UDP)
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
        attempt: u32,
    ) -> usize {
        let (index, payload) = self.payloads.get(port, attempt);
        let prepared = &self.prepared[usize::from(index)];
        let len = at::PAYLOAD + payload.len();
        let frame = &mut frame[..len];
        let put16 = |frame: &mut [u8], at: usize, value: u16| {
            frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
        };
        put16(frame, at::IP_TOTAL_LEN, prepared.ip_total_len);
        prepared.ip.patch(frame, cookie.ip_id(), target);
        let sport = cookie.source_port(self.port_base, self.port_mask);
        put16(frame, at::SRC_PORT, sport);
        put16(frame, at::DST_PORT, port);
        put16(frame, at::UDP_LEN, prepared.udp_len);
        frame[at::PAYLOAD..].copy_from_slice(payload);
        let head = match udp::carries_dns_id(port) {
            true => {
                let id = cookie.dns_id();
                put16(frame, at::PAYLOAD, id);
                id
            }
            false => prepared.head,
        };
        let check = match prepared
            .sum
            .add32(u32::from(target))
            .add16(sport)
            .add16(port)
            .add16(head)
            .finish()
        {
            0 => 0xffff, // RFC 768: zero means "no checksum"
            check => check,
        };
        put16(frame, at::UDP_CHECKSUM, check);
        len
    }

    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict> {
        match ReplyKind::from_u8(reply.kind)? {
            ReplyKind::UdpReply => Some(Verdict::new(PortState::Open, Reason::UdpResponse)),
            ReplyKind::IcmpError => {
                let reason = Reason::of_icmp_error(reply.icmp_type, reply.icmp_code)?;
                // Nmap: port unreachable is closed only from the target itself.
                let from_target = reply.responder == reply.target;
                let state = match reason {
                    Reason::PortUnreach if from_target => PortState::Closed,
                    _ => PortState::Filtered,
                };
                Some(Verdict::new(state, reason))
            }
            _ => None,
        }
    }

    fn silent_verdict(&self) -> Verdict {
        Verdict::new(PortState::OpenFiltered, Reason::NoResponse)
    }

    fn source_port(&self, cookie: Cookie) -> Option<u16> {
        Some(cookie.source_port(self.port_base, self.port_mask))
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use scanner_common::cookie::Key;

    use super::*;

    const ADDRS: FrameAddrs = FrameAddrs {
        source_mac: [2, 0, 0, 0, 0, 1],
        next_hop_mac: [2, 0, 0, 0, 0, 2],
        source_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const KEY: Key = Key {
        k0: 0x0ddb_a11c_0ffe_e000,
        k1: 0x1234_5678_9abc_def0,
    };

    /// Probes patched into one reused slot in turn, as the sender reuses slots, parse with
    /// etherparse: ports, lengths, the payload (the cookie's id on DNS ports), checksums.
    #[test]
    fn every_port_gets_its_payload_and_valid_checksums() {
        let payloads = Arc::new(Payloads::builtin());
        let scan = Udp::new(ADDRS, payloads.clone(), 40000, 0x3fff);
        let mut slot = scan.template().to_vec();
        for (i, (port, attempt)) in [
            (161, 0),
            (53, 0),
            (9, 0),
            (500, 0),
            (161, 1),
            (5353, 2),
            (7, 0),
            (65535, 3),
        ]
        .into_iter()
        .enumerate()
        {
            let target = Ipv4Addr::new(198, 18, 128, i as u8 + 1);
            let cookie = Cookie::of(&KEY, &scan.id(ADDRS.source_ip, target, port));
            let len = scan.patch(&mut slot, target, port, cookie, attempt);
            let frame = &slot[..len];
            let packet = SlicedPacket::from_ethernet(frame).unwrap();
            let Some(NetSlice::Ipv4(ip)) = &packet.net else {
                panic!("IPv4")
            };
            let header = ip.header();
            assert_eq!(header.destination_addr(), target);
            assert_eq!(header.source_addr(), ADDRS.source_ip);
            assert_eq!(header.identification(), cookie.ip_id());
            assert_eq!(usize::from(header.total_len()), len - IP);
            let header_bytes = header.to_header();
            assert_eq!(
                header_bytes.header_checksum,
                header_bytes.calc_header_checksum()
            );
            let Some(TransportSlice::Udp(datagram)) = &packet.transport else {
                panic!("UDP")
            };
            assert_eq!(datagram.source_port(), cookie.source_port(40000, 0x3fff));
            assert_eq!(datagram.destination_port(), port);
            assert_eq!(usize::from(datagram.length()), len - UDP_AT);
            let mut expected = payloads.get(port, attempt).1.to_vec();
            if udp::carries_dns_id(port) {
                expected[..2].copy_from_slice(&cookie.dns_id().to_be_bytes());
            }
            assert_eq!(datagram.payload(), expected, "port {port}");
            let sum = datagram
                .to_header()
                .calc_checksum_ipv4(&header_bytes, datagram.payload())
                .unwrap();
            assert_eq!(datagram.checksum(), sum, "port {port}");
        }
    }

    fn record(kind: ReplyKind, icmp_type: u8, icmp_code: u8, responder: u32) -> ReplyRecord {
        ReplyRecord {
            kind: kind as u8,
            icmp_type,
            icmp_code,
            target: 0xc612_8001,
            responder,
            ..Default::default()
        }
    }

    /// Nmap's table (scan_engine_raw.cc): a UDP answer is open, port unreachable from the
    /// target closed (from a router filtered), the other unreachables it acts on filtered.
    #[test]
    fn verdicts_follow_nmap() {
        let scan = Udp::new(ADDRS, Arc::new(Payloads::none()), 40000, 0x3fff);
        let target = 0xc612_8001;
        let router = 0xc612_0002;
        let v = |r| scan.verdict(&r);
        assert_eq!(
            v(record(ReplyKind::UdpReply, 0, 0, target)),
            Some(Verdict::new(PortState::Open, Reason::UdpResponse))
        );
        assert_eq!(
            v(record(ReplyKind::IcmpError, 3, 3, target)),
            Some(Verdict::new(PortState::Closed, Reason::PortUnreach))
        );
        assert_eq!(
            v(record(ReplyKind::IcmpError, 3, 3, router)),
            Some(Verdict::new(PortState::Filtered, Reason::PortUnreach))
        );
        for (code, reason) in [
            (0, Reason::NetUnreach),
            (1, Reason::HostUnreach),
            (2, Reason::ProtoUnreach),
            (9, Reason::NetProhibited),
            (10, Reason::HostProhibited),
            (13, Reason::AdminProhibited),
        ] {
            assert_eq!(
                v(record(ReplyKind::IcmpError, 3, code, target)),
                Some(Verdict::new(PortState::Filtered, reason)),
                "code {code}"
            );
        }
        assert_eq!(
            v(record(ReplyKind::IcmpError, 11, 0, router)),
            Some(Verdict::new(PortState::Filtered, Reason::TimeExceeded))
        );
        assert_eq!(v(record(ReplyKind::IcmpError, 3, 4, target)), None);
        assert_eq!(v(record(ReplyKind::TcpSynAck, 0, 0, target)), None);
        assert_eq!(
            scan.silent_verdict(),
            Verdict::new(PortState::OpenFiltered, Reason::NoResponse)
        );
    }
}
