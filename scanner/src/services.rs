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

/// Nmap's names of the common UDP services.
const EMBEDDED_UDP: &[(u16, &str)] = &[
    (7, "echo"),
    (53, "domain"),
    (67, "dhcps"),
    (68, "dhcpc"),
    (69, "tftp"),
    (111, "rpcbind"),
    (123, "ntp"),
    (137, "netbios-ns"),
    (138, "netbios-dgm"),
    (161, "snmp"),
    (162, "snmptrap"),
    (500, "isakmp"),
    (514, "syslog"),
    (520, "route"),
    (1434, "ms-sql-m"),
    (1900, "upnp"),
    (3478, "stun"),
    (4500, "nat-t-ike"),
    (5353, "zeroconf"),
    (11211, "memcache"),
];

/// Well-known SCTP ports (IANA), scanned by -sY/-sZ without -p when nmap's file is missing.
const EMBEDDED_SCTP: &[(u16, &str)] = &[
    (7, "echo"),
    (9, "discard"),
    (20, "ftp-data"),
    (21, "ftp"),
    (22, "ssh"),
    (80, "http"),
    (179, "bgp"),
    (443, "https"),
    (1021, "exp1"),
    (1022, "exp2"),
    (1167, "cisco-ipsla"),
    (1720, "h323hostcall"),
    (2000, "cisco-sccp"),
    (2225, "rcip-itu"),
    (2427, "mgcp-gateway"),
    (2904, "m2ua"),
    (2905, "m3ua"),
    (2944, "megaco-h248"),
    (2945, "h248-binary"),
    (3097, "itu-bicc-stc"),
    (3565, "m2pa"),
    (3863, "asap-sctp"),
    (3864, "asap-sctp-tls"),
    (3868, "diameter"),
    (4333, "ahsp"),
    (4502, "a25-fap-fgw"),
    (4739, "ipfix"),
    (4740, "ipfixs"),
    (5060, "sip"),
    (5061, "sip-tls"),
    (5090, "car"),
    (5091, "cxtp"),
    (5215, "noteza"),
    (5445, "smbdirect"),
    (5672, "amqp"),
    (5675, "v5ua"),
    (6704, "frc-hp"),
    (6705, "frc-mp"),
    (6706, "frc-lp"),
    (8282, "cisco-ipsla"),
    (8471, "pim-port"),
    (9082, "lcs-ap"),
    (9084, "aurora"),
    (9900, "iua"),
    (9901, "enrp-sctp"),
    (9902, "enrp-sctp-tls"),
    (11997, "wmereceiving"),
    (11998, "wmedistribution"),
    (11999, "wmereporting"),
    (14001, "sua"),
    (20049, "nfsrdma"),
    (25471, "rna"),
    (29118, "sgsap"),
    (29168, "sbcap"),
    (29169, "iuhsctpassoc"),
    (30100, "rwp"),
    (36412, "s1-control"),
    (36422, "x2-control"),
    (36443, "m2ap"),
    (36444, "m3ap"),
    (36462, "xw-control"),
    (38412, "ng-control"),
    (38422, "xn-control"),
    (38472, "f1-control"),
];

pub struct Services {
    names: HashMap<(Proto, u16), String>,
    /// TCP and UDP ports by descending open frequency (empty without nmap's file).
    tcp_by_frequency: Vec<u16>,
    udp_by_frequency: Vec<u16>,
    /// The "services" of the IP protocol scan.
    protocols: Protocols,
}

impl Services {
    /// [`Services::load`], once per process: the report's port entries borrow their names.
    pub fn global() -> &'static Services {
        static SERVICES: std::sync::OnceLock<Services> = std::sync::OnceLock::new();
        SERVICES.get_or_init(Services::load)
    }

    /// Nmap's name for a port or protocol, when its tables have one.
    pub fn known_name(&self, proto: Proto, port: u16) -> Option<&str> {
        match proto {
            Proto::Ip => u8::try_from(port)
                .ok()
                .and_then(|number| self.protocols.name(number)),
            _ => self.names.get(&(proto, port)).map(String::as_str),
        }
    }

    /// Loads nmap's tables if present; any problem with one falls back to the embedded names.
    pub fn load() -> Self {
        Self {
            protocols: Protocols::load(),
            ..Self::from_file(Path::new(NMAP_SERVICES)).unwrap_or_else(Self::embedded)
        }
    }

    pub fn embedded() -> Self {
        let tcp = EMBEDDED_TCP
            .iter()
            .map(|&(port, name)| (Proto::Tcp, port, name));
        let udp = EMBEDDED_UDP
            .iter()
            .map(|&(port, name)| (Proto::Udp, port, name));
        let sctp = EMBEDDED_SCTP
            .iter()
            .map(|&(port, name)| (Proto::Sctp, port, name));
        Self {
            names: tcp
                .chain(udp)
                .chain(sctp)
                .map(|(proto, port, name)| ((proto, port), name.to_owned()))
                .collect(),
            tcp_by_frequency: Vec::new(),
            udp_by_frequency: Vec::new(),
            protocols: Protocols::embedded(),
        }
    }

    pub fn from_file(path: &Path) -> Option<Self> {
        Some(Self::parse(&fs::read_to_string(path).ok()?))
    }

    /// Lines look like `http\t80/tcp\t0.484143\t# World Wide Web HTTP`.
    pub fn parse(text: &str) -> Self {
        let mut names = HashMap::new();
        let mut tcp_ranked = Vec::new();
        let mut udp_ranked = Vec::new();
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
            match proto {
                Proto::Tcp => tcp_ranked.push((frequency, port)),
                Proto::Udp => udp_ranked.push((frequency, port)),
                _ => {}
            }
        }
        let by_frequency = |mut ranked: Vec<(f64, u16)>| -> Vec<u16> {
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked.dedup_by_key(|&mut (_, port)| port);
            ranked.into_iter().map(|(_, port)| port).collect()
        };
        Self {
            names,
            tcp_by_frequency: by_frequency(tcp_ranked),
            udp_by_frequency: by_frequency(udp_ranked),
            protocols: Protocols::embedded(),
        }
    }

    /// The service name nmap would print ("unknown" when it has none).
    pub fn name(&self, proto: Proto, port: u16) -> &str {
        self.known_name(proto, port).unwrap_or("unknown")
    }

    /// What nmap's -sY and -sZ scan without -p: every SCTP port the table names, in order.
    pub fn sctp_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .names
            .keys()
            .filter(|(proto, _)| *proto == Proto::Sctp)
            .map(|&(_, port)| port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// What nmap's -F scans with -sO: the protocols that have a name.
    pub fn named_protocols(&self) -> Vec<u16> {
        self.protocols.named().map(u16::from).collect()
    }

    /// Nmap's default port list: the `count` most frequently open TCP ports, when known.
    pub fn top_tcp_ports(&self, count: usize) -> Option<Vec<u16>> {
        self.top_ports(Proto::Tcp, count)
    }

    /// The `count` most frequently open ports of `proto` (TCP or UDP), when known.
    pub fn top_ports(&self, proto: Proto, count: usize) -> Option<Vec<u16>> {
        let by_frequency = match proto {
            Proto::Tcp => &self.tcp_by_frequency,
            Proto::Udp => &self.udp_by_frequency,
            _ => return None,
        };
        (!by_frequency.is_empty()).then(|| by_frequency.iter().copied().take(count).collect())
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
        assert_eq!(services.top_ports(Proto::Udp, 10), Some(vec![22]));
        assert_eq!(services.name(Proto::Udp, 22), "foo");
    }

    #[test]
    fn embedded_table_names_common_ports() {
        let services = Services::embedded();
        assert_eq!(services.name(Proto::Tcp, 443), "https");
        assert_eq!(services.top_tcp_ports(1000), None);
    }
}
