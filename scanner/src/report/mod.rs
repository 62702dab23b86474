//! The report model: what a scan found, in the shape every output writes it from.
//!
//! The scan's stages decide results; the report groups them per host, gives silence its state
//! (nmap's `filtered` or `open|filtered`), and hands each finished host to the writers under
//! [`crate::output`]. A writer sees only these types, never the engine.

pub mod build;
pub mod fold;
pub mod tables;
pub mod time;
pub mod totals;

use std::{io, net::Ipv4Addr, time::SystemTime};

use crate::{
    osscan::report::OsReport,
    verdict::{PortState, Proto, Reason},
};

/// The scan types, with the names nmap's XML gives them (`scaninfo type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    Syn,
    IpProto,
    SctpInit,
    SctpCookieEcho,
    Udp,
}

impl ScanKind {
    /// The option that asks for it.
    pub fn option(self) -> &'static str {
        match self {
            Self::Syn => "-sS",
            Self::IpProto => "-sO",
            Self::SctpInit => "-sY",
            Self::SctpCookieEcho => "-sZ",
            Self::Udp => "-sU",
        }
    }

    /// Nmap's `scaninfo type`.
    pub fn xml_name(self) -> &'static str {
        match self {
            Self::Syn => "syn",
            Self::IpProto => "ipproto",
            Self::SctpInit => "sctpinit",
            Self::SctpCookieEcho => "sctpcookieecho",
            Self::Udp => "udp",
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Self::Syn => Proto::Tcp,
            Self::IpProto => Proto::Ip,
            Self::SctpInit | Self::SctpCookieEcho => Proto::Sctp,
            Self::Udp => Proto::Udp,
        }
    }
}

/// What was asked: written at the head of every output.
#[derive(Clone, Debug)]
pub struct ScanInfo {
    pub kind: ScanKind,
    /// The ports (protocol numbers for -sO) in ascending order.
    pub ports: Vec<u16>,
    /// The command line, as nmap quotes it in its headers.
    pub args: String,
    pub start: SystemTime,
    /// Nmap's `-v` and `-d` levels, which also decide how much is folded.
    pub verbose: u8,
    pub debug: u8,
    /// `--open`: only states that may be open are listed.
    pub open_only: bool,
    /// `--reason`: the normal output's REASON column.
    pub reason: bool,
    /// The probes' source address (the replies' destination: ZMap's `daddr`).
    pub source_ip: Ipv4Addr,
}

/// One port of a host and the verdict on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortEntry {
    pub port: u16,
    pub proto: Proto,
    pub state: PortState,
    pub reason: Reason,
    /// The TTL of the reply that decided; 0 for silence, as nmap's `reason_ttl`.
    pub ttl: u8,
    /// Who sent that reply, when not the target itself (a router's ICMP error).
    pub responder: Option<Ipv4Addr>,
    /// The source port of the probe that reply answered (ZMap's `dport`); `None` for silence
    /// and for probes without ports.
    pub local_port: Option<u16>,
    /// Nmap's name for the port (nmap-services) or protocol, when it has one.
    pub service: Option<&'static str>,
}

impl PortEntry {
    /// Decided by silence after the retries, not by a reply.
    pub fn is_silence(&self) -> bool {
        self.reason == Reason::NoResponse
    }
}

/// Why a host counts as up: the first reply it sent (nmap's `status reason`), or `-Pn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostUp {
    Replied {
        reason: Reason,
        ttl: u8,
    },
    /// `-Pn`: every target is taken as up (nmap's `user-set`).
    UserSet,
}

impl HostUp {
    /// Nmap's `status reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Replied { reason, .. } => reason.as_str(),
            Self::UserSet => "user-set",
        }
    }

    pub fn ttl(self) -> u8 {
        match self {
            Self::Replied { ttl, .. } => ttl,
            Self::UserSet => 0,
        }
    }
}

/// A host that is up, with every port the scan decided on it.
#[derive(Debug)]
pub struct HostReport {
    pub ip: Ipv4Addr,
    pub up: HostUp,
    /// In nmap's order: by protocol, then port.
    pub ports: Vec<PortEntry>,
    pub os: Option<OsReport>,
}

/// How the run ended: written at the foot of every output.
#[derive(Clone, Copy, Debug)]
pub struct RunStats {
    pub end: SystemTime,
    pub elapsed_secs: f64,
    /// Target addresses the scan covered (nmap's "IP addresses").
    pub addresses: u64,
    pub hosts_up: u64,
    pub ended: RunEnd,
}

/// How a run ended: nmap's `exit` (success or error) and `errormsg` at the foot of its XML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every probe planned was sent and waited for.
    Completed,
    /// A signal ended the scan early.
    Interrupted,
    /// The interface stopped taking probes (down, or gone with its namespace).
    SendFailed,
}

impl RunEnd {
    /// nmap's `errormsg`, `None` for a scan that ran to its end.
    pub fn error(self) -> Option<&'static str> {
        match self {
            RunEnd::Completed => None,
            RunEnd::Interrupted => Some("interrupted"),
            RunEnd::SendFailed => Some("sending probes failed: the interface went down or away"),
        }
    }
}

impl RunStats {
    /// "1 IP address (1 host up) scanned in 0.10 seconds", nmap's closing words.
    pub fn summary(&self) -> String {
        format!(
            "{} {} ({} {} up) scanned in {:.2} seconds",
            self.addresses,
            if self.addresses == 1 {
                "IP address"
            } else {
                "IP addresses"
            },
            self.hosts_up,
            if self.hosts_up == 1 { "host" } else { "hosts" },
            self.elapsed_secs
        )
    }
}

/// An output: told the scan once, then each reply's verdict as it is decided, then each host
/// that is up once the scan is over (with every port, silence included, and its OS), then the
/// end. Streaming formats write replies at once and only the rest of a host later; the others
/// wait for the host.
///
/// A scan with more responding hosts than `--max-host-tables` keeps no host tables
/// ([`tables`]): each reply also comes on its own ([`streamed`](Self::streamed)), silence port
/// by port at the end ([`silent`](Self::silent)), and hosts only with their OS results, without
/// ports.
pub trait ReportWriter {
    fn begin(&mut self, scan: &ScanInfo) -> io::Result<()>;
    /// A port a reply has just decided.
    fn decided(&mut self, _scan: &ScanInfo, _ip: Ipv4Addr, _entry: &PortEntry) -> io::Result<()> {
        Ok(())
    }
    /// A reply that no host table will hold: the table formats write it as a host of one port,
    /// as masscan writes them; the line formats wrote it at [`decided`](Self::decided).
    fn streamed(&mut self, _scan: &ScanInfo, _ip: Ipv4Addr, _entry: &PortEntry) -> io::Result<()> {
        Ok(())
    }
    /// A port of a host without a table that silence decided, once the scan is over: the line
    /// formats write it; the table formats, as masscan's, list only replies.
    fn silent(&mut self, _scan: &ScanInfo, _ip: Ipv4Addr, _entry: &PortEntry) -> io::Result<()> {
        Ok(())
    }
    /// The per-port totals that stand for the host tables when there are none (the terminal's
    /// and -oN's view).
    fn totals(&mut self, _table: &str) -> io::Result<()> {
        Ok(())
    }
    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()>;
    /// Writes the foot and flushes.
    fn end(&mut self, scan: &ScanInfo, stats: &RunStats) -> io::Result<()>;
}

/// `22,80,8000-8100`: ascending numbers with runs folded, as nmap writes port lists.
pub fn port_ranges(ports: &[u16]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut index = 0;
    while index < ports.len() {
        let start = ports[index];
        let mut end = index;
        while end + 1 < ports.len() && u32::from(ports[end + 1]) == u32::from(ports[end]) + 1 {
            end += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == index {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{}", ports[end]);
        }
        index = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_fold_runs_as_nmap() {
        assert_eq!(port_ranges(&[]), "");
        assert_eq!(port_ranges(&[80]), "80");
        assert_eq!(port_ranges(&[1, 2, 3, 5, 7, 8, 65535]), "1-3,5,7-8,65535");
        assert_eq!(port_ranges(&[65534, 65535]), "65534-65535");
    }

    #[test]
    fn summary_counts_in_nmaps_words() {
        let stats = |addresses, hosts_up| RunStats {
            end: SystemTime::UNIX_EPOCH,
            elapsed_secs: 0.104,
            addresses,
            hosts_up,
            ended: RunEnd::Completed,
        };
        assert_eq!(
            stats(1, 1).summary(),
            "1 IP address (1 host up) scanned in 0.10 seconds"
        );
        assert_eq!(
            stats(256, 0).summary(),
            "256 IP addresses (0 hosts up) scanned in 0.10 seconds"
        );
    }
}

/// Reports built by hand, for the writers' tests.
#[cfg(test)]
pub mod examples {
    use super::*;

    /// A scan of `kind` with nothing else asked (no ports listed, no -v, --open or --reason).
    pub fn scan(kind: ScanKind) -> ScanInfo {
        ScanInfo {
            kind,
            ports: Vec::new(),
            args: "scanner".to_owned(),
            start: SystemTime::UNIX_EPOCH,
            verbose: 0,
            debug: 0,
            open_only: false,
            reason: false,
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    /// A TCP port that `reason` decided, by a reply with `ttl` (0 for silence).
    pub fn entry(port: u16, state: PortState, reason: Reason, ttl: u8) -> PortEntry {
        PortEntry {
            port,
            proto: Proto::Tcp,
            state,
            reason,
            ttl,
            responder: None,
            local_port: None,
            service: None,
        }
    }

    /// 198.18.128.1, up by a reset with TTL 64, with `ports`.
    pub fn host(ports: Vec<PortEntry>) -> HostReport {
        HostReport {
            ip: Ipv4Addr::new(198, 18, 128, 1),
            up: HostUp::Replied {
                reason: Reason::Reset,
                ttl: 64,
            },
            ports,
            os: None,
        }
    }

    /// One host of one address up, in a second.
    pub fn stats() -> RunStats {
        RunStats {
            end: SystemTime::UNIX_EPOCH,
            elapsed_secs: 1.0,
            addresses: 1,
            hosts_up: 1,
            ended: RunEnd::Completed,
        }
    }
}
