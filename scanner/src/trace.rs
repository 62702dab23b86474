//! Frames described in one line, as nmap's --packet-trace prints them:
//! `TCP 198.18.0.1:40001 > 198.18.128.5:80 S ttl=64 id=1234 iplen=44  seq=... win=1024 <mss 1460>`.

use std::fmt;

use pnet_packet::{
    Packet,
    ethernet::{EtherTypes, EthernetPacket},
    ip::IpNextHeaderProtocols,
    ipv4::Ipv4Packet,
    tcp::{TcpOptionNumbers, TcpPacket},
};

/// An Ethernet frame to describe.
pub struct Frame<'a>(pub &'a [u8]);

impl fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ip) = EthernetPacket::new(self.0)
            .filter(|eth| eth.get_ethertype() == EtherTypes::Ipv4)
            .and_then(|eth| Ipv4Packet::owned(eth.payload().to_vec()))
        else {
            return write!(f, "non-IPv4 frame of {} bytes", self.0.len());
        };
        let (src, dst) = (ip.get_source(), ip.get_destination());
        let ip_fields = format!(
            "ttl={} id={} iplen={}",
            ip.get_ttl(),
            ip.get_identification(),
            ip.get_total_length()
        );
        match ip.get_next_level_protocol() {
            IpNextHeaderProtocols::Tcp => match TcpPacket::new(ip.payload()) {
                Some(tcp) => {
                    write!(
                        f,
                        "TCP {src}:{} > {dst}:{} {} {ip_fields}  seq={}",
                        tcp.get_source(),
                        tcp.get_destination(),
                        tcp_flags(tcp.get_flags()),
                        tcp.get_sequence()
                    )?;
                    if tcp.get_flags() & 0x10 != 0 {
                        write!(f, " ack={}", tcp.get_acknowledgement())?;
                    }
                    write!(f, " win={}", tcp.get_window())?;
                    tcp_options(f, &tcp)
                }
                None => write!(f, "TCP {src} > {dst} truncated {ip_fields}"),
            },
            other => write!(f, "Proto={} {src} > {dst} {ip_fields}", other.0),
        }
    }
}

/// Flag letters in nmap's order.
fn tcp_flags(flags: u8) -> String {
    const LETTERS: [(u8, char); 8] = [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ];
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, letter)| *letter)
        .collect()
}

fn tcp_options(f: &mut fmt::Formatter<'_>, tcp: &TcpPacket<'_>) -> fmt::Result {
    let mut shown = Vec::new();
    for option in tcp.get_options_iter() {
        let data = option.payload();
        shown.push(match option.get_number() {
            TcpOptionNumbers::MSS if data.len() == 2 => {
                format!("mss {}", u16::from_be_bytes([data[0], data[1]]))
            }
            TcpOptionNumbers::WSCALE if data.len() == 1 => format!("wscale {}", data[0]),
            TcpOptionNumbers::SACK_PERMITTED => "sackOK".to_owned(),
            TcpOptionNumbers::NOP => "nop".to_owned(),
            TcpOptionNumbers::TIMESTAMPS if data.len() == 8 => format!(
                "timestamp {} {}",
                u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                u32::from_be_bytes([data[4], data[5], data[6], data[7]])
            ),
            TcpOptionNumbers::EOL => "eol".to_owned(),
            other => format!("opt{}", other.0),
        });
    }
    if shown.is_empty() {
        Ok(())
    } else {
        write!(f, " <{}>", shown.join(","))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use scanner_common::cookie::{Cookie, Key, ProbeId};

    use super::*;
    use crate::probe::{FrameAddrs, Probe, tcp_syn::TcpSyn};

    #[test]
    fn describes_a_syn_probe_like_nmap() {
        let probe = TcpSyn::new(
            FrameAddrs {
                source_mac: [2, 0, 0, 0, 0, 1],
                next_hop_mac: [2, 0, 0, 0, 0, 2],
                source_ip: Ipv4Addr::new(198, 18, 0, 1),
            },
            40000,
            0,
        );
        let mut frame = probe.template().to_vec();
        let target = Ipv4Addr::new(198, 18, 128, 5);
        let cookie = Cookie::of(
            &Key { k0: 1, k1: 2 },
            &ProbeId {
                source: u32::from(Ipv4Addr::new(198, 18, 0, 1)),
                target: u32::from(target),
                port: 80,
                proto: 6,
            },
        );
        probe.patch(&mut frame, target, 80, cookie);
        let line = Frame(&frame).to_string();
        let expected = format!(
            "TCP 198.18.0.1:40000 > 198.18.128.5:80 S ttl=64 id={} iplen=44  seq={} win=1024 <mss 1460>",
            cookie.ip_id(),
            cookie.tcp_seq()
        );
        assert_eq!(line, expected);
        assert_eq!(tcp_flags(0x12), "SA");
        assert_eq!(tcp_flags(0x14), "RA");
        assert_eq!(Frame(&[0u8; 10]).to_string(), "non-IPv4 frame of 10 bytes");
    }
}
