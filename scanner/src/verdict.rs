//! Nmap's vocabulary for what a probe found: port states and the reasons behind them.

use serde::{Deserialize, Serialize};

/// The protocol of a result's port (nmap's `80/tcp`; `ip` for the IP protocol scan, whose
/// "ports" are protocol numbers), and of a `-p` prefix (`T:`, `U:`, `S:`, `P:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    Ip,
}

impl Proto {
    /// Nmap's spelling in port columns and JSON: `tcp`, `udp`, `sctp`, `ip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
            Self::Ip => "ip",
        }
    }
}

impl Proto {
    /// How nmap names a scan's ports in tables and "Not shown" lines: `port`, or `protocol`
    /// for the IP protocol scan.
    pub fn port_noun(self) -> &'static str {
        match self {
            Self::Ip => "protocol",
            _ => "port",
        }
    }

    /// A port as nmap's tables show it: `80/tcp`; a protocol number alone (`6`).
    pub fn port_label(self, port: u16) -> String {
        match self {
            Self::Ip => port.to_string(),
            _ => format!("{port}/{}", self.as_str()),
        }
    }

    /// The protocol in nmap's "Not shown: 997 closed tcp ports" (`n/a` for protocols).
    pub fn not_shown_label(self) -> &'static str {
        match self {
            Self::Ip => "n/a",
            _ => self.as_str(),
        }
    }
}

impl std::fmt::Display for Proto {
    /// For messages: `TCP`, `UDP`, `SCTP`, `IP-protocol`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
            Self::Ip => "IP-protocol",
        })
    }
}

/// Port states, spelt as nmap spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortState {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "filtered")]
    Filtered,
    /// No answer where an open port may stay silent (nmap's IP protocol and UDP scans).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
            Self::OpenFiltered => "open|filtered",
        }
    }

    /// What nmap's `--open` keeps: open, or possibly open.
    pub fn may_be_open(self) -> bool {
        matches!(self, Self::Open | Self::OpenFiltered)
    }
}

/// Why a port got its state, spelt as nmap's `--reason` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    SynAck,
    Reset,
    /// A packet in the probed protocol (IP protocol scan).
    ProtoResponse,
    InitAck,
    Abort,
    /// A UDP datagram from the probed port.
    UdpResponse,
    EchoReply,
    NetUnreach,
    HostUnreach,
    ProtoUnreach,
    PortUnreach,
    NetProhibited,
    HostProhibited,
    AdminProhibited,
    /// Destination unreachable with a code nmap has no name for.
    DestUnreach,
    TimeExceeded,
    NoResponse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SynAck => "syn-ack",
            Self::Reset => "reset",
            Self::ProtoResponse => "proto-response",
            Self::InitAck => "init-ack",
            Self::Abort => "abort",
            Self::UdpResponse => "udp-response",
            Self::EchoReply => "echo-reply",
            Self::NetUnreach => "net-unreach",
            Self::HostUnreach => "host-unreach",
            Self::ProtoUnreach => "proto-unreach",
            Self::PortUnreach => "port-unreach",
            Self::NetProhibited => "net-prohibited",
            Self::HostProhibited => "host-prohibited",
            Self::AdminProhibited => "admin-prohibited",
            Self::DestUnreach => "dest-unreach",
            Self::TimeExceeded => "time-exceeded",
            Self::NoResponse => "no-response",
        }
    }

    /// The reason of an ICMP error that nmap draws a conclusion from: destination unreachable
    /// with the codes it acts on (0-3, 9, 10, 13) and time exceeded; `None` for the others.
    pub fn of_icmp_error(icmp_type: u8, code: u8) -> Option<Self> {
        use scanner_common::wire::icmp;
        match icmp_type {
            icmp::DEST_UNREACHABLE => Self::of_unreachable(code),
            icmp::TIME_EXCEEDED => Some(Self::TimeExceeded),
            _ => None,
        }
    }

    /// Nmap's name for any ICMP message (its icmp_to_reason), for what it only reports.
    pub fn of_icmp(icmp_type: u8, code: u8) -> Option<Self> {
        use scanner_common::wire::icmp;
        match icmp_type {
            icmp::ECHO_REPLY => Some(Self::EchoReply),
            icmp::DEST_UNREACHABLE => Some(Self::of_unreachable(code).unwrap_or(Self::DestUnreach)),
            icmp::TIME_EXCEEDED => Some(Self::TimeExceeded),
            _ => None,
        }
    }

    /// The reason nmap gives an ICMP destination-unreachable code (type 3), if it names one.
    pub fn of_unreachable(code: u8) -> Option<Self> {
        use scanner_common::wire::icmp::unreach;
        Some(match code {
            unreach::NET => Self::NetUnreach,
            unreach::HOST => Self::HostUnreach,
            unreach::PROTOCOL => Self::ProtoUnreach,
            unreach::PORT => Self::PortUnreach,
            unreach::NET_PROHIBITED => Self::NetProhibited,
            unreach::HOST_PROHIBITED => Self::HostProhibited,
            unreach::ADMIN_PROHIBITED => Self::AdminProhibited,
            _ => return None,
        })
    }
}

/// A probe's outcome: the state and the reason for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub state: PortState,
    pub reason: Reason,
}

impl Verdict {
    pub const fn new(state: PortState, reason: Reason) -> Self {
        Self { state, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spellings_match_nmap() {
        assert_eq!(
            serde_json::to_string(&Reason::SynAck).unwrap(),
            "\"syn-ack\""
        );
        assert_eq!(
            serde_json::to_string(&Reason::AdminProhibited).unwrap(),
            "\"admin-prohibited\""
        );
        assert_eq!(
            serde_json::to_string(&PortState::Filtered).unwrap(),
            "\"filtered\""
        );
        assert_eq!(
            serde_json::to_string(&PortState::OpenFiltered).unwrap(),
            "\"open|filtered\""
        );
        for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Ip] {
            assert_eq!(
                serde_json::to_string(&proto).unwrap(),
                format!("\"{}\"", proto.as_str())
            );
        }
        for reason in [
            Reason::SynAck,
            Reason::Reset,
            Reason::NoResponse,
            Reason::HostUnreach,
            Reason::ProtoResponse,
            Reason::EchoReply,
            Reason::DestUnreach,
            Reason::TimeExceeded,
        ] {
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{}\"", reason.as_str())
            );
        }
    }
}
