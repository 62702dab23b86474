//! Bounds-checked views of the reply packets the OS tests read. Every accessor works on a
//! slice whose length was checked at `parse`, so hostile input yields `None`, never a panic.
//! The checks follow nmap's processResp: an IP header of at least 20 bytes, a TCP header of at
//! least 20 bytes within the packet, an ICMP message of at least 8 bytes.

use std::net::Ipv4Addr;

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// An IPv4 packet with at least its header present.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4<'a> {
    /// The datagram, cut to its total length (frames may carry link-layer padding).
    bytes: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Ipv4<'a>> {
        let first = *bytes.first()?;
        let header_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || header_len < 20 || bytes.len() < header_len {
            return None;
        }
        let total = usize::from(be16(bytes, 2));
        // Trust the total length only to cut padding, never to read past the capture.
        let end = if total >= header_len {
            total.min(bytes.len())
        } else {
            bytes.len()
        };
        Some(Ipv4 {
            bytes: &bytes[..end],
            header_len,
        })
    }

    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.header_len]
    }

    pub fn total_length(&self) -> u16 {
        be16(self.bytes, 2)
    }

    pub fn id(&self) -> u16 {
        be16(self.bytes, 4)
    }

    pub fn dont_fragment(&self) -> bool {
        be16(self.bytes, 6) & 0x4000 != 0
    }

    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }

    pub fn protocol(&self) -> u8 {
        self.bytes[9]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.bytes, 10)
    }

    pub fn source(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[12],
            self.bytes[13],
            self.bytes[14],
            self.bytes[15],
        )
    }

    pub fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..]
    }
}

/// A TCP segment whose header (options included) is within the slice.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    bytes: &'a [u8],
    header_len: usize,
}

impl<'a> Tcp<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Tcp<'a>> {
        let header_len = usize::from(*bytes.get(12)? >> 4) * 4;
        if header_len < 20 || bytes.len() < header_len {
            return None;
        }
        Some(Tcp { bytes, header_len })
    }

    pub fn source_port(&self) -> u16 {
        be16(self.bytes, 0)
    }

    pub fn destination_port(&self) -> u16 {
        be16(self.bytes, 2)
    }

    pub fn seq(&self) -> u32 {
        be32(self.bytes, 4)
    }

    pub fn ack(&self) -> u32 {
        be32(self.bytes, 8)
    }

    /// The four bits after the data offset (nmap's th_x2: the reserved bits and NS/AE).
    pub fn reserved(&self) -> u8 {
        self.bytes[12] & 0x0f
    }

    pub fn flags(&self) -> u8 {
        self.bytes[13]
    }

    pub fn window(&self) -> u16 {
        be16(self.bytes, 14)
    }

    pub fn urgent_pointer(&self) -> u16 {
        be16(self.bytes, 18)
    }

    pub fn options(&self) -> &'a [u8] {
        &self.bytes[20..self.header_len]
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..]
    }
}

/// An ICMP message of at least 8 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Icmp<'a> {
    bytes: &'a [u8],
}

/// The UDP header quoted in an ICMP error, with the IP header around it.
#[derive(Clone, Copy, Debug)]
pub struct QuotedUdp<'a> {
    pub ip: Ipv4<'a>,
    pub source_port: u16,
    pub destination_port: u16,
    pub checksum: u16,
    /// What follows the quoted UDP header, to the end of the ICMP message.
    pub payload: &'a [u8],
}

impl<'a> Icmp<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Icmp<'a>> {
        (bytes.len() >= 8).then_some(Icmp { bytes })
    }

    pub fn kind(&self) -> u8 {
        self.bytes[0]
    }

    pub fn code(&self) -> u8 {
        self.bytes[1]
    }

    pub fn echo_id(&self) -> u16 {
        be16(self.bytes, 4)
    }

    /// Bytes 4-7 of an error message, unused by the RFC (nmap's icmp_void, the UN test).
    pub fn unused(&self) -> u32 {
        be32(self.bytes, 4)
    }

    /// The quoted datagram of an error message, if its IP header and a UDP header fit
    /// (nmap's checks in processTUdpResp). The quoted IP header keeps its own total length,
    /// which the RIPL test reads, and is not cut by it.
    pub fn quoted_udp(&self) -> Option<QuotedUdp<'a>> {
        let quoted = &self.bytes[8..];
        let first = *quoted.first()?;
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < 20 || quoted.len() < header_len + 8 {
            return None;
        }
        let udp = &quoted[header_len..];
        Some(QuotedUdp {
            ip: Ipv4 {
                bytes: quoted,
                header_len,
            },
            source_port: be16(udp, 0),
            destination_port: be16(udp, 2),
            checksum: be16(udp, 6),
            payload: &udp[8..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_bogus_headers_are_rejected() {
        assert!(Ipv4::parse(&[]).is_none());
        assert!(Ipv4::parse(&[0x45; 19]).is_none());
        assert!(Ipv4::parse(&[0x44; 40]).is_none(), "header length 16");
        assert!(Ipv4::parse(&[0x65; 40]).is_none(), "version 6");
        assert!(Tcp::parse(&[0; 12]).is_none());
        let mut tcp = [0u8; 24];
        tcp[12] = 0x40; // 16-byte header
        assert!(Tcp::parse(&tcp).is_none());
        tcp[12] = 0x70; // 28 bytes, beyond the slice
        assert!(Tcp::parse(&tcp).is_none());
        tcp[12] = 0x60;
        assert_eq!(Tcp::parse(&tcp).unwrap().options().len(), 4);
        assert!(Icmp::parse(&[3, 3, 0, 0, 0, 0, 0]).is_none());
        assert!(
            Icmp::parse(&[3, 3, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .quoted_udp()
                .is_none()
        );
    }

    #[test]
    fn total_length_cuts_padding_only() {
        let mut packet = vec![0u8; 46];
        packet[0] = 0x45;
        packet[3] = 40;
        assert_eq!(Ipv4::parse(&packet).unwrap().payload().len(), 20);
        packet[3] = 200; // longer than captured: read what is there
        assert_eq!(Ipv4::parse(&packet).unwrap().payload().len(), 26);
        packet[3] = 4; // shorter than the header: ignored
        assert_eq!(Ipv4::parse(&packet).unwrap().payload().len(), 26);
    }

    #[test]
    fn every_truncation_of_a_port_unreachable_is_safe() {
        let mut message = vec![3u8, 3, 0, 0, 0, 0, 0, 0, 0x45];
        message.resize(8 + 20 + 8 + 4, 0x43);
        for end in 0..=message.len() {
            if let Some(icmp) = Icmp::parse(&message[..end]) {
                let _ = icmp
                    .quoted_udp()
                    .map(|q| (q.ip.total_length(), q.payload.len()));
            }
        }
        let icmp = Icmp::parse(&message).unwrap();
        assert_eq!(icmp.quoted_udp().unwrap().payload.len(), 4);
    }
}
