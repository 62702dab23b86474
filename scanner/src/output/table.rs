//! Nmap-style text output: a port table per host for small scans, one row per port and state
//! with host counts for large ones.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    net::Ipv4Addr,
};

use crate::{
    order::{ScanSpace, Walked},
    results::ScanResult,
    services::Services,
    verdict::{PortState, Proto, Reason, Verdict},
};

/// Nmap folds a state into "Not shown" once it holds more than this many ports.
const FOLD_ABOVE: usize = 25;

/// The probes that got no answer: nmap's verdict on them, and which probes went out at all
/// (fewer than all for a shard, a capped or an interrupted scan).
pub struct Silence<'a> {
    pub verdict: Verdict,
    pub walked: &'a Walked,
}

pub struct TableOptions {
    /// Add nmap's REASON column.
    pub reason: bool,
    /// Above this many responding hosts, print per-port totals instead of per-host tables.
    pub max_hosts: usize,
    /// Lines printed under a host's table (OS detection's result).
    pub host_notes: HashMap<Ipv4Addr, String>,
}

/// One row of a host's table: what one port got.
#[derive(Clone, Copy)]
struct Row {
    port: u16,
    state: PortState,
    reason: Reason,
    ttl: Option<u8>,
}

pub fn render(
    results: &[ScanResult],
    space: &ScanSpace,
    proto: Proto,
    silence: &Silence<'_>,
    services: &Services,
    options: &TableOptions,
) -> String {
    let mut by_host: BTreeMap<Ipv4Addr, HashMap<u16, &ScanResult>> = BTreeMap::new();
    for result in results {
        by_host
            .entry(result.ip)
            .or_default()
            .insert(result.port, result);
    }
    let mut out = String::new();
    if by_host.len() <= options.max_hosts {
        for (ip, answered) in &by_host {
            let rows = space
                .ports()
                .iter()
                .filter_map(|port| match answered.get(&port) {
                    Some(r) => Some(Row {
                        port,
                        state: r.state,
                        reason: r.reason,
                        ttl: Some(r.ttl),
                    }),
                    // A probe never sent says nothing about its port.
                    None => space
                        .index_of(*ip, port)
                        .is_some_and(|index| silence.walked.contains(index))
                        .then_some(Row {
                            port,
                            state: silence.verdict.state,
                            reason: silence.verdict.reason,
                            ttl: None,
                        }),
                });
            host_table(
                &mut out,
                *ip,
                rows.collect(),
                proto,
                services,
                options.reason,
                options.host_notes.get(ip).map(String::as_str),
            );
        }
    } else {
        port_totals(
            &mut out,
            results,
            space,
            proto,
            silence,
            services,
            by_host.len(),
        );
        for (ip, note) in &options.host_notes {
            let _ = write!(out, "\nScan report for {ip}\n{note}");
        }
    }
    out
}

fn host_table(
    out: &mut String,
    ip: Ipv4Addr,
    mut rows: Vec<Row>,
    proto: Proto,
    services: &Services,
    reason: bool,
    note: Option<&str>,
) {
    let _ = writeln!(out, "Scan report for {ip}\nHost is up.");
    let mut per_state: BTreeMap<PortState, Vec<Row>> = BTreeMap::new();
    for row in &rows {
        per_state.entry(row.state).or_default().push(*row);
    }
    for (state, folded) in per_state.iter().filter(|(_, r)| r.len() > FOLD_ABOVE) {
        let _ = writeln!(
            out,
            "Not shown: {} {} {} {}s ({})",
            folded.len(),
            state.as_str(),
            proto.not_shown_label(),
            proto.port_noun(),
            reason_counts(folded)
        );
        rows.retain(|row| row.state != *state);
    }
    if rows.is_empty() {
        out.push_str(note.unwrap_or_default());
        out.push('\n');
        return;
    }
    rows.sort_by_key(|row| row.port);
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            let why = match row.ttl {
                Some(ttl) => format!("{} ttl {ttl}", row.reason.as_str()),
                None => row.reason.as_str().to_owned(),
            };
            [
                proto.port_label(row.port),
                row.state.as_str().to_owned(),
                services.name(proto, row.port).to_owned(),
                why,
            ]
        })
        .collect();
    let header = [port_header(proto), "STATE", "SERVICE", "REASON"];
    write_columns(out, &header, &cells, if reason { 4 } else { 3 });
    out.push_str(note.unwrap_or_default());
    out.push('\n');
}

/// "reset" or "30 reset, 2 no-response".
fn reason_counts(rows: &[Row]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.reason.as_str()).or_default() += 1;
    }
    if counts.len() == 1 {
        return counts.into_keys().next().unwrap_or_default().to_owned();
    }
    counts
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn port_totals(
    out: &mut String,
    results: &[ScanResult],
    space: &ScanSpace,
    proto: Proto,
    silence: &Silence<'_>,
    services: &Services,
    hosts: usize,
) {
    let mut totals: BTreeMap<(u16, PortState, Reason), u64> = BTreeMap::new();
    let mut answered_per_port: HashMap<u16, u64> = HashMap::new();
    for r in results {
        *totals.entry((r.port, r.state, r.reason)).or_default() += 1;
        *answered_per_port.entry(r.port).or_default() += 1;
    }
    for (port_index, port) in space.ports().iter().enumerate() {
        let sent = silence.walked.count_in(space.port_range(port_index));
        let answered = answered_per_port.get(&port).copied().unwrap_or(0);
        let quiet = sent.saturating_sub(answered);
        if quiet > 0 {
            let verdict = silence.verdict;
            totals.insert((port, verdict.state, verdict.reason), quiet);
        }
    }
    let _ = writeln!(
        out,
        "{hosts} hosts answered; {} addresses scanned. Per port:",
        space.targets().len()
    );
    let cells: Vec<[String; 4]> = totals
        .iter()
        .map(|(&(port, state, reason), &count)| {
            [
                proto.port_label(port),
                format!("{} ({})", state.as_str(), reason.as_str()),
                count.to_string(),
                services.name(proto, port).to_owned(),
            ]
        })
        .collect();
    write_columns(
        out,
        &[port_header(proto), "STATE", "HOSTS", "SERVICE"],
        &cells,
        4,
    );
}

/// Nmap's first column: PORT, or PROTOCOL for the IP protocol scan.
fn port_header(proto: Proto) -> &'static str {
    match proto {
        Proto::Ip => "PROTOCOL",
        _ => "PORT",
    }
}

fn write_columns(out: &mut String, header: &[&str; 4], rows: &[[String; 4]], columns: usize) {
    let mut widths = [0usize; 4];
    for (i, width) in widths.iter_mut().enumerate().take(columns) {
        *width = rows
            .iter()
            .map(|row| row[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0);
    }
    let mut line = |cells: [&str; 4]| {
        let mut text = String::new();
        for i in 0..columns {
            if i + 1 == columns {
                text.push_str(cells[i]);
            } else {
                let _ = write!(text, "{:width$} ", cells[i], width = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(*header);
    for row in rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
}

#[cfg(test)]
mod tests {
    use crate::targets::{PortList, TargetSet};

    use super::*;

    fn result(ip: [u8; 4], port: u16, state: PortState, reason: Reason) -> ScanResult {
        ScanResult {
            ip: Ipv4Addr::from(ip),
            port,
            proto: Proto::Tcp,
            state,
            reason,
            ttl: 64,
            responder: None,
        }
    }

    fn space(targets: &str, ports: &str) -> ScanSpace {
        ScanSpace::new(
            TargetSet::from_specs([targets]).unwrap(),
            PortList::parse(ports).unwrap(),
        )
    }

    /// Silence after a walk of `walked`.
    fn silence(walked: &Walked) -> Silence<'_> {
        Silence {
            verdict: Verdict::new(PortState::Filtered, Reason::NoResponse),
            walked,
        }
    }

    fn all(space: &ScanSpace) -> Walked {
        Walked::All { len: space.len() }
    }

    #[test]
    fn small_scan_prints_a_table_per_host_like_nmap() {
        let results = [
            result([198, 18, 128, 1], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 1], 81, PortState::Closed, Reason::Reset),
        ];
        let space = space("198.18.128.1", "80,81,8081");
        let text = render(
            &results,
            &space,
            Proto::Tcp,
            &silence(&all(&space)),
            &Services::embedded(),
            &TableOptions {
                reason: true,
                max_hosts: 10,
                host_notes: HashMap::new(),
            },
        );
        assert_eq!(
            text,
            "Scan report for 198.18.128.1\nHost is up.\n\
             PORT     STATE    SERVICE REASON\n\
             80/tcp   open     http    syn-ack ttl 64\n\
             81/tcp   closed   unknown reset ttl 64\n\
             8081/tcp filtered unknown no-response\n\n"
        );
    }

    #[test]
    fn many_ports_in_one_state_are_folded() {
        let results: Vec<_> = (1..=30)
            .map(|port| result([198, 18, 128, 1], port, PortState::Closed, Reason::Reset))
            .chain([result(
                [198, 18, 128, 1],
                80,
                PortState::Open,
                Reason::SynAck,
            )])
            .collect();
        let space = space("198.18.128.1", "1-30,80");
        let text = render(
            &results,
            &space,
            Proto::Tcp,
            &silence(&all(&space)),
            &Services::embedded(),
            &TableOptions {
                reason: false,
                max_hosts: 10,
                host_notes: HashMap::new(),
            },
        );
        assert!(
            text.contains("Not shown: 30 closed tcp ports (reset)\n"),
            "{text}"
        );
        assert!(text.contains("80/tcp open  http\n"), "{text}");
    }

    #[test]
    fn large_scan_prints_per_port_totals_including_silence() {
        let results = [
            result([198, 18, 128, 1], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 2], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 3], 80, PortState::Closed, Reason::Reset),
        ];
        let space = space("198.18.128.0/30", "80");
        let text = render(
            &results,
            &space,
            Proto::Tcp,
            &silence(&all(&space)),
            &Services::embedded(),
            &TableOptions {
                reason: false,
                max_hosts: 1,
                host_notes: HashMap::new(),
            },
        );
        assert_eq!(
            text,
            "3 hosts answered; 4 addresses scanned. Per port:\n\
             PORT   STATE                  HOSTS SERVICE\n\
             80/tcp open (syn-ack)         2     http\n\
             80/tcp closed (reset)         1     http\n\
             80/tcp filtered (no-response) 1     http\n"
        );
    }

    #[test]
    fn probes_an_interrupted_scan_never_sent_are_not_reported() {
        // The walk covers port 80 of all four addresses, then stopped before 8081.
        let results = [
            result([198, 18, 128, 1], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 2], 80, PortState::Closed, Reason::Reset),
        ];
        let space = space("198.18.128.0/30", "80,8081");
        let first_four = Walked::from_indices(space.len(), 0..4);
        let interrupted = silence(&first_four);
        let totals = render(
            &results,
            &space,
            Proto::Tcp,
            &interrupted,
            &Services::embedded(),
            &TableOptions {
                reason: false,
                max_hosts: 1,
                host_notes: HashMap::new(),
            },
        );
        assert_eq!(
            totals,
            "2 hosts answered; 4 addresses scanned. Per port:\n\
             PORT   STATE                  HOSTS SERVICE\n\
             80/tcp open (syn-ack)         1     http\n\
             80/tcp closed (reset)         1     http\n\
             80/tcp filtered (no-response) 2     http\n"
        );
        let per_host = render(
            &results,
            &space,
            Proto::Tcp,
            &interrupted,
            &Services::embedded(),
            &TableOptions {
                reason: false,
                max_hosts: 10,
                host_notes: HashMap::new(),
            },
        );
        assert!(!per_host.contains("8081"), "{per_host}");
    }
}
