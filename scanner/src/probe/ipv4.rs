//! What every probe frame starts with: an Ethernet header and a 20-byte IPv4 header (TTL 64,
//! no options, no DF), written once into the template; and the three fields that differ per
//! probe — ID, destination, checksum — patched incrementally.

use std::net::Ipv4Addr;

use scanner_common::{
    checksum::Sum,
    wire::{ETH_HEADER_LEN, ETH_P_IPV4, IPV4_HEADER_LEN},
};

use super::FrameAddrs;

/// Where the IPv4 header starts in a frame.
pub const IP: usize = ETH_HEADER_LEN;
/// Where the transport header starts.
pub const L4: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;
const TTL: u8 = 64;

mod at {
    use super::IP;
    pub const ID: usize = IP + 4;
    pub const CHECKSUM: usize = IP + 10;
    pub const DST: usize = IP + 16;
}

/// The IPv4 header of a template, as far as the per-probe patch needs it.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// Sum of the header with ID, destination and checksum zero.
    sum: Sum,
}

impl Header {
    /// Writes the Ethernet and IPv4 headers of a datagram in `protocol` with `payload_len`
    /// bytes after the IPv4 header into `frame[..L4]`; ID, destination and checksum stay zero.
    pub fn write(frame: &mut [u8], addrs: &FrameAddrs, protocol: u8, payload_len: usize) -> Self {
        frame[..6].copy_from_slice(&addrs.next_hop_mac);
        frame[6..12].copy_from_slice(&addrs.source_mac);
        frame[12..IP].copy_from_slice(&ETH_P_IPV4.to_be_bytes());
        let ip = &mut frame[IP..L4];
        ip.fill(0);
        ip[0] = 0x45; // version 4, 5 words
        ip[2..4].copy_from_slice(&((IPV4_HEADER_LEN + payload_len) as u16).to_be_bytes());
        ip[8] = TTL;
        ip[9] = protocol;
        ip[12..16].copy_from_slice(&addrs.source_ip.octets());
        Self { sum: Sum::of(ip) }
    }

    /// Sets ID and destination of the header written by [`write`](Self::write) and its
    /// checksum, from the sum computed there.
    #[inline]
    pub fn patch(self, frame: &mut [u8], id: u16, target: Ipv4Addr) {
        let dst = u32::from(target);
        frame[at::ID..at::ID + 2].copy_from_slice(&id.to_be_bytes());
        frame[at::DST..at::DST + 4].copy_from_slice(&dst.to_be_bytes());
        let check = self.sum.add16(id).add32(dst).finish();
        frame[at::CHECKSUM..at::CHECKSUM + 2].copy_from_slice(&check.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use pnet_packet::{
        Packet,
        ethernet::{EtherTypes, EthernetPacket},
        ipv4::{self, Ipv4Packet},
    };

    use super::*;

    #[test]
    fn headers_parse_and_patched_checksums_verify() {
        let addrs = FrameAddrs {
            source_mac: [2, 0, 0, 0, 0, 1],
            next_hop_mac: [2, 0, 0, 0, 0, 2],
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let mut frame = [0xaau8; L4 + 8];
        let header = Header::write(&mut frame, &addrs, 17, 8);
        for (id, target) in [(0, [198, 18, 128, 1]), (0xffff, [198, 19, 255, 254])] {
            let target = Ipv4Addr::from(target);
            header.patch(&mut frame, id, target);
            let eth = EthernetPacket::new(&frame).unwrap();
            assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
            assert_eq!(eth.get_source().octets(), addrs.source_mac);
            let ip = Ipv4Packet::new(eth.payload()).unwrap();
            assert_eq!((ip.get_version(), ip.get_header_length()), (4, 5));
            assert_eq!(ip.get_total_length(), 28);
            assert_eq!((ip.get_ttl(), ip.get_flags()), (64, 0));
            assert_eq!(ip.get_next_level_protocol().0, 17);
            assert_eq!(
                (ip.get_source(), ip.get_destination()),
                (addrs.source_ip, target)
            );
            assert_eq!(ip.get_identification(), id);
            assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        }
    }
}
