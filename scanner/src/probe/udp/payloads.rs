//! What a UDP probe carries to each port: nmap's protocol payloads, from an `nmap-payloads`
//! file when there is one, else built-in payloads for the common services. An empty datagram
//! draws no answer from most services, a well-formed request does.
//!
//! The file's grammar is nmap's (payload.cc): entries `udp PORTS "string" ["string" ...]
//! [source PORT]`, strings concatenated, with the escapes `\\ \0 \n \r \t \xHH \"`, and `#`
//! comments. A malformed file is an error naming its line, never a scan without payloads.

use std::{collections::HashMap, fmt};

use scanner_common::{udp, wire::UDP_HEADER_LEN};

use crate::{targets::PortList, verdict::Proto};

/// nmap's file, read when present.
pub const NMAP_PAYLOADS: &str = "/usr/share/nmap/nmap-payloads";
/// The longest payload: a datagram that fits a 1500-byte MTU unfragmented.
pub const MAX_PAYLOAD: usize = 1500 - 20 - UDP_HEADER_LEN;
/// Nmap's limit of payloads per port (MAX_PAYLOADS_PER_PORT).
pub const MAX_PER_PORT: usize = 255;

/// The payloads by port.
#[derive(Clone, Debug)]
pub struct Payloads {
    /// Distinct payloads; index 0 is the empty one.
    payloads: Vec<Box<[u8]>>,
    /// The payloads of each port that has any, as indexes into `payloads`, in file order.
    by_port: HashMap<u16, Vec<u16>>,
}

/// What is wrong with a payload file, and on which line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for PayloadError {}

impl Payloads {
    /// Probes without payloads: empty datagrams (DNS ports excepted, see [`Self::get`]).
    pub fn none() -> Self {
        Self::from_entries(Vec::new())
    }

    /// The built-in payloads.
    pub fn builtin() -> Self {
        Self::from_entries(
            builtin::ENTRIES
                .iter()
                .map(|&(ports, bytes)| (ports.to_vec(), bytes.to_vec()))
                .collect(),
        )
    }

    /// Parses an `nmap-payloads` file.
    pub fn parse(text: &str) -> Result<Self, PayloadError> {
        Ok(Self::from_entries(parse(text)?))
    }

    fn from_entries(entries: Vec<Entry>) -> Self {
        let mut payloads: Vec<Box<[u8]>> = vec![Box::new([])];
        let mut by_port: HashMap<u16, Vec<u16>> = HashMap::new();
        let add = |ports: &[u16],
                   bytes: &[u8],
                   payloads: &mut Vec<Box<[u8]>>,
                   by_port: &mut HashMap<u16, Vec<u16>>| {
            // A payload listed twice is kept once, as nmap does.
            let index = match payloads.iter().position(|known| **known == *bytes) {
                Some(index) => index,
                None => {
                    payloads.push(bytes.into());
                    payloads.len() - 1
                }
            } as u16;
            for &port in ports {
                let list = by_port.entry(port).or_default();
                if !list.contains(&index) && list.len() < MAX_PER_PORT {
                    list.push(index);
                }
            }
        };
        for (ports, bytes) in &entries {
            add(ports, bytes, &mut payloads, &mut by_port);
        }
        // Answers from a DNS port must echo the cookie in a query's id: its probes are
        // always DNS queries, the built-in one where the file has none.
        for port in udp::DNS_PORTS {
            let list = by_port.entry(port).or_default();
            list.retain(|&index| payloads[usize::from(index)].len() >= udp::DNS_HEADER_LEN);
            if list.is_empty() {
                add(
                    &[port],
                    builtin::dns_query(port),
                    &mut payloads,
                    &mut by_port,
                );
            }
        }
        Self { payloads, by_port }
    }

    /// The payload of the `attempt`th probe to `port` (0 the first): each of the port's
    /// payloads in turn, the empty one for ports without.
    #[inline]
    pub fn get(&self, port: u16, attempt: u32) -> (u16, &[u8]) {
        let index = match self.by_port.get(&port) {
            Some(list) => list[attempt as usize % list.len()],
            None => 0,
        };
        (index, &self.payloads[usize::from(index)])
    }

    /// Every distinct payload, by index (0 the empty one).
    pub fn all(&self) -> &[Box<[u8]>] {
        &self.payloads
    }

    /// How many payloads `port` has.
    pub fn count(&self, port: u16) -> usize {
        self.by_port.get(&port).map_or(0, Vec::len)
    }
}

/// One entry of a payload file: its ports and its bytes.
type Entry = (Vec<u16>, Vec<u8>);

/// The entries of an nmap-payloads file.
fn parse(text: &str) -> Result<Vec<Entry>, PayloadError> {
    let mut tokens = Tokens::new(text);
    let mut entries = Vec::new();
    let mut token = tokens.next()?;
    while let Some((line, current)) = token {
        match current {
            Token::Symbol("udp") => {}
            Token::Symbol(other) => {
                return Err(PayloadError {
                    line,
                    message: format!("expected \"udp\", found {other:?}"),
                });
            }
            Token::String(_) => {
                return Err(PayloadError {
                    line,
                    message: "a payload string outside a \"udp\" entry".into(),
                });
            }
        }
        let ports = match tokens.next()? {
            Some((line, Token::Symbol(spec))) => PortList::parse_for(spec, Proto::Udp)
                .map_err(|err| PayloadError {
                    line,
                    message: format!("bad port list {spec:?}: {err}"),
                })?
                .iter()
                .collect::<Vec<u16>>(),
            _ => {
                return Err(PayloadError {
                    line,
                    message: "\"udp\" without a port list".into(),
                });
            }
        };
        let mut bytes = Vec::new();
        let mut strings = 0;
        token = tokens.next()?;
        while let Some((at, Token::String(string))) = token {
            bytes.extend_from_slice(&string);
            strings += 1;
            if bytes.len() > MAX_PAYLOAD {
                return Err(PayloadError {
                    line: at,
                    message: format!("payload longer than {MAX_PAYLOAD} bytes"),
                });
            }
            token = tokens.next()?;
        }
        if strings == 0 {
            return Err(PayloadError {
                line,
                message: "\"udp\" entry without a payload string".into(),
            });
        }
        // "source PORT" asks for a source port; ours carries the cookie, so it is ignored.
        if let Some((at, Token::Symbol("source"))) = token {
            match tokens.next()? {
                Some((_, Token::Symbol(port))) if port.parse::<u16>().is_ok() => {}
                _ => {
                    return Err(PayloadError {
                        line: at,
                        message: "\"source\" without a port number".into(),
                    });
                }
            }
            token = tokens.next()?;
        }
        entries.push((ports, bytes));
    }
    Ok(entries)
}

enum Token<'a> {
    Symbol(&'a str),
    String(Vec<u8>),
}

/// nmap-payloads' tokens with their line numbers.
struct Tokens<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 1,
        }
    }

    fn error(&self, message: impl Into<String>) -> PayloadError {
        PayloadError {
            line: self.line,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Result<Option<(usize, Token<'a>)>, PayloadError> {
        loop {
            let Some(c) = self.rest.chars().next() else {
                return Ok(None);
            };
            match c {
                '\n' => {
                    self.line += 1;
                    self.rest = &self.rest[1..];
                }
                c if c.is_whitespace() => self.rest = &self.rest[c.len_utf8()..],
                '#' => {
                    let end = self.rest.find('\n').unwrap_or(self.rest.len());
                    self.rest = &self.rest[end..];
                }
                '"' => return self.string().map(|s| Some((self.line, Token::String(s)))),
                _ => {
                    let end = self
                        .rest
                        .find(|c: char| c.is_whitespace() || c == '"' || c == '#')
                        .unwrap_or(self.rest.len());
                    let (symbol, rest) = self.rest.split_at(end);
                    self.rest = rest;
                    return Ok(Some((self.line, Token::Symbol(symbol))));
                }
            }
        }
    }

    /// A quoted string, unescaped; `rest` starts at its opening quote.
    fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        let mut bytes = Vec::new();
        let mut chars = self.rest[1..].char_indices();
        loop {
            let Some((at, c)) = chars.next() else {
                return Err(self.error("unterminated string"));
            };
            match c {
                '"' => {
                    self.rest = &self.rest[1 + at + 1..];
                    return Ok(bytes);
                }
                '\n' => return Err(self.error("unterminated string")),
                '\\' => {
                    let escaped = match chars.next() {
                        Some((_, '\\')) => b'\\',
                        Some((_, '"')) => b'"',
                        Some((_, '0')) => 0,
                        Some((_, 'n')) => b'\n',
                        Some((_, 'r')) => b'\r',
                        Some((_, 't')) => b'\t',
                        Some((_, 'x')) => {
                            let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                            match (hex.len(), u8::from_str_radix(&hex, 16)) {
                                (2, Ok(byte)) => byte,
                                _ => return Err(self.error(format!("bad escape \\x{hex}"))),
                            }
                        }
                        Some((_, other)) => {
                            return Err(self.error(format!("unknown escape \\{other}")));
                        }
                        None => return Err(self.error("unterminated string")),
                    };
                    bytes.push(escaped);
                }
                c => {
                    let mut utf8 = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
    }
}

/// Requests for the common UDP services, for machines without nmap's file.
mod builtin {
    /// DNS: a standard query for `version.bind` TXT in class CHAOS, which every DNS server
    /// answers (if only to refuse it).
    const DNS: &[u8] = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x07version\x04bind\x00\x00\x10\x00\x03";
    /// Multicast DNS: the DNS-SD service enumeration query (RFC 6763 9).
    const MDNS: &[u8] = b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x09_services\x07_dns-sd\x04_udp\x05local\x00\x00\x0c\x00\x01";
    /// NTP: a version 4 client request (RFC 5905).
    const NTP: &[u8] = b"\xe3\x00\x04\xfa\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    /// SNMP v1 and v2c GetRequest for sysDescr.0 with community `public`.
    const SNMP_V1: &[u8] = b"\x30\x29\x02\x01\x00\x04\x06public\xa0\x1c\x02\x04\x00\x00\x30\x39\
        \x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";
    const SNMP_V2C: &[u8] = b"\x30\x29\x02\x01\x01\x04\x06public\xa0\x1c\x02\x04\x00\x00\x30\x3a\
        \x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";
    /// NetBIOS: a node status (NBSTAT) query for the wildcard name `*`.
    const NETBIOS: &[u8] = b"\x80\xf0\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00\
        \x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00\x00\x21\x00\x01";
    /// SSDP: a search for every device (UPnP 1.1 1.3.2).
    const SSDP: &[u8] = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\
        MAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";
    /// IKE: an ISAKMP main-mode proposal (3DES, SHA1, pre-shared key, MODP-1024).
    const IKE: &[u8] = b"\x5c\x4d\x0c\x2e\x11\x22\x33\x44\x00\x00\x00\x00\x00\x00\x00\x00\
        \x01\x10\x02\x00\x00\x00\x00\x00\x00\x00\x00\x50\
        \x00\x00\x00\x34\x00\x00\x00\x01\x00\x00\x00\x01\
        \x00\x00\x00\x28\x01\x01\x00\x01\
        \x00\x00\x00\x20\x01\x01\x00\x00\
        \x80\x01\x00\x05\x80\x02\x00\x02\x80\x03\x00\x01\x80\x04\x00\x02\
        \x80\x0b\x00\x01\x80\x0c\x70\x80";
    /// memcached: `stats` in the UDP frame header (request 1, datagram 0 of 1).
    const MEMCACHED: &[u8] = b"\x00\x01\x00\x00\x00\x01\x00\x00stats\r\n";
    /// Echo: anything comes back.
    const ECHO: &[u8] = b"\r\n\r\n";
    /// ONC RPC: a NULL call to the portmapper (program 100000 version 2).
    const RPC: &[u8] = b"\x72\xfe\x1d\x13\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa0\
        \x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00";
    /// TFTP: a read request.
    const TFTP: &[u8] = b"\x00\x01a.txt\x00octet\x00";
    /// STUN: a binding request (RFC 8489).
    const STUN: &[u8] = b"\x00\x01\x00\x00\x21\x12\xa4\x42\x6e\x6d\x61\x70\x73\x63\x61\x6e\
        \x73\x74\x75\x6e";
    /// RIP: a request for the whole table (RFC 2453 3.9.1).
    const RIP: &[u8] = b"\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x10";
    /// MS SQL Server Resolution Protocol: a broadcast ping.
    const MSSQL: &[u8] = b"\x02";

    pub const ENTRIES: &[(&[u16], &[u8])] = &[
        (&[7], ECHO),
        (&[53], DNS),
        (&[69], TFTP),
        (&[111], RPC),
        (&[123], NTP),
        (&[137], NETBIOS),
        (&[161], SNMP_V1),
        (&[161], SNMP_V2C),
        (&[500, 4500], IKE),
        (&[520], RIP),
        (&[1434], MSSQL),
        (&[1900], SSDP),
        (&[3478], STUN),
        (&[5353], MDNS),
        (&[11211], MEMCACHED),
    ];

    /// The query for a DNS port.
    pub fn dns_query(port: u16) -> &'static [u8] {
        match port {
            5353 => MDNS,
            _ => DNS,
        }
    }

    #[cfg(test)]
    pub const ALL: &[&[u8]] = &[
        DNS, MDNS, NTP, SNMP_V1, SNMP_V2C, NETBIOS, SSDP, IKE, MEMCACHED, ECHO, RPC, TFTP, STUN,
        RIP, MSSQL,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nmap_grammar() {
        let payloads = Payloads::parse(
            "# comment\nudp 7 \"\\x0D\\x0A\"\nudp 53,69,5353,26198 \"\\x00\\x00\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"\n\
             udp 123\n  \"ab\" # more\n  \"c\\\"\\\\\\0\\n\\r\\t\"\nsource 500\nudp 40000-40002 \"x\"\n",
        )
        .unwrap();
        assert_eq!(payloads.get(7, 0).1, b"\r\n");
        assert_eq!(payloads.get(123, 0).1, b"abc\"\\\0\n\r\t");
        assert_eq!(payloads.get(26198, 0).1, payloads.get(69, 0).1);
        assert_eq!(payloads.get(40001, 0).1, b"x");
        assert_eq!(payloads.get(9, 0), (0, &b""[..]));
        // The shared payload is stored once.
        assert_eq!(payloads.get(53, 0).0, payloads.get(69, 0).0);
    }

    #[test]
    fn the_payloads_of_a_port_take_turns() {
        let payloads =
            Payloads::parse("udp 161 \"a\"\nudp 161,162 \"b\"\nudp 161 \"a\"\n").unwrap();
        assert_eq!(payloads.count(161), 2);
        let turns: Vec<&[u8]> = (0..4).map(|attempt| payloads.get(161, attempt).1).collect();
        assert_eq!(turns, [b"a", b"b", b"a", b"b"]);
        assert_eq!(payloads.get(162, 7).1, b"b");
    }

    #[test]
    fn dns_ports_always_get_a_dns_query() {
        for payloads in [
            Payloads::none(),
            Payloads::parse("udp 53 \"short\"\n").unwrap(),
            Payloads::builtin(),
        ] {
            for port in udp::DNS_PORTS {
                assert!(payloads.count(port) >= 1);
                for attempt in 0..3 {
                    assert!(payloads.get(port, attempt).1.len() >= udp::DNS_HEADER_LEN);
                }
            }
        }
    }

    #[test]
    fn malformed_files_name_the_line_and_the_fault() {
        for (text, line, fault) in [
            ("udp 7 \"abc\n", 1, "unterminated string"),
            ("\nudp 7 \"\\q\"", 2, "unknown escape \\q"),
            ("udp 7 \"\\x4\"", 1, "bad escape \\x4\""),
            ("udp 7 \"\\xZZ\"", 1, "bad escape \\xZZ"),
            ("udp\n", 1, "without a port list"),
            ("udp 7\nudp 8 \"a\"", 1, "without a payload string"),
            ("udp 70000 \"a\"", 1, "bad port list"),
            ("tcp 7 \"a\"", 1, "expected \"udp\""),
            ("\"a\"", 1, "outside"),
            ("udp 7 \"a\" source x", 1, "\"source\" without a port"),
        ] {
            let err = Payloads::parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(fault), "{text:?}: {err}");
        }
        let long = format!("udp 7 \"{}\"", "a".repeat(MAX_PAYLOAD + 1));
        assert!(
            Payloads::parse(&long)
                .unwrap_err()
                .message
                .contains("longer")
        );
    }

    #[test]
    fn nmaps_file_parses_when_installed() {
        let Ok(text) = std::fs::read_to_string(NMAP_PAYLOADS) else {
            return;
        };
        let payloads = Payloads::parse(&text).unwrap();
        assert!(payloads.count(161) >= 1 && payloads.count(123) >= 1);
    }

    /// The length fields inside the built-in requests agree with their lengths.
    #[test]
    fn builtin_requests_are_well_formed() {
        for payload in builtin::ALL {
            assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
        }
        let payloads = Payloads::builtin();
        for snmp in 0..2 {
            let request = payloads.get(161, snmp).1;
            assert_eq!(usize::from(request[1]) + 2, request.len());
            assert_eq!(request[4], snmp as u8, "version");
        }
        let ike = payloads.get(500, 0).1;
        assert_eq!(
            u32::from_be_bytes(ike[24..28].try_into().unwrap()) as usize,
            ike.len()
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([ike[30], ike[31]])),
            ike.len() - 28
        );
        let stun = payloads.get(3478, 0).1;
        assert_eq!(stun.len(), 20);
        for port in udp::DNS_PORTS {
            let query = payloads.get(port, 0).1;
            // One question, no other records; the name's labels end at the root.
            assert_eq!(&query[4..12], b"\x00\x01\x00\x00\x00\x00\x00\x00");
            let mut at = 12;
            while query[at] != 0 {
                at += 1 + usize::from(query[at]);
            }
            assert_eq!(query.len(), at + 5, "type and class follow the name");
        }
    }
}
