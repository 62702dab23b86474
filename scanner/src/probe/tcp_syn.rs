//! The SYN scan (-sS): a SYN with nmap's shape (window 1024, MSS 1460, 44-byte datagram);
//! SYN-ACK means open, RST closed, ICMP unreachable or silence filtered.

use std::net::Ipv4Addr;

use pnet_packet::tcp::{MutableTcpPacket, TcpFlags, TcpOption};
use scanner_common::{
    ReplyKind, ReplyRecord,
    checksum::Sum,
    cookie::{Cookie, ProbeId},
    family,
    wire::ip_proto,
};

use super::{
    FrameAddrs, Probe,
    ipv4::{self, L4 as TCP_AT},
};
use crate::verdict::{PortState, Proto, Reason, Verdict};

const TCP_LEN: usize = 24; // 20-byte header + MSS option
const FRAME_LEN: usize = TCP_AT + TCP_LEN;
const WINDOW: u16 = 1024;
const MSS: u16 = 1460;

/// Where the per-probe TCP fields sit in the frame.
mod at {
    use super::TCP_AT as TCP;
    pub const SRC_PORT: usize = TCP;
    pub const DST_PORT: usize = TCP + 2;
    pub const SEQ: usize = TCP + 4;
    pub const TCP_CHECKSUM: usize = TCP + 16;
}

pub struct TcpSyn {
    template: [u8; FRAME_LEN],
    ip: ipv4::Header,
    /// Sum of the pseudo-header and segment with every per-probe field zero.
    tcp_sum: Sum,
    port_base: u16,
    port_mask: u16,
}

impl TcpSyn {
    /// Probes leave from `port_base + (cookie bits & port_mask)`.
    pub fn new(addrs: FrameAddrs, port_base: u16, port_mask: u16) -> Self {
        let mut template = [0u8; FRAME_LEN];
        let ip = ipv4::Header::write(&mut template, &addrs, ip_proto::TCP, TCP_LEN);
        {
            let mut tcp = MutableTcpPacket::new(&mut template[TCP_AT..]).expect("fits");
            tcp.set_data_offset((TCP_LEN / 4) as u8);
            tcp.set_flags(TcpFlags::SYN);
            tcp.set_window(WINDOW);
            tcp.set_options(&[TcpOption::mss(MSS)]);
        }
        let pseudo = Sum::of(&addrs.source_ip.octets())
            .add16(u16::from(ip_proto::TCP))
            .add16(TCP_LEN as u16);
        let tcp_sum = pseudo.combine(Sum::of(&template[TCP_AT..]));
        Self {
            template,
            ip,
            tcp_sum,
            port_base,
            port_mask,
        }
    }
}

impl Probe for TcpSyn {
    const PROTO: Proto = Proto::Tcp;
    const XDP_FAMILIES: u32 = family::TCP;

    fn id(&self, source: Ipv4Addr, target: Ipv4Addr, port: u16) -> ProbeId {
        ProbeId::port_scan(u32::from(source), u32::from(target), port, ip_proto::TCP)
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
        let frame: &mut [u8; FRAME_LEN] = (&mut frame[..FRAME_LEN]).try_into().expect("slot");
        let dst = u32::from(target);
        let sport = cookie.source_port(self.port_base, self.port_mask);
        let seq = cookie.tcp_seq();
        self.ip.patch(frame, cookie.ip_id(), target);
        frame[at::SRC_PORT..at::SRC_PORT + 2].copy_from_slice(&sport.to_be_bytes());
        frame[at::DST_PORT..at::DST_PORT + 2].copy_from_slice(&port.to_be_bytes());
        frame[at::SEQ..at::SEQ + 4].copy_from_slice(&seq.to_be_bytes());
        let tcp_check = self
            .tcp_sum
            .add32(dst)
            .add16(sport)
            .add16(port)
            .add32(seq)
            .finish();
        frame[at::TCP_CHECKSUM..at::TCP_CHECKSUM + 2].copy_from_slice(&tcp_check.to_be_bytes());
        FRAME_LEN
    }

    fn verdict(&self, reply: &ReplyRecord) -> Option<Verdict> {
        match ReplyKind::from_u8(reply.kind)? {
            ReplyKind::TcpSynAck => Some(Verdict::new(PortState::Open, Reason::SynAck)),
            ReplyKind::TcpRst => Some(Verdict::new(PortState::Closed, Reason::Reset)),
            // Nmap: type 3 codes 0-3, 9, 10, 13 and time exceeded make the port filtered.
            ReplyKind::IcmpError => Reason::of_icmp_error(reply.icmp_type, reply.icmp_code)
                .map(|reason| Verdict::new(PortState::Filtered, reason)),
            _ => None,
        }
    }

    fn silent_verdict(&self) -> Verdict {
        Verdict::new(PortState::Filtered, Reason::NoResponse)
    }

    fn source_port(&self, cookie: Cookie) -> Option<u16> {
        Some(cookie.source_port(self.port_base, self.port_mask))
    }
}

#[cfg(test)]
mod tests {
    use pnet_packet::{
        Packet,
        ethernet::{EtherTypes, EthernetPacket},
        ipv4::{self, Ipv4Packet},
        tcp::{self, TcpPacket},
    };
    use scanner_common::cookie::Key;

    use super::*;

    const ADDRS: FrameAddrs = FrameAddrs {
        source_mac: [2, 0, 0, 0, 0, 1],
        next_hop_mac: [2, 0, 0, 0, 0, 2],
        source_ip: Ipv4Addr::new(198, 18, 0, 1),
    };
    const KEY: Key = Key {
        k0: 0x5eed_0000_1111_2222,
        k1: 0x3333_4444_5555_6666,
    };

    fn probe_to(syn: &TcpSyn, target: Ipv4Addr, port: u16) -> (Vec<u8>, Cookie) {
        let cookie = Cookie::of(
            &KEY,
            &ProbeId {
                source: u32::from(ADDRS.source_ip),
                target: u32::from(target),
                port,
                proto: ip_proto::TCP,
            },
        );
        let mut frame = syn.template().to_vec();
        syn.patch(&mut frame, target, port, cookie, 0);
        (frame, cookie)
    }

    #[test]
    fn frames_carry_nmaps_syn_and_checksums_pnet_accepts() {
        let syn = TcpSyn::new(ADDRS, 32768, 0x7fff);
        let mut slot = syn.template().to_vec();
        // Patch the same slot repeatedly, as the sender does, and check every probe.
        for (i, port) in [0u16, 1, 22, 80, 443, 8080, 65535].into_iter().enumerate() {
            let target = Ipv4Addr::new(198, 18, 128 + i as u8, 255 - i as u8);
            let (fresh, cookie) = probe_to(&syn, target, port);
            syn.patch(&mut slot, target, port, cookie, 0);
            assert_eq!(
                slot, fresh,
                "patching a used slot equals patching the template"
            );

            let eth = EthernetPacket::new(&slot).unwrap();
            assert_eq!(eth.get_destination().octets(), ADDRS.next_hop_mac);
            assert_eq!(eth.get_source().octets(), ADDRS.source_mac);
            assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
            let ip = Ipv4Packet::new(eth.payload()).unwrap();
            assert_eq!(ip.get_total_length(), 44);
            assert_eq!(ip.get_destination(), target);
            assert_eq!(ip.get_source(), ADDRS.source_ip);
            assert_eq!(ip.get_identification(), cookie.ip_id());
            assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 checksum");
            let seg = TcpPacket::new(ip.payload()).unwrap();
            assert_eq!(seg.get_destination(), port);
            assert_eq!(seg.get_source(), cookie.source_port(32768, 0x7fff));
            assert_eq!(seg.get_sequence(), cookie.tcp_seq());
            assert_eq!(seg.get_flags(), TcpFlags::SYN);
            assert_eq!(seg.get_window(), 1024);
            assert_eq!(seg.get_options_raw(), &[2, 4, 0x05, 0xb4]);
            let expected = tcp::ipv4_checksum(&seg, &ADDRS.source_ip, &target);
            assert_eq!(seg.get_checksum(), expected, "TCP checksum");
        }
    }

    fn record(kind: ReplyKind, icmp_type: u8, icmp_code: u8) -> ReplyRecord {
        ReplyRecord {
            kind: kind as u8,
            icmp_type,
            icmp_code,
            ..Default::default()
        }
    }

    #[test]
    fn verdicts_follow_nmap() {
        let syn = TcpSyn::new(ADDRS, 32768, 0x7fff);
        let v = |r| syn.verdict(&r);
        assert_eq!(
            v(record(ReplyKind::TcpSynAck, 0, 0)),
            Some(Verdict::new(PortState::Open, Reason::SynAck))
        );
        assert_eq!(
            v(record(ReplyKind::TcpRst, 0, 0)),
            Some(Verdict::new(PortState::Closed, Reason::Reset))
        );
        for (code, reason) in [
            (0, Reason::NetUnreach),
            (1, Reason::HostUnreach),
            (2, Reason::ProtoUnreach),
            (3, Reason::PortUnreach),
            (9, Reason::NetProhibited),
            (10, Reason::HostProhibited),
            (13, Reason::AdminProhibited),
        ] {
            assert_eq!(
                v(record(ReplyKind::IcmpError, 3, code)),
                Some(Verdict::new(PortState::Filtered, reason)),
                "code {code}"
            );
        }
        assert_eq!(
            v(record(ReplyKind::IcmpError, 11, 0)),
            Some(Verdict::new(PortState::Filtered, Reason::TimeExceeded))
        );
        // Codes nmap does not act on, and unknown kinds, say nothing.
        assert_eq!(v(record(ReplyKind::IcmpError, 3, 4)), None);
        assert_eq!(
            v(ReplyRecord {
                kind: 99,
                ..Default::default()
            }),
            None
        );
        assert_eq!(
            syn.silent_verdict(),
            Verdict::new(PortState::Filtered, Reason::NoResponse)
        );
    }
}
