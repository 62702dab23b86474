//! The terminal's view of a scan too large for host tables (more responding hosts than
//! `--max-host-tables`): one row per port, state and reason, with host counts, silence
//! included. The per-host tables are nmap's normal output ([`super::normal`]).

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
};

use crate::{
    order::ScanSpace,
    report::build::Silence,
    results::ScanResult,
    services::Services,
    verdict::{PortState, Proto, Reason},
};

/// Per-port totals: `hosts` responded; every probe sent is counted once.
pub fn totals(
    results: &[ScanResult],
    space: &ScanSpace,
    proto: Proto,
    silence: &Silence<'_>,
    services: &Services,
    hosts: u64,
) -> String {
    let mut out = String::new();
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
        &mut out,
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
        &mut out,
        &[port_header(proto), "STATE", "HOSTS", "SERVICE"],
        &cells,
        4,
    );
    out
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
    use std::net::Ipv4Addr;

    use crate::{
        order::Walked,
        targets::{PortList, TargetSet},
        verdict::Verdict,
    };

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
            local_port: None,
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
    fn large_scan_prints_per_port_totals_including_silence() {
        let results = [
            result([198, 18, 128, 1], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 2], 80, PortState::Open, Reason::SynAck),
            result([198, 18, 128, 3], 80, PortState::Closed, Reason::Reset),
        ];
        let space = space("198.18.128.0/30", "80");
        let text = totals(
            &results,
            &space,
            Proto::Tcp,
            &silence(&all(&space)),
            &Services::embedded(),
            3,
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
        let totals = totals(
            &results,
            &space,
            Proto::Tcp,
            &interrupted,
            &Services::embedded(),
            2,
        );
        assert_eq!(
            totals,
            "2 hosts answered; 4 addresses scanned. Per port:\n\
             PORT   STATE                  HOSTS SERVICE\n\
             80/tcp open (syn-ack)         1     http\n\
             80/tcp closed (reset)         1     http\n\
             80/tcp filtered (no-response) 2     http\n"
        );
    }
}
