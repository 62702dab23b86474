//! The reset nmap's host would send: the XDP program keeps SYN-ACKs to OS probes from the
//! kernel (which would answer them with a RST), so the stage answers them itself. Otherwise
//! every round leaves up to fourteen half-open connections on the target, which can fill a
//! small listen backlog and switch it to SYN cookies, changing the very replies measured.

use scanner_common::{
    checksum::Sum,
    wire::{IPV4_HEADER_LEN, TCP_HEADER_LEN, ip_proto, tcp_flags},
};

use crate::os::packet::{Ipv4, Tcp};

/// The RST (RFC 9293 3.10.7.1: sequence number = the segment's ACK, no ACK flag) for a
/// SYN-ACK `reply` (an IPv4 packet to us), as an IPv4 packet with IP ID `ip_id`; `None` for
/// anything else.
pub fn for_syn_ack(reply: &[u8], ip_id: u16) -> Option<[u8; IPV4_HEADER_LEN + TCP_HEADER_LEN]> {
    let ip = Ipv4::parse(reply)?;
    if ip.protocol() != ip_proto::TCP {
        return None;
    }
    let tcp = Tcp::parse(ip.payload())?;
    if tcp.flags() & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST)
        != tcp_flags::SYN | tcp_flags::ACK
    {
        return None;
    }
    let (source, target) = (ip.destination().octets(), ip.source().octets());
    let mut packet = [0u8; IPV4_HEADER_LEN + TCP_HEADER_LEN];
    packet[..12].copy_from_slice(&[
        0x45,
        0,
        0,
        (IPV4_HEADER_LEN + TCP_HEADER_LEN) as u8,
        (ip_id >> 8) as u8,
        ip_id as u8,
        0x40, // DF, as Linux sends its resets
        0,
        64,
        ip_proto::TCP,
        0,
        0,
    ]);
    packet[12..16].copy_from_slice(&source);
    packet[16..20].copy_from_slice(&target);
    let ip_checksum = Sum::of(&packet[..IPV4_HEADER_LEN]).finish();
    packet[10..12].copy_from_slice(&ip_checksum.to_be_bytes());
    let segment = &mut packet[IPV4_HEADER_LEN..];
    segment[0..2].copy_from_slice(&tcp.destination_port().to_be_bytes());
    segment[2..4].copy_from_slice(&tcp.source_port().to_be_bytes());
    segment[4..8].copy_from_slice(&tcp.ack().to_be_bytes());
    segment[12] = ((TCP_HEADER_LEN / 4) as u8) << 4;
    segment[13] = tcp_flags::RST;
    let checksum = Sum::of(&source)
        .combine(Sum::of(&target))
        .add16(u16::from(ip_proto::TCP))
        .add16(TCP_HEADER_LEN as u16)
        .combine(Sum::of(segment))
        .finish();
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    Some(packet)
}

#[cfg(test)]
mod tests {
    use pnet_packet::{Packet, ipv4::Ipv4Packet, tcp::TcpPacket};

    use super::*;

    #[test]
    fn resets_a_syn_ack_with_valid_checksums() {
        let mut syn_ack = [0u8; 40];
        syn_ack[..20].copy_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
        ]);
        syn_ack[20..40].copy_from_slice(&[
            0, 80, 0x9c, 0x40, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd, 0x50, 0x12, 0xff, 0xff, 0, 0, 0,
            0,
        ]);
        let rst = for_syn_ack(&syn_ack, 7).expect("a SYN-ACK");
        let ip = Ipv4Packet::new(&rst).unwrap();
        assert_eq!(pnet_packet::ipv4::checksum(&ip), ip.get_checksum());
        assert_eq!(ip.get_destination(), std::net::Ipv4Addr::new(198, 18, 0, 2));
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!((tcp.get_source(), tcp.get_destination()), (40000, 80));
        assert_eq!(tcp.get_sequence(), 0xaabb_ccdd);
        assert_eq!(tcp.get_flags(), 0x04);
        let sum = pnet_packet::tcp::ipv4_checksum(&tcp, &ip.get_source(), &ip.get_destination());
        assert_eq!(sum, tcp.get_checksum());
        syn_ack[33] = 0x14; // RST-ACK: nothing to answer
        assert!(for_syn_ack(&syn_ack, 7).is_none());
    }
}
