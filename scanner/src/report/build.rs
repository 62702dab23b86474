//! From the engine's results to the report's hosts: each host that is up, with every port the
//! scan decided on it — the silent ones too, with the state nmap gives silence.

use std::{collections::HashMap, net::Ipv4Addr};

use super::{
    HostReport, HostUp, PortEntry,
    tables::{Answered, Kept},
};
use crate::{
    order::{ScanSpace, Walked},
    results::ScanResult,
    services::Services,
    verdict::{Proto, Reason, Verdict},
};

/// The probes that got no answer: nmap's verdict on them (`filtered` for -sS and -sY,
/// `open|filtered` for -sZ and -sO), and which probes went out at all (fewer than all for a
/// shard, a capped or an interrupted scan: a probe never sent says nothing about its port).
pub struct Silence<'a> {
    pub verdict: Verdict,
    pub walked: &'a Walked,
}

/// Which hosts are up, as nmap decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Up {
    /// A host is up once it answered any probe of the scan; the others are only counted.
    Answered,
    /// `-Pn`: every target is up (`user-set`) and listed with all its states.
    EveryTarget,
}

/// A decided port as the report carries it.
pub fn entry(result: &ScanResult, services: &'static Services) -> PortEntry {
    PortEntry {
        port: result.port,
        proto: result.proto,
        state: result.state,
        reason: result.reason,
        ttl: result.ttl,
        responder: result.responder,
        local_port: result.local_port,
        service: services.known_name(result.proto, result.port),
    }
}

/// The hosts that are up, by address, each with its `proto` ports in ascending order: the
/// replies kept for its table, and silence for the other probes sent to it. One host at a
/// time, so that a `-Pn` scan of many targets never holds them all.
pub fn hosts<'a>(
    answered: &'a Kept,
    space: &'a ScanSpace,
    proto: Proto,
    silence: &'a Silence<'a>,
    up: Up,
    services: &'static Services,
) -> impl Iterator<Item = HostReport> + 'a {
    let mut ports: Vec<u16> = space.ports().iter().collect();
    ports.sort_unstable();
    let host = move |ip: Ipv4Addr| -> Option<HostReport> {
        let replies = answered.get(&ip).map(Vec::as_slice).unwrap_or_default();
        let by_port: HashMap<u16, &PortEntry> =
            replies.iter().map(|entry| (entry.port, entry)).collect();
        let entries: Vec<PortEntry> = ports
            .iter()
            .filter_map(|&port| match by_port.get(&port) {
                Some(&&entry) => Some(entry),
                None => space
                    .index_of(ip, port)
                    .is_some_and(|index| silence.walked.contains(index))
                    .then(|| PortEntry {
                        port,
                        proto,
                        state: silence.verdict.state,
                        reason: Reason::NoResponse,
                        ttl: 0,
                        responder: None,
                        local_port: None,
                        service: services.known_name(proto, port),
                    }),
            })
            .collect();
        // None of its probes went out (another shard's, or an interrupted scan).
        if entries.is_empty() {
            return None;
        }
        let up = match replies.first() {
            Some(first) => HostUp::Replied {
                reason: first.reason,
                ttl: first.ttl,
            },
            None => HostUp::UserSet,
        };
        Some(HostReport {
            ip,
            up,
            ports: entries,
            os: None,
        })
    };
    let addresses: Box<dyn Iterator<Item = Ipv4Addr> + 'a> = match up {
        Up::Answered => Box::new(answered.keys().copied()),
        Up::EveryTarget => Box::new(space.targets().iter()),
    };
    addresses.filter_map(host)
}

/// For a scan without host tables: each port of a listed host that silence decided (the
/// replies are written already), host by host in address order, ports ascending.
pub fn silent_ports<'a>(
    answered: &'a Answered,
    space: &'a ScanSpace,
    proto: Proto,
    silence: &'a Silence<'a>,
    up: Up,
    services: &'static Services,
) -> impl Iterator<Item = (Ipv4Addr, PortEntry)> + 'a {
    let mut ports: Vec<u16> = space.ports().iter().collect();
    ports.sort_unstable();
    let addresses: Box<dyn Iterator<Item = Ipv4Addr> + 'a> = match up {
        // Too many answers to remember which, or too many probes to know which went out:
        // silence is only counted.
        _ if !answered.lists_silence() || !silence.walked.knows_which() => {
            Box::new(std::iter::empty())
        }
        Up::Answered => Box::new(answered.hosts()),
        Up::EveryTarget => Box::new(space.targets().iter()),
    };
    addresses.flat_map(move |ip| {
        let silent = ports
            .iter()
            .filter(move |&&port| {
                !answered.contains(ip, port)
                    && space
                        .index_of(ip, port)
                        .is_some_and(|index| silence.walked.contains(index))
            })
            .map(move |&port| {
                let entry = PortEntry {
                    port,
                    proto,
                    state: silence.verdict.state,
                    reason: Reason::NoResponse,
                    ttl: 0,
                    responder: None,
                    local_port: None,
                    service: services.known_name(proto, port),
                };
                (ip, entry)
            });
        // The ports outlive this host's closure: collect them per host (a host's ports only).
        silent.collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        report::tables::HostTables,
        targets::{PortList, TargetSet},
        verdict::PortState,
    };

    /// What the report keeps of these replies, in arrival order.
    fn kept(replies: &[(u8, u16, PortState, Reason)]) -> Kept {
        let mut tables = HostTables::new(usize::MAX, None);
        for &(last, port, state, reason) in replies {
            let reply = ScanResult {
                ip: Ipv4Addr::new(198, 18, 128, last),
                port,
                proto: Proto::Tcp,
                state,
                reason,
                ttl: 64,
                responder: None,
                local_port: None,
            };
            tables.keep(reply.ip, entry(&reply, Services::global()));
        }
        match tables {
            HostTables::Kept { hosts, .. } => hosts,
            HostTables::Streaming { .. } => unreachable!("no limit"),
        }
    }

    fn space() -> ScanSpace {
        ScanSpace::new(
            TargetSet::from_specs(["198.18.128.0/30"]).unwrap(),
            PortList::parse("8081,22,23").unwrap(),
        )
    }

    fn silence(walked: &Walked) -> Silence<'_> {
        Silence {
            verdict: Verdict::new(PortState::Filtered, Reason::NoResponse),
            walked,
        }
    }

    fn states(host: &HostReport) -> Vec<(u16, &'static str, &'static str)> {
        host.ports
            .iter()
            .map(|entry| (entry.port, entry.state.as_str(), entry.reason.as_str()))
            .collect()
    }

    #[test]
    fn a_host_that_answered_gets_every_port_silence_included() {
        let space = space();
        let walked = Walked::All { len: space.len() };
        let answered = kept(&[
            (1, 23, PortState::Closed, Reason::Reset),
            (1, 22, PortState::Open, Reason::SynAck),
        ]);
        let silence = silence(&walked);
        let hosts: Vec<HostReport> = hosts(
            &answered,
            &space,
            Proto::Tcp,
            &silence,
            Up::Answered,
            Services::global(),
        )
        .collect();
        assert_eq!(hosts.len(), 1, "only the host that answered is up");
        assert_eq!(hosts[0].ip, Ipv4Addr::new(198, 18, 128, 1));
        assert_eq!(
            hosts[0].up,
            HostUp::Replied {
                reason: Reason::Reset,
                ttl: 64
            }
        );
        assert_eq!(
            states(&hosts[0]),
            [
                (22, "open", "syn-ack"),
                (23, "closed", "reset"),
                (8081, "filtered", "no-response")
            ]
        );
        assert_eq!(hosts[0].ports[0].service, Some("ssh"));
    }

    #[test]
    fn every_target_is_up_with_pn_and_unsent_probes_say_nothing() {
        let space = space();
        // Only the first port's four probes went out (an interrupted scan).
        let walked = Walked::from_indices(space.len(), 0..4);
        let none_answered = Kept::new();
        let silence_of_four = silence(&walked);
        let hosts: Vec<HostReport> = hosts(
            &none_answered,
            &space,
            Proto::Tcp,
            &silence_of_four,
            Up::EveryTarget,
            Services::global(),
        )
        .collect();
        assert_eq!(hosts.len(), 4);
        for host in &hosts {
            assert_eq!(host.up, HostUp::UserSet);
            assert_eq!(states(host), [(8081, "filtered", "no-response")]);
        }
        let none = Walked::from_indices(space.len(), []);
        let silence_of_none = silence(&none);
        let mut nothing = super::hosts(
            &none_answered,
            &space,
            Proto::Tcp,
            &silence_of_none,
            Up::EveryTarget,
            Services::global(),
        );
        assert!(
            nothing.next().is_none(),
            "a host none of whose probes went out is not listed"
        );
    }
}
