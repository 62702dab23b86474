//! nmap's IPv4 OS-detection probes as IPv4 packets, byte for byte as osscan2.cc sends them:
//! six SEQ SYNs (their replies also give OPS, WIN and T1), two ICMP echoes (IE), one
//! ECN SYN, T2-T7, and U1 to a closed UDP port; plus nmap's fallbacks for missing replies
//! (OPS resends of the SEQ SYNs, a separate T1).
//!
//! Everything nmap randomises per round is in [`ProbePlan`], chosen by the caller; the
//! reply analysis reads the same plan, so what was sent and what is checked cannot drift.

use std::net::Ipv4Addr;
use std::time::Duration;

use scanner_common::checksum::Sum;

/// nmap sends the six SEQ probes this far apart; SP, ISR and TS assume it.
pub const SEQ_INTERVAL: Duration = Duration::from_millis(100);
/// nmap's U1 IP ID (send_closedudp_probe); RID=G means the reply quoted it unchanged.
pub const U1_IP_ID: u16 = 0x1042;
/// Sequence number of IE1; IE2 uses the next one (icmpEchoSeq).
pub const IE_SEQ: u16 = 295;
/// U1's payload: 300 'C's.
pub const U1_PAYLOAD_LEN: usize = 300;
pub const U1_PAYLOAD_BYTE: u8 = b'C';
/// The U1 datagram's IP total length; RIPL=G when a reply quotes it unchanged.
pub const U1_IP_LEN: u16 = (IPV4_LEN + UDP_LEN + U1_PAYLOAD_LEN) as u16;

const IPV4_LEN: usize = 20;
const TCP_LEN: usize = 20;
const UDP_LEN: usize = 8;
const ICMP_LEN: usize = 8;

const PROTO_ICMP: u8 = ip_proto::ICMP;
const PROTO_TCP: u8 = ip_proto::TCP;
const PROTO_UDP: u8 = ip_proto::UDP;
const IP_DF: u16 = 0x4000;
const TOS_RELIABILITY: u8 = 0x04;

use scanner_common::wire::ip_proto;
pub(crate) use scanner_common::wire::tcp_flags;
use tcp_flags::*;

/// nmap's TCP option blocks (prbOpts). Timestamps carry TSval 0xFFFFFFFF, TSecr 0.
const OPTIONS: [&[u8]; 13] = [
    // 0 (SEQ1, OPS1, T1): WScale 10, NOP, MSS 1460, Timestamp, SACK permitted
    &[
        3, 3, 10, 1, 2, 4, 0x05, 0xb4, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    // 1: MSS 1400, WScale 0, SACK permitted, Timestamp, EOL
    &[
        2, 4, 0x05, 0x78, 3, 3, 0, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0,
    ],
    // 2: Timestamp, NOP, NOP, WScale 5, NOP, MSS 640
    &[
        8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 1, 3, 3, 5, 1, 2, 4, 0x02, 0x80,
    ],
    // 3: SACK permitted, Timestamp, WScale 10, EOL
    &[4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 3, 10, 0],
    // 4: MSS 536, SACK permitted, Timestamp, WScale 10, EOL
    &[
        2, 4, 0x02, 0x18, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 3, 10, 0,
    ],
    // 5: MSS 265, SACK permitted, Timestamp
    &[
        2, 4, 0x01, 0x09, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
    ],
    // 6 (ECN): WScale 10, NOP, MSS 1460, SACK permitted, NOP, NOP
    &[3, 3, 10, 1, 2, 4, 0x05, 0xb4, 4, 2, 1, 1],
    // 7-11 (T2-T6): WScale 10, NOP, MSS 265, Timestamp, SACK permitted
    &[
        3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    &[
        3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    &[
        3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    &[
        3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    &[
        3, 3, 10, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
    // 12 (T7): as T2-T6 but WScale 15
    &[
        3, 3, 15, 1, 2, 4, 0x01, 0x09, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
    ],
];

/// TCP windows, numbered as [`OPTIONS`] (prbWindowSz).
const WINDOWS: [u16; 13] = [1, 63, 4, 4, 16, 512, 3, 128, 256, 1024, 31337, 32768, 65535];

/// One of the six SEQ probes (0-5 for SEQ1-SEQ6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(u8);

impl SeqNo {
    pub const ALL: [SeqNo; 6] = [SeqNo(0), SeqNo(1), SeqNo(2), SeqNo(3), SeqNo(4), SeqNo(5)];

    pub fn new(index: usize) -> Option<SeqNo> {
        SeqNo::ALL.get(index).copied()
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// T1-T7, numbered as nmap names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TNo(u8);

impl TNo {
    pub const ALL: [TNo; 7] = [TNo(1), TNo(2), TNo(3), TNo(4), TNo(5), TNo(6), TNo(7)];

    pub fn new(number: u8) -> Option<TNo> {
        (1..=7).contains(&number).then_some(TNo(number))
    }

    pub fn number(self) -> u8 {
        self.0
    }

    /// T5-T7 go to the closed port, T1-T4 to the open one.
    pub fn to_closed_port(self) -> bool {
        self.0 >= 5
    }
}

/// An OS-detection probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// SEQ1-SEQ6 SYNs to the open port, [`SEQ_INTERVAL`] apart.
    Seq(SeqNo),
    /// nmap's resend of SEQ*n*'s SYN (another source port, the base sequence number) when
    /// its reply was missing: the reply gives O*n* and W*n*.
    Ops(SeqNo),
    Ecn,
    /// T1 is normally SEQ1's reply; nmap sends it on its own only if SEQ1 got none.
    T(TNo),
    Ie1,
    Ie2,
    U1,
}

impl Probe {
    /// Every probe, in [`Probe::index`] order.
    pub const ALL: [Probe; 23] = {
        let mut all = [Probe::U1; 23];
        let mut i = 0;
        while i < 6 {
            all[i] = Probe::Seq(SeqNo(i as u8));
            all[6 + i] = Probe::Ops(SeqNo(i as u8));
            i += 1;
        }
        all[12] = Probe::Ecn;
        let mut t = 0;
        while t < 7 {
            all[13 + t] = Probe::T(TNo(t as u8 + 1));
            t += 1;
        }
        all[20] = Probe::Ie1;
        all[21] = Probe::Ie2;
        all
    };

    /// A dense index (0-22), for tables of per-probe state.
    pub fn index(self) -> usize {
        match self {
            Probe::Seq(n) => n.index(),
            Probe::Ops(n) => 6 + n.index(),
            Probe::Ecn => 12,
            Probe::T(t) => 12 + usize::from(t.0),
            Probe::Ie1 => 20,
            Probe::Ie2 => 21,
            Probe::U1 => 22,
        }
    }

    /// The source-port offset from [`ProbePlan::tcp_port_base`] (nmap's layout: SEQ 0-5,
    /// OPS 6-11, ECN 12, T1-T7 13-19); replies are filed by it.
    fn tcp_port_offset(self) -> Option<u16> {
        let index = self.index();
        (index < 20).then_some(index as u16)
    }

    fn from_tcp_port_offset(offset: u16) -> Option<Probe> {
        (offset < 20).then(|| Probe::ALL[usize::from(offset)])
    }
}

/// What nmap picks at random for one round of probes; the caller picks it here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    pub source: Ipv4Addr,
    pub target: Ipv4Addr,
    /// Without an open port nmap sends no SEQ, OPS, ECN or T1-T4 (and their tests are absent).
    pub open_tcp_port: Option<u16>,
    /// Without a closed port nmap sends no T5-T7 (and those tests are absent).
    pub closed_tcp_port: Option<u16>,
    /// U1's destination; nmap takes a known closed UDP port or a random one.
    pub closed_udp_port: u16,
    /// TCP probes leave from `tcp_port_base..tcp_port_base + 20` (see [`Probe`]).
    pub tcp_port_base: u16,
    pub udp_source_port: u16,
    /// SEQ*n* carries `tcp_seq_base + n - 1`, the other TCP probes `tcp_seq_base`.
    pub tcp_seq_base: u32,
    /// The acknowledgment number of the TCP probes (0 in ECN).
    pub tcp_ack: u32,
    /// IE1's ICMP id; IE2 uses the next one.
    pub icmp_echo_id: u16,
    /// TTL of the TCP and ICMP probes (nmap: random in 37-59 unless --ttl).
    pub ttl: u8,
    /// TTL of U1 (nmap: 51-64); the quoted TTL in its reply gives the hop distance.
    pub udp_ttl: u8,
    /// IP ID of U1 (nmap: [`U1_IP_ID`]); the reply's RID is checked against it.
    pub u1_ip_id: u16,
}

/// How a TCP probe differs from the others.
struct TcpShape {
    options: usize,
    flags: u8,
    dont_fragment: bool,
    seq_offset: u32,
    ack: bool,
    reserved: u8,
    urgent: u16,
}

impl ProbePlan {
    /// The sixteen probes of a round in nmap's order (SEQ1-6 [`SEQ_INTERVAL`] apart, then
    /// the rest back to back), without those whose port is unknown.
    pub fn schedule(&self) -> Vec<Probe> {
        let mut probes = Vec::with_capacity(16);
        if self.open_tcp_port.is_some() {
            probes.extend(SeqNo::ALL.map(Probe::Seq));
        }
        probes.extend([Probe::Ie1, Probe::Ie2, Probe::U1]);
        if self.open_tcp_port.is_some() {
            probes.push(Probe::Ecn);
            probes.extend(TNo::ALL[1..4].iter().map(|&t| Probe::T(t)));
        }
        if self.closed_tcp_port.is_some() {
            probes.extend(TNo::ALL[4..].iter().map(|&t| Probe::T(t)));
        }
        probes
    }

    /// The IPv4 packet of `probe` with IP ID `ip_id` (U1 carries [`ProbePlan::u1_ip_id`]
    /// instead); `None` if the plan lacks the port the probe goes to.
    pub fn packet(&self, probe: Probe, ip_id: u16) -> Option<Vec<u8>> {
        match probe {
            Probe::Ie1 => Some(self.echo(ip_id, 0, true, 9, 0, 120)),
            Probe::Ie2 => Some(self.echo(ip_id, TOS_RELIABILITY, false, 0, 1, 150)),
            Probe::U1 => Some(self.udp()),
            _ => self.tcp(probe, ip_id),
        }
    }

    /// The probe a reply (an IPv4 packet from the target) answers, as nmap files replies:
    /// TCP by destination port, echo replies by ICMP id, port unreachables by the quoted
    /// UDP ports. Anything else, malformed packets included, is `None`.
    pub fn probe_for_reply(&self, packet: &[u8]) -> Option<Probe> {
        let ip = super::packet::Ipv4::parse(packet)?;
        if ip.source() != self.target || ip.destination() != self.source {
            return None;
        }
        match ip.protocol() {
            PROTO_TCP => {
                let tcp = super::packet::Tcp::parse(ip.payload())?;
                let offset = tcp.destination_port().checked_sub(self.tcp_port_base)?;
                let probe = Probe::from_tcp_port_offset(offset)?;
                // From the port the probe went to: a port scan's SYN-ACK retransmitted late
                // can reach one of our source ports from another port.
                (Some(tcp.source_port()) == self.tcp_destination(probe)).then_some(probe)
            }
            PROTO_ICMP => {
                let icmp = super::packet::Icmp::parse(ip.payload())?;
                match (icmp.kind(), icmp.code()) {
                    (0, _) => match icmp.echo_id().wrapping_sub(self.icmp_echo_id) {
                        0 => Some(Probe::Ie1),
                        1 => Some(Probe::Ie2),
                        _ => None,
                    },
                    (3, 3) => {
                        let quoted = icmp.quoted_udp()?;
                        (quoted.source_port == self.udp_source_port
                            && quoted.destination_port == self.closed_udp_port)
                            .then_some(Probe::U1)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The port a TCP probe goes to: T5-T7 to the closed port, the rest to the open one.
    pub fn tcp_destination(&self, probe: Probe) -> Option<u16> {
        match probe {
            Probe::T(t) if t.to_closed_port() => self.closed_tcp_port,
            _ => self.open_tcp_port,
        }
    }

    fn tcp(&self, probe: Probe, ip_id: u16) -> Option<Vec<u8>> {
        let shape = tcp_shape(probe)?;
        let destination = self.tcp_destination(probe)?;
        let options = OPTIONS[shape.options];
        let tcp_len = TCP_LEN + options.len();
        let mut packet = self.ipv4_header(
            IPV4_LEN + tcp_len,
            ip_id,
            0,
            shape.dont_fragment,
            self.ttl,
            PROTO_TCP,
        );
        let source_port = self.tcp_port_base.wrapping_add(probe.tcp_port_offset()?);
        packet.extend_from_slice(&source_port.to_be_bytes());
        packet.extend_from_slice(&destination.to_be_bytes());
        let seq = self.tcp_seq_base.wrapping_add(shape.seq_offset);
        packet.extend_from_slice(&seq.to_be_bytes());
        let ack = if shape.ack { self.tcp_ack } else { 0 };
        packet.extend_from_slice(&ack.to_be_bytes());
        packet.push(((tcp_len / 4) as u8) << 4 | shape.reserved);
        packet.push(shape.flags);
        packet.extend_from_slice(&WINDOWS[shape.options].to_be_bytes());
        packet.extend_from_slice(&[0, 0]); // checksum
        packet.extend_from_slice(&shape.urgent.to_be_bytes());
        packet.extend_from_slice(options);
        self.finish_transport(&mut packet, PROTO_TCP, 16);
        Some(packet)
    }

    fn echo(&self, ip_id: u16, tos: u8, df: bool, code: u8, id_offset: u16, len: usize) -> Vec<u8> {
        let mut packet = self.ipv4_header(
            IPV4_LEN + ICMP_LEN + len,
            ip_id,
            tos,
            df,
            self.ttl,
            PROTO_ICMP,
        );
        packet.extend_from_slice(&[8, code, 0, 0]); // echo request, checksum below
        packet.extend_from_slice(&self.icmp_echo_id.wrapping_add(id_offset).to_be_bytes());
        packet.extend_from_slice(&(IE_SEQ + id_offset).to_be_bytes());
        packet.resize(packet.len() + len, 0);
        let checksum = Sum::of(&packet[IPV4_LEN..]).finish();
        packet[IPV4_LEN + 2..IPV4_LEN + 4].copy_from_slice(&checksum.to_be_bytes());
        packet
    }

    fn udp(&self) -> Vec<u8> {
        let mut packet = self.ipv4_header(
            usize::from(U1_IP_LEN),
            self.u1_ip_id,
            0,
            false,
            self.udp_ttl,
            PROTO_UDP,
        );
        packet.extend_from_slice(&self.udp_source_port.to_be_bytes());
        packet.extend_from_slice(&self.closed_udp_port.to_be_bytes());
        packet.extend_from_slice(&((UDP_LEN + U1_PAYLOAD_LEN) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.resize(packet.len() + U1_PAYLOAD_LEN, U1_PAYLOAD_BYTE);
        self.finish_transport(&mut packet, PROTO_UDP, 6);
        packet
    }

    /// The UDP checksum U1 carries (RUCK=G when a reply quotes it unchanged).
    pub fn u1_udp_checksum(&self) -> u16 {
        let packet = self.udp();
        u16::from_be_bytes([packet[IPV4_LEN + 6], packet[IPV4_LEN + 7]])
    }

    fn ipv4_header(&self, total: usize, id: u16, tos: u8, df: bool, ttl: u8, proto: u8) -> Vec<u8> {
        let mut packet = Vec::with_capacity(total);
        packet.extend_from_slice(&[0x45, tos]);
        packet.extend_from_slice(&(total as u16).to_be_bytes());
        packet.extend_from_slice(&id.to_be_bytes());
        packet.extend_from_slice(&(if df { IP_DF } else { 0 }).to_be_bytes());
        packet.extend_from_slice(&[ttl, proto, 0, 0]);
        packet.extend_from_slice(&self.source.octets());
        packet.extend_from_slice(&self.target.octets());
        let checksum = Sum::of(&packet).finish();
        packet[10..12].copy_from_slice(&checksum.to_be_bytes());
        packet
    }

    /// Fills the TCP or UDP checksum (at `checksum_at` in the segment) over the pseudo-header.
    fn finish_transport(&self, packet: &mut [u8], proto: u8, checksum_at: usize) {
        let segment = &packet[IPV4_LEN..];
        let pseudo = Sum::of(&self.source.octets())
            .combine(Sum::of(&self.target.octets()))
            .add16(u16::from(proto))
            .add16(segment.len() as u16);
        let mut checksum = pseudo.combine(Sum::of(segment)).finish();
        if proto == PROTO_UDP && checksum == 0 {
            checksum = 0xffff; // 0 means "no checksum" in UDP
        }
        packet[IPV4_LEN + checksum_at..IPV4_LEN + checksum_at + 2]
            .copy_from_slice(&checksum.to_be_bytes());
    }
}

fn tcp_shape(probe: Probe) -> Option<TcpShape> {
    let syn = |options, seq_offset| TcpShape {
        options,
        flags: SYN,
        dont_fragment: false,
        seq_offset,
        ack: true,
        reserved: 0,
        urgent: 0,
    };
    let t = |options, flags, dont_fragment| TcpShape {
        flags,
        dont_fragment,
        ..syn(options, 0)
    };
    Some(match probe {
        Probe::Seq(n) => syn(n.index(), n.0.into()),
        Probe::Ops(n) => syn(n.index(), 0),
        // The reserved bit and an urgent pointer without URG: quirks some stacks echo (Q=RU).
        Probe::Ecn => TcpShape {
            flags: CWR | ECE | SYN,
            ack: false,
            reserved: 8,
            urgent: 0xF7F5,
            ..syn(6, 0)
        },
        Probe::T(t_no) => match t_no.0 {
            1 => syn(0, 0),
            2 => t(7, 0, true),
            3 => t(8, SYN | FIN | URG | PSH, false),
            4 => t(9, ACK, true),
            5 => t(10, SYN, false),
            6 => t(11, ACK, true),
            _ => t(12, FIN | PSH | URG, false),
        },
        Probe::Ie1 | Probe::Ie2 | Probe::U1 => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pnet_packet::{
        Packet,
        icmp::{self, IcmpPacket},
        ipv4::{self, Ipv4Packet},
        tcp::{self, TcpPacket},
        udp::{self, UdpPacket},
    };

    pub(crate) fn plan() -> ProbePlan {
        ProbePlan {
            source: Ipv4Addr::new(198, 18, 0, 1),
            target: Ipv4Addr::new(198, 18, 0, 2),
            open_tcp_port: Some(80),
            closed_tcp_port: Some(81),
            closed_udp_port: 38979,
            tcp_port_base: 61057,
            udp_source_port: 61000,
            tcp_seq_base: 0x1000_0000,
            tcp_ack: 0x2000_0000,
            icmp_echo_id: 0xfffe,
            ttl: 45,
            udp_ttl: 60,
            u1_ip_id: U1_IP_ID,
        }
    }

    fn checked_ip(bytes: &[u8]) -> Ipv4Packet<'_> {
        let ip = Ipv4Packet::new(bytes).unwrap();
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 checksum");
        assert_eq!(usize::from(ip.get_total_length()), bytes.len());
        ip
    }

    #[test]
    fn seq1_is_nmaps_syn_byte_for_byte() {
        let p = plan();
        let bytes = p.packet(Probe::Seq(SeqNo::ALL[0]), 0x1234).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x45, 0, 0, 60, 0x12, 0x34, 0, 0, 45, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
            0xee, 0x81, 0, 80, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0xa0, 0x02, 0, 1, 0, 0, 0, 0,
            3, 3, 10, 1, 2, 4, 0x05, 0xb4, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
        ];
        let mut masked = bytes.clone();
        masked[10..12].fill(0);
        masked[36..38].fill(0);
        assert_eq!(masked, expected);
        let ip = checked_ip(&bytes);
        let seg = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(
            seg.get_checksum(),
            tcp::ipv4_checksum(&seg, &p.source, &p.target)
        );
    }

    #[test]
    fn every_tcp_probe_has_nmaps_shape() {
        let p = plan();
        // (probe, source port offset, destination, seq offset, ack, flags, window, DF, x2, urp)
        let cases = [
            (
                Probe::Seq(SeqNo::ALL[5]),
                5,
                80,
                5,
                p.tcp_ack,
                SYN,
                512,
                false,
                0,
                0,
            ),
            (
                Probe::Ops(SeqNo::ALL[1]),
                7,
                80,
                0,
                p.tcp_ack,
                SYN,
                63,
                false,
                0,
                0,
            ),
            (
                Probe::Ecn,
                12,
                80,
                0,
                0,
                CWR | ECE | SYN,
                3,
                false,
                8,
                0xF7F5,
            ),
            (
                Probe::T(TNo::ALL[0]),
                13,
                80,
                0,
                p.tcp_ack,
                SYN,
                1,
                false,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[1]),
                14,
                80,
                0,
                p.tcp_ack,
                0,
                128,
                true,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[2]),
                15,
                80,
                0,
                p.tcp_ack,
                SYN | FIN | URG | PSH,
                256,
                false,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[3]),
                16,
                80,
                0,
                p.tcp_ack,
                ACK,
                1024,
                true,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[4]),
                17,
                81,
                0,
                p.tcp_ack,
                SYN,
                31337,
                false,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[5]),
                18,
                81,
                0,
                p.tcp_ack,
                ACK,
                32768,
                true,
                0,
                0,
            ),
            (
                Probe::T(TNo::ALL[6]),
                19,
                81,
                0,
                p.tcp_ack,
                FIN | PSH | URG,
                65535,
                false,
                0,
                0,
            ),
        ];
        for (probe, offset, dst, seq, ack, flags, window, df, x2, urp) in cases {
            let bytes = p.packet(probe, 7).unwrap();
            let ip = checked_ip(&bytes);
            assert_eq!(ip.get_flags() == 2, df, "{probe:?} DF");
            assert_eq!(ip.get_ttl(), 45);
            let seg = TcpPacket::new(ip.payload()).unwrap();
            assert_eq!(
                seg.get_checksum(),
                tcp::ipv4_checksum(&seg, &p.source, &p.target),
                "{probe:?}"
            );
            assert_eq!(seg.get_source(), p.tcp_port_base + offset, "{probe:?}");
            assert_eq!(seg.get_destination(), dst, "{probe:?}");
            assert_eq!(seg.get_sequence(), p.tcp_seq_base + seq, "{probe:?}");
            assert_eq!(seg.get_acknowledgement(), ack, "{probe:?}");
            assert_eq!(seg.get_flags(), flags, "{probe:?}");
            assert_eq!(seg.get_window(), window, "{probe:?}");
            assert_eq!(ip.payload()[12] & 0x0f, x2, "{probe:?}");
            assert_eq!(seg.get_urgent_ptr(), urp, "{probe:?}");
            assert_eq!(
                p.probe_for_reply(&swap(&bytes)),
                Some(probe),
                "filed by port"
            );
        }
        // T7's options differ from T2-T6 only in the window scale.
        let t7 = p.packet(Probe::T(TNo::ALL[6]), 0).unwrap();
        assert_eq!(&t7[40..43], &[3, 3, 15]);
    }

    #[test]
    fn echo_probes() {
        let p = plan();
        for (probe, tos, df, code, id, seq, data) in [
            (Probe::Ie1, 0, true, 9, 0xfffe, 295, 120),
            (Probe::Ie2, 4, false, 0, 0xffff, 296, 150),
        ] {
            let bytes = p.packet(probe, 9).unwrap();
            let ip = checked_ip(&bytes);
            assert_eq!(ip.get_dscp() << 2 | ip.get_ecn(), tos);
            assert_eq!(ip.get_flags() == 2, df);
            let echo = IcmpPacket::new(ip.payload()).unwrap();
            assert_eq!(echo.get_checksum(), icmp::checksum(&echo));
            assert_eq!(echo.get_icmp_type().0, 8);
            assert_eq!(echo.get_icmp_code().0, code);
            assert_eq!(
                &ip.payload()[4..8],
                &[(id >> 8) as u8, id as u8, 1, (seq - 256) as u8]
            );
            assert_eq!(ip.payload().len(), 8 + data);
            assert!(ip.payload()[8..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn u1_probe() {
        let p = plan();
        let bytes = p.packet(Probe::U1, 1).unwrap();
        let ip = checked_ip(&bytes);
        assert_eq!(ip.get_identification(), 0x1042, "U1 keeps nmap's IP ID");
        assert_eq!(ip.get_total_length(), 328);
        assert_eq!(ip.get_ttl(), 60);
        assert_eq!(ip.get_flags(), 0);
        let udp = UdpPacket::new(ip.payload()).unwrap();
        assert_eq!(
            udp.get_checksum(),
            udp::ipv4_checksum(&udp, &p.source, &p.target)
        );
        assert_eq!(udp.get_checksum(), p.u1_udp_checksum());
        assert_eq!((udp.get_source(), udp.get_destination()), (61000, 38979));
        assert_eq!(udp.payload(), &[b'C'; 300][..]);
    }

    #[test]
    fn schedule_follows_the_known_ports() {
        let mut p = plan();
        assert_eq!(p.schedule().len(), 16);
        p.closed_tcp_port = None;
        assert_eq!(p.schedule().len(), 13);
        assert_eq!(p.packet(Probe::T(TNo::ALL[4]), 0), None);
        p.open_tcp_port = None;
        assert_eq!(p.schedule(), [Probe::Ie1, Probe::Ie2, Probe::U1]);
        assert_eq!(p.packet(Probe::Ecn, 0), None);
    }

    #[test]
    fn probe_indexes_are_dense() {
        for (i, probe) in Probe::ALL.iter().enumerate() {
            assert_eq!(probe.index(), i);
        }
        assert_eq!(TNo::new(0), None);
        assert_eq!(SeqNo::new(6), None);
    }

    /// The packet as if it came back: addresses and ports swapped (enough to file it).
    fn swap(bytes: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        let (src, dst) = (b[12..16].to_vec(), b[16..20].to_vec());
        b[12..16].copy_from_slice(&dst);
        b[16..20].copy_from_slice(&src);
        let (sp, dp) = (b[20..22].to_vec(), b[22..24].to_vec());
        b[20..22].copy_from_slice(&dp);
        b[22..24].copy_from_slice(&sp);
        b
    }
}
