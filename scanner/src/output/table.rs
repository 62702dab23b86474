//! The terminal's (and -oN's) view of a scan too large for host tables (more responding hosts
//! than `--max-host-tables`): one row per port, state and reason, with host counts, silence
//! included ([`crate::report::totals`]). The per-host tables are nmap's normal output
//! ([`super::normal`]).

use std::fmt::Write as _;

use crate::{report::totals::Totals, services::Services, verdict::Proto};

/// The totals as a table, under a line saying how many of how many addresses answered.
pub fn render(
    totals: &Totals,
    proto: Proto,
    services: &Services,
    hosts: u64,
    addresses: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        &mut out,
        "{hosts} hosts answered; {addresses} addresses scanned. Per port:"
    );
    let cells: Vec<[String; 4]> = totals
        .rows()
        .into_iter()
        .map(|(port, state, reason, count)| {
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
    use super::*;
    use crate::{
        report::examples::entry,
        verdict::{PortState, Reason},
    };

    #[test]
    fn a_row_per_port_state_and_reason_with_host_counts() {
        let mut totals = Totals::default();
        totals.count(&entry(80, PortState::Open, Reason::SynAck, 64));
        totals.count(&entry(80, PortState::Open, Reason::SynAck, 64));
        totals.count(&entry(80, PortState::Closed, Reason::Reset, 64));
        totals.count(&entry(443, PortState::Filtered, Reason::NoResponse, 0));
        assert_eq!(
            render(&totals, Proto::Tcp, &Services::embedded(), 3, 4),
            "3 hosts answered; 4 addresses scanned. Per port:\n\
             PORT    STATE                  HOSTS SERVICE\n\
             80/tcp  open (syn-ack)         2     http\n\
             80/tcp  closed (reset)         1     http\n\
             443/tcp filtered (no-response) 1     https\n"
        );
    }
}
