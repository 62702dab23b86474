//! One result per probe that got a conclusive answer.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::verdict::{PortState, Proto, Reason};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
    pub state: PortState,
    pub reason: Reason,
    /// TTL of the reply that decided the state.
    pub ttl: u8,
    /// Who sent that reply, when not the target itself (a router's ICMP error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<Ipv4Addr>,
    /// The source port our probe left from, which the reply was sent to (ZMap's `dport`);
    /// `None` for probes without one (-sO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
}
