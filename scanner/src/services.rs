//! Service names and port popularity: nmap's `nmap-services` when installed, a small embedded
//! table of IANA names otherwise; and the names of IP protocols (see [`Protocols`]).

use std::{collections::HashMap, fs, path::Path};

use crate::{protocols::Protocols, verdict::Proto};

pub const NMAP_SERVICES: &str = "/usr/share/nmap/nmap-services";

/// IANA names of the most common TCP services, for machines without nmap's file.
const EMBEDDED_TCP: &[(u16, &str)] = &[
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (25, "smtp"),
    (53, "domain"),
    (80, "http"),
    (110, "pop3"),
    (111, "rpcbind"),
    (135, "msrpc"),
    (139, "netbios-ssn"),
    (143, "imap"),
    (443, "https"),
    (445, "microsoft-ds"),
    (993, "imaps"),
    (995, "pop3s"),
    (1723, "pptp"),
    (3306, "mysql"),
    (3389, "ms-wbt-server"),
    (5900, "vnc"),
    (8080, "http-proxy"),
];

pub struct Services {
    names: HashMap<(Proto, u16), String>,
    /// TCP ports by descending open frequency (empty without nmap's file).
    tcp_by_frequency: Vec<u16>,
    /// The "services" of the IP protocol scan.
    protocols: Protocols,
}

impl Services {
    /// Loads nmap's tables if present; any problem with one falls back to the embedded names.
    pub fn load() -> Self {
        Self {
            protocols: Protocols::load(),
            ..Self::from_file(Path::new(NMAP_SERVICES)).unwrap_or_else(Self::embedded)
        }
    }

    pub fn embedded() -> Self {
        Self {
            names: EMBEDDED_TCP
                .iter()
                .map(|&(port, name)| ((Proto::Tcp, port), name.to_owned()))
                .collect(),
            tcp_by_frequency: Vec::new(),
            protocols: Protocols::embedded(),
        }
    }

    pub fn from_file(path: &Path) -> Option<Self> {
        Some(Self::parse(&fs::read_to_string(path).ok()?))
    }

    /// Lines look like `http\t80/tcp\t0.484143\t# World Wide Web HTTP`.
    pub fn parse(text: &str) -> Self {
        let mut names = HashMap::new();
        let mut ranked = Vec::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (fields.next(), fields.next()) else {
                continue;
            };
            if name.starts_with('#') {
                continue;
            }
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let (Ok(port), Some(proto)) = (port.parse::<u16>(), parse_proto(proto)) else {
                continue;
            };
            let frequency = fields
                .next()
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0);
            names
                .entry((proto, port))
                .or_insert_with(|| name.to_owned());
            if proto == Proto::Tcp {
                ranked.push((frequency, port));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.dedup_by_key(|&mut (_, port)| port);
        Self {
            names,
            tcp_by_frequency: ranked.into_iter().map(|(_, port)| port).collect(),
            protocols: Protocols::embedded(),
        }
    }

    /// The service name nmap would print ("unknown" when it has none).
    pub fn name(&self, proto: Proto, port: u16) -> &str {
        let name = match proto {
            Proto::Ip => u8::try_from(port)
                .ok()
                .and_then(|number| self.protocols.name(number)),
            _ => self.names.get(&(proto, port)).map(String::as_str),
        };
        name.unwrap_or("unknown")
    }

    /// What nmap's -F scans with -sO: the protocols that have a name.
    pub fn named_protocols(&self) -> Vec<u16> {
        self.protocols.named().map(u16::from).collect()
    }

    /// Nmap's default port list: the `count` most frequently open TCP ports, when known.
    pub fn top_tcp_ports(&self, count: usize) -> Option<Vec<u16>> {
        (!self.tcp_by_frequency.is_empty())
            .then(|| self.tcp_by_frequency.iter().copied().take(count).collect())
    }
}

fn parse_proto(proto: &str) -> Option<Proto> {
    match proto {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "sctp" => Some(Proto::Sctp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nmap_services_lines() {
        let services = Services::parse(
            "# comment\nhttp\t80/tcp\t0.484143\t# WWW\nssh\t22/tcp\t0.182286\nfoo\t22/udp\t0.9\n\
             bad line\nx\t99999/tcp\t0.1\nunknown\t81/tcp\t0.0001\n",
        );
        assert_eq!(services.name(Proto::Tcp, 80), "http");
        assert_eq!(services.name(Proto::Tcp, 22), "ssh");
        assert_eq!(services.name(Proto::Tcp, 23), "unknown");
        assert_eq!(services.top_tcp_ports(2), Some(vec![80, 22]));
        assert_eq!(services.top_tcp_ports(10), Some(vec![80, 22, 81]));
    }

    #[test]
    fn embedded_table_names_common_ports() {
        let services = Services::embedded();
        assert_eq!(services.name(Proto::Tcp, 443), "https");
        assert_eq!(services.top_tcp_ports(1000), None);
    }
}
