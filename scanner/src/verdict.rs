//! Nmap's vocabulary for what a probe found: port states and the reasons behind them.

use serde::Serialize;

/// The protocol of a result's port (nmap's `80/tcp`; `ip` for the IP protocol scan, whose
/// "ports" are protocol numbers), and of a `-p` prefix (`T:`, `U:`, `S:`, `P:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PortState {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "filtered")]
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
        }
    }
}

/// Why a port got its state, spelt as nmap's `--reason` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    SynAck,
    Reset,
    NetUnreach,
    HostUnreach,
    ProtoUnreach,
    PortUnreach,
    NetProhibited,
    HostProhibited,
    AdminProhibited,
    NoResponse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SynAck => "syn-ack",
            Self::Reset => "reset",
            Self::NetUnreach => "net-unreach",
            Self::HostUnreach => "host-unreach",
            Self::ProtoUnreach => "proto-unreach",
            Self::PortUnreach => "port-unreach",
            Self::NetProhibited => "net-prohibited",
            Self::HostProhibited => "host-prohibited",
            Self::AdminProhibited => "admin-prohibited",
            Self::NoResponse => "no-response",
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
        ] {
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{}\"", reason.as_str())
            );
        }
    }
}
