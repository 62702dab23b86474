//! Frames described in one line, the way nmap 7.93's `--packet-trace` describes them.
//!
//! The reference is nmap's `ippackethdrinfo()` (libnetutil/netutil.cc in nmap 7.93) at its
//! default detail level, `LOW_DETAIL`, with the helpers it calls: `format_ip_options()`,
//! `tcppacketoptinfo()` and `nexthdrtoa()`; for ARP, `PacketTrace::traceArp()` (tcpip.cc). The
//! code below is written from a reading of those functions, not copied from them. Its quirks are
//! kept on purpose, because the point is that our lines read like nmap's, byte for byte:
//! - the IP part ends with a space when there are no IP options, hence `iplen=44  seq=`;
//! - TCP shows no ack number and ends with a space when there are no TCP options;
//! - ICMP is bracketed, `ICMP [a > b Echo request (type=8/code=0) id=1 seq=0] IP [ttl=..]`,
//!   unless the message is cut short;
//! - SCTP shows no chunks at this level; other protocols print their IANA keyword;
//! - TCP options are read as nmap reads them, ignoring the length byte of the options it knows
//!   and stepping one byte over those it does not, and a truncated list prints nothing.
//!
//! Where nmap reads past the bytes it has (it trusts a header it has only part of) or prints a
//! stale line, we print what its code means instead; each such place says so. No input panics:
//! every read is bounds-checked.

use std::{
    fmt::{self, Write as _},
    net::Ipv4Addr,
};

use pnet_packet::{
    ethernet::{EtherTypes, EthernetPacket},
    ipv4::{Ipv4Flags, Ipv4Packet},
};

/// An Ethernet II frame to describe.
pub struct Frame<'a>(pub &'a [u8]);

impl fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(ethernet), Some(payload)) = (EthernetPacket::new(self.0), self.0.get(14..))
        else {
            return write!(f, "non-IPv4 frame of {} bytes", self.0.len());
        };
        match ethernet.get_ethertype() {
            EtherTypes::Ipv4 => ipv4(f, payload),
            EtherTypes::Arp if payload.len() >= 28 => arp(f, payload),
            other => write!(
                f,
                "non-IPv4 frame (ethertype 0x{:04x}) of {} bytes",
                other.0,
                self.0.len()
            ),
        }
    }
}

/// nmap's answer when the bytes do not hold an IPv4 header.
const BOGUS: &str = "BOGUS!  Can't parse supposed IP packet";

/// `PacketTrace::traceArp()`: `who-has` for a request (opcode 1), `is-at` for anything else.
fn arp(f: &mut fmt::Formatter<'_>, arp: &[u8]) -> fmt::Result {
    if arp.get(7) == Some(&1) {
        write!(f, "ARP who-has {} tell {}", addr(arp, 24), addr(arp, 14))
    } else {
        write!(f, "ARP reply {} is-at ", addr(arp, 14))?;
        let mac = arp.get(8..14).unwrap_or_default();
        for (i, byte) in mac.iter().enumerate() {
            let colon = if i == 0 { "" } else { ":" };
            write!(f, "{colon}{byte:02X}")?;
        }
        Ok(())
    }
}

/// What every protocol's line needs from the IPv4 header.
struct Ip<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    info: IpInfo<'a>,
}

/// nmap's `ipinfo` at LOW_DETAIL: `ttl=64 id=1 iplen=40 ` (trailing space) or, with options,
/// `ttl=64 id=1 iplen=44 ipopts={ NOP EOL}`.
struct IpInfo<'a> {
    ttl: u8,
    id: u16,
    len: u16,
    /// Fragment offset in bytes.
    frag_off: u32,
    more_fragments: bool,
    /// The option bytes, when the header is longer than 20 bytes.
    options: Option<&'a [u8]>,
}

impl fmt::Display for IpInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ttl={} id={} iplen={}", self.ttl, self.id, self.len)?;
        if self.frag_off != 0 || self.more_fragments {
            let more = if self.more_fragments { "+" } else { "" };
            write!(f, " frag offset={}{more}", self.frag_off)?;
        }
        f.write_char(' ')?;
        if let Some(options) = self.options {
            let mut text = Capped::new();
            ip_options(options, &mut text)?;
            write!(f, "ipopts={{{}}}", text.as_str())?;
        }
        Ok(())
    }
}

/// The IPv4 packet in an Ethernet payload, then its transport.
fn ipv4(f: &mut fmt::Formatter<'_>, packet: &[u8]) -> fmt::Result {
    let Some(header) = Ipv4Packet::new(packet).filter(|header| header.get_version() == 4) else {
        return f.write_str(BOGUS);
    };
    // Like nmap's validatepkt() for what it receives: never trust more bytes than the total
    // length says (Ethernet padding, trailers).
    let packet = packet
        .get(..usize::from(header.get_total_length()))
        .unwrap_or(packet);
    let header_len = usize::from(header.get_header_length()) * 4;
    let (Some(options), Some(data)) = (packet.get(20..header_len), packet.get(header_len..)) else {
        return f.write_str(BOGUS);
    };
    let ip = Ip {
        src: header.get_source(),
        dst: header.get_destination(),
        info: IpInfo {
            ttl: header.get_ttl(),
            id: header.get_identification(),
            len: header.get_total_length(),
            frag_off: 8 * u32::from(header.get_fragment_offset()),
            more_fragments: header.get_flags() & Ipv4Flags::MoreFragments != 0,
            options: (header_len != 20).then_some(options),
        },
    };
    match header.get_next_level_protocol().0 {
        6 => tcp(f, &ip, data),
        17 => udp(f, &ip, data),
        132 => sctp(f, &ip, data),
        1 => icmp(f, &ip, data),
        58 => icmpv6(f, &ip, data),
        other => write!(
            f,
            "{} ({other}) {} > {}: {}",
            protocol_keyword(other),
            ip.src,
            ip.dst,
            ip.info
        ),
    }
}

/// TCP flag letters in nmap's (tcpdump's) order.
struct TcpFlags(u8);

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        for (bit, letter) in LETTERS {
            if self.0 & bit != 0 {
                f.write_char(letter)?;
            }
        }
        Ok(())
    }
}

/// TCP, in nmap's four cases: without the first 8 bytes of the header, a fragment at offset 8,
/// a header cut short, a whole header.
fn tcp(f: &mut fmt::Formatter<'_>, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    let Ip { src, dst, info, .. } = ip;
    if ip.info.frag_off > 8 || data.len() < 8 {
        return write!(f, "TCP {src}:?? > {dst}:?? ?? {info} (incomplete)");
    }
    if ip.info.frag_off == 8 {
        // The bytes from the ack number on: `data` starts 8 bytes into the header.
        let flags = data.get(5).copied().unwrap_or_default();
        let header_len = usize::from(data.get(4).copied().unwrap_or_default() >> 4) * 4;
        let mut options = Capped::new();
        if header_len > 20 {
            if data.len() < header_len - 8 {
                options.write_str("option incomplete")?;
            } else {
                tcp_options(
                    data.get(12..).unwrap_or_default(),
                    header_len - 20,
                    &mut options,
                )?;
            }
        }
        write!(f, "TCP {src}:?? > {dst}:?? {} {info} ", TcpFlags(flags))?;
        if flags & 0x10 != 0 {
            write!(f, " ack={}", be32(data, 0))?;
        }
        return write!(f, " {}", options.as_str());
    }
    let (sport, dport, seq) = (be16(data, 0), be16(data, 2), be32(data, 4));
    if data.len() < 12 {
        // nmap 7.93 formats this line into a scratch buffer and then prints whatever its static
        // line buffer held from the previous packet; this is the line it meant.
        return write!(
            f,
            "TCP {src}:{sport} > {dst}:{dport} ?? seq={seq} (incomplete) {info}"
        );
    }
    if data.len() < 16 {
        // Same stale-buffer slip in nmap; the line it meant.
        return write!(
            f,
            "TCP {src}:{sport} > {dst}:{dport} seq={seq} (incomplete), {info}"
        );
    }
    let flags = TcpFlags(data.get(13).copied().unwrap_or_default());
    let window = be16(data, 14);
    if data.len() < 20 {
        return write!(
            f,
            "TCP {src}:{sport} > {dst}:{dport} {flags} {info} seq={seq} win={window} (incomplete)"
        );
    }
    let header_len = usize::from(data.get(12).copied().unwrap_or_default() >> 4) * 4;
    let mut options = Capped::new();
    if header_len > 20 {
        if data.len() < header_len {
            options.write_str("option incomplete")?;
        } else {
            tcp_options(
                data.get(20..).unwrap_or_default(),
                header_len - 20,
                &mut options,
            )?;
        }
    }
    write!(
        f,
        "TCP {src}:{sport} > {dst}:{dport} {flags} {info} seq={seq} win={window} {}",
        options.as_str()
    )
}

/// UDP: ports only.
fn udp(f: &mut fmt::Formatter<'_>, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    ports_only(f, "UDP", ip, data)
}

/// SCTP: ports only (nmap shows the checksum and tag at higher detail, chunks never).
fn sctp(f: &mut fmt::Formatter<'_>, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    ports_only(f, "SCTP", ip, data)
}

fn ports_only(f: &mut fmt::Formatter<'_>, name: &str, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    let Ip { src, dst, info, .. } = ip;
    if ip.info.frag_off != 0 {
        write!(f, "{name} {src}:?? > {dst}:?? fragment {info} (incomplete)")
    } else if data.len() < 4 {
        // nmap 7.93 would read the ports from past the end of the packet; later nmap
        // (packettrace.cc) prints its fragment line for a short header, and so do we.
        write!(f, "{name} {src}:?? > {dst}:?? fragment {info} (incomplete)")
    } else {
        let (sport, dport) = (be16(data, 0), be16(data, 2));
        write!(f, "{name} {src}:{sport} > {dst}:{dport} {info}")
    }
}

/// ICMP carried in IPv4 (nmap matches on the protocol number alone).
fn icmpv6(f: &mut fmt::Formatter<'_>, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    let Ip { src, dst, info, .. } = ip;
    match data {
        [kind, code, _, _, _, ..] => {
            write!(
                f,
                "ICMPv6 (58) {src} > {dst} (type={kind}/code={code}) {info}"
            )
        }
        _ => write!(f, "ICMPv6 (58) {src} > {dst} (type=?/code=?) {info}"),
    }
}

/// ICMP: `ICMP [a > b <what> (type=T/code=C) <fields>] IP [<ipinfo>]`, or without brackets
/// when the message is shorter than its type needs.
fn icmp(f: &mut fmt::Formatter<'_>, ip: &Ip<'_>, data: &[u8]) -> fmt::Result {
    let Ip { src, dst, info, .. } = ip;
    if ip.info.frag_off != 0 {
        return write!(f, "ICMP {src} > {dst} fragment {info} (incomplete)");
    }
    let [kind, code, _, _, _, _, _, _, ..] = *data else {
        return write!(f, "ICMP {src} > {dst} [??] {info}");
    };
    let mut what = Capped::<128>::new();
    let mut fields = Capped::<256>::new();
    if icmp_message(data, &mut what, &mut fields)? {
        write!(
            f,
            "ICMP [{src} > {dst} {} (type={kind}/code={code}) {}] IP [{info}]",
            what.as_str(),
            fields.as_str()
        )
    } else {
        write!(
            f,
            "ICMP {src} > {dst} {} (type={kind}/code={code}) {info}",
            what.as_str()
        )
    }
}

/// Describes an ICMP message of at least 8 bytes; false when it is cut short.
fn icmp_message(
    data: &[u8],
    what: &mut Capped<128>,
    fields: &mut Capped<256>,
) -> Result<bool, fmt::Error> {
    let (kind, code) = (byte(data, 0), byte(data, 1));
    let (id, seq) = (be16(data, 4), be16(data, 6));
    match kind {
        0 | 8 | 15 | 16 => {
            what.write_str(match kind {
                0 => "Echo reply",
                8 => "Echo request",
                15 => "Information request",
                _ => "Information reply",
            })?;
            write!(fields, "id={id} seq={seq}")?;
        }
        3 => return unreachable(data, code, what, fields),
        4 => what.write_str("Source quench")?,
        5 => {
            what.write_str(match code {
                0 => "Network redirect",
                1 => "Host redirect",
                _ => "Redirect (unknown code)",
            })?;
            write!(fields, "addr={}", addr(data, 4))?;
        }
        9 => {
            what.write_str(if code == 16 {
                "Router advertisement (Mobile Agent Only)"
            } else {
                "Router advertisement"
            })?;
            write!(
                fields,
                "addrs={} addrlen={} lifetime={}",
                byte(data, 4),
                byte(data, 5),
                be16(data, 6)
            )?;
        }
        10 => what.write_str("Router solicitation")?,
        11 => what.write_str(match code {
            0 => "TTL=0 during transit",
            1 => "TTL=0 during reassembly",
            _ => "TTL exceeded (unknown code)",
        })?,
        12 => {
            what.write_str(match code {
                0 => "Parameter problem (pointer indicates error)",
                1 => "Parameter problem (option missing)",
                2 => "Parameter problem (bad length)",
                _ => "Parameter problem (unknown code)",
            })?;
            write!(fields, "pointer={}", byte(data, 4))?;
        }
        13 | 14 => {
            let which = if kind == 13 { "request" } else { "reply" };
            write!(what, "Timestamp {which}")?;
            if data.len() < 20 {
                // nmap reads the three timestamps from past the end; we call it cut short.
                return Ok(false);
            }
            write!(
                fields,
                "id={id} seq={seq} orig={} recv={} trans={}",
                be32(data, 8),
                be32(data, 12),
                be32(data, 16)
            )?;
        }
        17 | 18 => {
            let which = if kind == 17 { "request" } else { "reply" };
            write!(what, "Address mask {which}")?;
            if data.len() < 12 {
                // As for timestamps: nmap would read the mask from past the end.
                return Ok(false);
            }
            write!(fields, "id={id} seq={seq} mask={}", addr(data, 8))?;
        }
        30 => what.write_str("Traceroute")?,
        37 => what.write_str("Domain name request")?,
        38 => what.write_str("Domain name reply")?,
        40 => what.write_str("Security failures")?,
        _ => what.write_str("Unknown type")?,
    }
    Ok(true)
}

/// Destination unreachable: the wording depends on the code and on the quoted datagram (its
/// destination, protocol and, when more than its first 8 transport bytes are quoted, port).
fn unreachable(
    data: &[u8],
    code: u8,
    what: &mut Capped<128>,
    fields: &mut Capped<256>,
) -> Result<bool, fmt::Error> {
    let quoted = data.get(8..).unwrap_or_default();
    let first = quoted.first().copied().unwrap_or_default();
    let quoted_header_len = usize::from(first & 0x0f) * 4;
    let needed = 8 + quoted_header_len.max(20);
    if needed > data.len() {
        what.write_str("Destination unreachable")?;
        return Ok(false);
    }
    if first >> 4 != 4 || !(20..=60).contains(&quoted_header_len) {
        what.write_str("Destination unreachable (bogus original datagram)")?;
        return Ok(false);
    }
    let original = addr(quoted, 16);
    let protocol = byte(quoted, 9);
    match code {
        0 => write!(what, "Network {original} unreachable")?,
        1 => write!(what, "Host {original} unreachable")?,
        2 => write!(what, "Protocol {protocol} unreachable")?,
        // nmap wants strictly more than the 8 transport bytes before it names the port.
        3 if needed + 8 < data.len() => match protocol {
            6 | 17 | 132 => write!(
                what,
                "Port {} unreachable",
                be16(quoted, quoted_header_len + 2)
            )?,
            _ => write!(what, "Port unreachable (unknown protocol {protocol})")?,
        },
        3 => what.write_str("Port unreachable")?,
        4 => {
            what.write_str("Fragmentation required")?;
            write!(fields, "Next-Hop-MTU={}", be16(data, 6))?;
        }
        5 => what.write_str("Source route failed")?,
        6 => write!(what, "Destination network {original} unknown")?,
        7 => write!(what, "Destination host {original} unknown")?,
        8 => what.write_str("Source host isolated")?,
        9 => write!(
            what,
            "Destination network {original} administratively prohibited"
        )?,
        10 => write!(
            what,
            "Destination host {original} administratively prohibited"
        )?,
        11 => write!(what, "Network {original} unreachable for TOS")?,
        12 => write!(what, "Host {original} unreachable for TOS")?,
        13 => what.write_str("Communication administratively prohibited by filtering")?,
        14 => what.write_str("Host precedence violation")?,
        15 => what.write_str("Precedence cutoff in effect")?,
        _ => what.write_str("Destination unreachable (unknown code)")?,
    }
    Ok(true)
}

/// TCP options as nmap's `tcppacketoptinfo()` reads them: `<mss 1460,sackOK,timestamp 1 0,nop,
/// wscale 7>`. `bytes` runs from the first option to the end of the packet, `len` is the option
/// space the header declares. Like nmap: the length byte of a known option is not consulted,
/// an unknown kind prints only its separator and the next byte is read as a kind (without using
/// up option space), SACK edges are printed in host (x86, little-endian) byte order, and when
/// the options do not fit in what is left of `len` nothing is printed. Where nmap would go on
/// reading past the end of the packet we stop and print nothing.
fn tcp_options(bytes: &[u8], len: usize, out: &mut Capped<256>) -> fmt::Result {
    let mut left = i64::try_from(len).unwrap_or(i64::MAX);
    let mut at = 0;
    let mut separator = '<';
    // nmap's buffer of 256 bytes must keep room for two more characters.
    while left > 0 && out.room() > 2 {
        out.write_char(separator)?;
        separator = ',';
        let Some(&kind) = bytes.get(at) else { break };
        // The option space nmap takes for a kind it knows: fixed, or SACK's length byte.
        let size = match kind {
            0 | 1 => 1,
            2 => 4,
            3 => 3,
            4 => 2,
            5 => match bytes.get(at + 1) {
                Some(&size) if size >= 2 => size,
                _ => break,
            },
            8 => 10,
            _ => {
                at += 1;
                continue;
            }
        };
        if left < i64::from(size) {
            break;
        }
        match kind {
            0 => out.write_str("eol")?,
            1 => out.write_str("nop")?,
            2 => {
                let Some(mss) = be16_at(bytes, at + 2) else {
                    break;
                };
                write!(out, "mss {mss}")?;
            }
            3 => {
                let Some(shift) = bytes.get(at + 2) else {
                    break;
                };
                write!(out, "wscale {shift}")?;
            }
            4 => out.write_str("sackOK")?,
            5 => {
                let edges = usize::from(size) - 2;
                if edges == 0 || edges % 8 != 0 {
                    out.write_str("malformed sack")?;
                } else {
                    let Some(blocks) = bytes.get(at + 2..at + 2 + edges) else {
                        break;
                    };
                    write!(out, "sack {} ", edges / 8)?;
                    // nmap prints the edges without ntohl(): in x86 byte order.
                    for &[a, b, c, d, e, f, g, h] in blocks.as_chunks::<8>().0 {
                        let left_edge = u32::from_le_bytes([a, b, c, d]);
                        let right_edge = u32::from_le_bytes([e, f, g, h]);
                        write!(out, "{{{left_edge}:{right_edge}}}")?;
                    }
                }
            }
            _ => {
                let (Some(value), Some(echo)) = (be32_at(bytes, at + 2), be32_at(bytes, at + 6))
                else {
                    break;
                };
                write!(out, "timestamp {value} {echo}")?;
            }
        }
        at += usize::from(size);
        left -= i64::from(size);
    }
    if left > 0 {
        out.clear();
        return Ok(());
    }
    out.write_char('>')
}

/// IP options as nmap's `format_ip_options()` prints them (` NOP RR{#0.0.0.0 0.0.0.0}`, ` EOL`,
/// ` TM{[0 hosts not recorded]#0 }`, ` SI{id=1}`, ` ??{\x94\x04\x00\x00}`), including how it
/// falls back to a hex dump when an option is malformed, and its 255-character limit.
fn ip_options(options: &[u8], out: &mut Capped<256>) -> fmt::Result {
    // States besides an option kind.
    const NEXT: i32 = -1;
    const HEXDUMP: i32 = -2;
    let total = i32::try_from(options.len()).unwrap_or(i32::MAX);
    let byte = |i: i32| usize::try_from(i).map_or(0, |i| byte(options, i));
    let (mut kind, mut len, mut pointer, mut flags) = (NEXT, 0, 0, 0u8);
    let (mut start, mut end, mut pos) = (0, 0, 0);
    while pos < total {
        if kind == NEXT {
            start = pos;
            kind = i32::from(byte(pos));
            pos += 1;
            if kind != 0 && kind != 1 {
                if pos >= total {
                    // A kind without its length byte: dumped, closing brace only.
                    kind = HEXDUMP;
                    pos -= 1;
                    end = 255;
                    continue;
                }
                len = i32::from(byte(pos));
                pos += 1;
                end = (start + len).min(total).max(start + 2);
            }
        }
        match kind {
            0 | 1 => {
                out.write_str(if kind == 0 { " EOL" } else { " NOP" })?;
                kind = NEXT;
            }
            // Record route, loose and strict source route: addresses, `#` at the pointer.
            7 | 131 | 137 => 'option: {
                if pos - start == 2 {
                    let prefix = match kind {
                        131 => "LS",
                        137 => "SS",
                        _ => "",
                    };
                    write!(out, " {prefix}RR{{")?;
                    if pos >= end {
                        kind = HEXDUMP;
                        break 'option;
                    }
                    pointer = i32::from(byte(pos));
                    pos += 1;
                    if pointer % 4 != 0 || start + pointer - 1 > end || pointer < 4 {
                        write!(out, " [bad ptr={pointer:02}]")?;
                    }
                }
                if pos - start <= 2 {
                    kind = HEXDUMP;
                    break 'option;
                }
                if pos + 3 >= end {
                    kind = HEXDUMP;
                    break 'option;
                }
                let skew = (pointer % 4).max(0);
                for _ in 0..skew {
                    write!(out, "\\x{:02x}", byte(pos))?;
                    pos += 1;
                }
                pointer -= skew;
                if pos + 3 >= end {
                    kind = HEXDUMP;
                    break 'option;
                }
                let address = addr_at(options, pos);
                pos += 4;
                let mark = if pos - 3 - start == pointer { '#' } else { ' ' };
                write!(out, "{mark}{address}")?;
                if pos == end && pos - start == pointer - 1 {
                    out.write_char('#')?;
                }
            }
            // Internet timestamp: `[N hosts not recorded]`, then stamps or address@stamp.
            68 => 'option: {
                if pos - start == 2 {
                    out.write_str(" TM{")?;
                    if pos >= end {
                        kind = HEXDUMP;
                        break 'option;
                    }
                    pointer = i32::from(byte(pos));
                    pos += 1;
                    if pointer % 4 != 1 || start + pointer - 1 > end || pointer < 5 {
                        write!(out, " [bad ptr={pointer:02}]")?;
                    }
                    if pos >= end {
                        kind = HEXDUMP;
                        break 'option;
                    }
                    flags = byte(pos);
                    pos += 1;
                    if flags & 0x0c != 0 || flags & 0x03 == 2 {
                        write!(out, " [bad flags=\\x{:x}]", flags & 0x0f)?;
                    }
                    write!(out, "[{} hosts not recorded]", flags >> 4)?;
                    flags &= 0x03;
                }
                if pos - start <= 2 {
                    kind = HEXDUMP;
                    break 'option;
                }
                let entry = if flags == 0 { 4 } else { 8 };
                if pos + entry > end {
                    kind = HEXDUMP;
                    break 'option;
                }
                let skew = ((pointer + 3) % entry).max(0);
                for _ in 0..skew {
                    write!(out, "\\x{:02x}", byte(pos))?;
                    pos += 1;
                }
                pointer -= skew;
                out.write_char(if pos + 1 - start == pointer { '#' } else { ' ' })?;
                if flags != 0 {
                    if pos + 3 >= end {
                        kind = HEXDUMP;
                        break 'option;
                    }
                    write!(out, "{}@", addr_at(options, pos))?;
                    pos += 4;
                }
                if pos + 3 >= end {
                    kind = HEXDUMP;
                    break 'option;
                }
                write!(out, "{}", word_at(options, pos))?;
                pos += 4;
                if pos == end {
                    let mark = if pos - start == pointer - 1 { "#" } else { " " };
                    out.write_str(mark)?;
                }
            }
            // Stream identifier.
            136 => 'option: {
                if pos - start != 2 {
                    kind = HEXDUMP;
                    break 'option;
                }
                out.write_str(" SI{")?;
                if start + len > total || len != 4 {
                    write!(out, "[bad len {len:02}]")?;
                }
                if pos + 1 >= end {
                    kind = HEXDUMP;
                    break 'option;
                }
                let id = u16::from_be_bytes([byte(pos), byte(pos + 1)]);
                pos += 2;
                write!(out, "id={id}")?;
                if pos != end {
                    kind = HEXDUMP;
                }
            }
            HEXDUMP => {
                if pos == end {
                    out.write_char('}')?;
                    kind = NEXT;
                } else {
                    write!(out, "\\x{:02x}", byte(pos))?;
                    pos += 1;
                }
            }
            // Any other kind: kind and length in hex, then its bytes.
            _ => {
                write!(out, " ??{{\\x{:02x}\\x{:02x}", kind as u8, len as u8)?;
                end = if len < total {
                    (start + len).max(start + 2).min(total)
                } else {
                    255
                };
                kind = HEXDUMP;
            }
        }
        if pos == end && kind != NEXT {
            out.write_char('}')?;
            kind = NEXT;
        }
    }
    if kind != NEXT {
        out.write_char('}')?;
    }
    Ok(())
}

/// nmap's `nexthdrtoa(proto, 1)`: the IANA keyword of an IP protocol number.
fn protocol_keyword(protocol: u8) -> &'static str {
    const KEYWORDS: [&str; 143] = [
        "hopopt",
        "icmp",
        "igmp",
        "ggp",
        "ipv4",
        "st",
        "tcp",
        "cbt",
        "egp",
        "igp",
        "bbn-rcc-mon",
        "nvp-ii",
        "pup",
        "argus",
        "emcon",
        "xnet",
        "chaos",
        "udp",
        "mux",
        "dcn-meas",
        "hmp",
        "prm",
        "xns-idp",
        "trunk-1",
        "trunk-2",
        "leaf-1",
        "leaf-2",
        "rdp",
        "irtp",
        "iso-tp4",
        "netblt",
        "mfe-nsp",
        "merit-inp",
        "dccp",
        "3pc",
        "idpr",
        "xtp",
        "ddp",
        "idpr-cmtp",
        "tp++",
        "il",
        "ipv6",
        "sdrp",
        "ipv6-route",
        "ipv6-frag",
        "idrp",
        "rsvp",
        "gre",
        "dsp",
        "bna",
        "esp",
        "ah",
        "i-nlsp",
        "swipe",
        "narp",
        "mobile",
        "tlsp",
        "skip",
        "ipv6-icmp",
        "ipv6-nonxt",
        "ipv6-opts",
        "anyhost",
        "cftp",
        "anylocalnet",
        "sat-expak",
        "kryptolan",
        "rvd",
        "ippc",
        "anydistribfs",
        "sat-mon",
        "visa",
        "ipcv",
        "cpnx",
        "cphb",
        "wsn",
        "pvp",
        "br-sat-mon",
        "sun-nd",
        "wb-mon",
        "wb-expak",
        "iso-ip",
        "vmtp",
        "secure-vmtp",
        "vines",
        "iptm",
        "nsfnet-igp",
        "dgp",
        "tcf",
        "eigrp",
        "ospfigp",
        "sprite-rpc",
        "larp",
        "mtp",
        "ax.25",
        "ipip",
        "micp",
        "scc-sp",
        "etherip",
        "encap",
        "anyencrypt",
        "gmtp",
        "ifmp",
        "pnni",
        "pim",
        "aris",
        "scps",
        "qnx",
        "a/n",
        "ipcomp",
        "snp",
        "compaq-peer",
        "ipx-in-ip",
        "vrrp",
        "pgm",
        "any0hop",
        "l2tp",
        "ddx",
        "iatp",
        "stp",
        "srp",
        "uti",
        "smp",
        "sm",
        "ptp",
        "isis-ipv4",
        "fire",
        "crtp",
        "crudp",
        "sscopmce",
        "iplt",
        "sps",
        "pipe",
        "sctp",
        "fc",
        "rsvp-e2e-ignore",
        "mobility-hdr",
        "udplite",
        "mpls-in-ip",
        "manet",
        "hip",
        "shim6",
        "wesp",
        "rohc",
    ];
    match protocol {
        253 => "experimental1",
        254 => "experimental2",
        _ => KEYWORDS
            .get(usize::from(protocol))
            .copied()
            .unwrap_or("unknown"),
    }
}

/// A C-style fixed buffer: text past `N - 1` bytes is dropped, the way nmap's `snprintf`s into
/// its static buffers drop it.
struct Capped<const N: usize = 256> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Capped<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// What C's `bufsize` would be: the bytes left, counting the terminating NUL.
    fn room(&self) -> usize {
        N.saturating_sub(self.len)
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => std::str::from_utf8(bytes.get(..error.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

impl<const N: usize> fmt::Write for Capped<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let take = text.len().min(N.saturating_sub(1).saturating_sub(self.len));
        if let (Some(to), Some(from)) = (
            self.bytes.get_mut(self.len..self.len + take),
            text.as_bytes().get(..take),
        ) {
            to.copy_from_slice(from);
            self.len += take;
        }
        Ok(())
    }
}

fn byte(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or_default()
}

fn be16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk()?))
}

fn be32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// Big-endian u16 at `at`, 0 when the bytes are not there (callers check lengths first).
fn be16(bytes: &[u8], at: usize) -> u16 {
    be16_at(bytes, at).unwrap_or_default()
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    be32_at(bytes, at).unwrap_or_default()
}

fn addr(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(be32(bytes, at))
}

/// The big-endian u32 at a signed offset (the IP options code counts like nmap's, in `int`).
fn word_at(bytes: &[u8], at: i32) -> u32 {
    usize::try_from(at).map_or(0, |at| be32(bytes, at))
}

fn addr_at(bytes: &[u8], at: i32) -> Ipv4Addr {
    Ipv4Addr::from(word_at(bytes, at))
}

#[cfg(test)]
mod tests;
