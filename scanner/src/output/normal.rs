//! `-oN FILE` and the terminal's per-host tables: nmap's normal output (output.cc's
//! printportoutput and write_host_status, NmapOutputTable's columns).

use std::{
    fmt::Write as _,
    io::{self, Write},
};

use crate::{
    report::{HostReport, HostUp, PortEntry, ReportWriter, RunStats, ScanInfo, fold, time},
    verdict::Proto,
};

pub struct NormalWriter<W: Write> {
    out: W,
    /// A file gets nmap's `# ... scan initiated` and `# Nmap done` lines; the terminal not.
    file: bool,
}

impl<W: Write> NormalWriter<W> {
    /// For `-oN FILE`.
    pub fn file(out: W) -> Self {
        Self { out, file: true }
    }

    /// For the terminal, whose head and foot the scan's summary gives.
    pub fn terminal(out: W) -> Self {
        Self { out, file: false }
    }

    /// Flushes the terminal's tables (whose foot is the scan's summary, not [`ReportWriter::end`]).
    pub fn flush_terminal(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> ReportWriter for NormalWriter<W> {
    fn begin(&mut self, scan: &ScanInfo) -> io::Result<()> {
        if !self.file {
            return Ok(());
        }
        writeln!(
            self.out,
            "# scanner {} scan initiated {} as: {}",
            env!("CARGO_PKG_VERSION"),
            time::ctime(scan.start),
            scan.args
        )
    }

    fn totals(&mut self, table: &str) -> io::Result<()> {
        self.out.write_all(table.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        let mut text = String::new();
        host_text(&mut text, scan, host);
        self.out.write_all(text.as_bytes())
    }

    fn end(&mut self, _scan: &ScanInfo, stats: &RunStats) -> io::Result<()> {
        if self.file {
            writeln!(
                self.out,
                "# Nmap done at {} -- {}",
                time::ctime(stats.end),
                stats.summary()
            )?;
        }
        self.out.flush()
    }
}

/// One host as nmap prints it, ending in a blank line.
fn host_text(out: &mut String, scan: &ScanInfo, host: &HostReport) {
    let _ = writeln!(out, "Nmap scan report for {}", host.ip);
    out.push_str("Host is up");
    if scan.reason {
        let _ = write!(out, ", received {}", host.up.reason());
        if let HostUp::Replied { ttl, .. } = host.up
            && ttl != 0
        {
            let _ = write!(out, " ttl {ttl}");
        }
    }
    out.push_str(".\n");
    if !host.ports.is_empty() {
        port_table(out, scan, host);
    }
    if let Some(os) = &host.os {
        out.push_str(os.text());
    }
    out.push('\n');
}

fn port_table(out: &mut String, scan: &ScanInfo, host: &HostReport) {
    let folded = fold::fold(&host.ports, scan);
    let noun = scan.kind.proto().port_noun();
    if folded.ignored_count() == host.ports.len() {
        let _ = writeln!(
            out,
            "All {} scanned {noun}s on {} are in ignored states.",
            host.ports.len(),
            host.ip
        );
    }
    for (index, ignored) in folded.ignored.iter().enumerate() {
        out.push_str(if index == 0 { "Not shown: " } else { ", " });
        let plural = if ignored.count == 1 { "" } else { "s" };
        for (nth, reasons) in ignored.reasons.iter().enumerate() {
            if nth > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "{} {} {} {noun}{plural} ({})",
                reasons.ports.len(),
                ignored.state.as_str(),
                reasons.proto.not_shown_label(),
                reasons.reason.as_str()
            );
        }
    }
    if !folded.ignored.is_empty() {
        out.push('\n');
    }
    if folded.shown.is_empty() {
        return;
    }
    let header = match scan.kind.proto() {
        Proto::Ip => "PROTOCOL",
        _ => "PORT",
    };
    let mut rows = vec![[
        header.to_owned(),
        "STATE".into(),
        "SERVICE".into(),
        "REASON".into(),
    ]];
    rows.extend(folded.shown.iter().map(|entry| row(entry)));
    let columns = if scan.reason { 4 } else { 3 };
    table(out, &rows, columns);
}

fn row(entry: &PortEntry) -> [String; 4] {
    let mut why = entry.reason.as_str().to_owned();
    if let Some(responder) = entry.responder {
        let _ = write!(why, " from {responder}");
    }
    if entry.ttl != 0 {
        let _ = write!(why, " ttl {}", entry.ttl);
    }
    [
        entry.proto.port_label(entry.port),
        entry.state.as_str().to_owned(),
        entry.service.unwrap_or("unknown").to_owned(),
        why,
    ]
}

/// NmapOutputTable: each column as wide as its widest cell, one space between columns, no
/// trailing spaces.
fn table(out: &mut String, rows: &[[String; 4]], columns: usize) {
    let mut widths = [0usize; 4];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row).take(columns) {
            *width = (*width).max(cell.len());
        }
    }
    for row in rows {
        for (column, cell) in row.iter().enumerate().take(columns) {
            if column + 1 < columns {
                let _ = write!(out, "{cell:width$} ", width = widths[column]);
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, time::SystemTime};

    use super::*;
    use crate::{
        report::{
            ScanKind,
            examples::{self, entry, host},
        },
        verdict::{PortState, Reason},
    };

    fn scan(kind: ScanKind, reason: bool) -> ScanInfo {
        ScanInfo {
            reason,
            ..examples::scan(kind)
        }
    }

    fn text(scan: &ScanInfo, host: &HostReport) -> String {
        let mut out = String::new();
        host_text(&mut out, scan, host);
        out
    }

    #[test]
    fn a_host_as_nmap_prints_it() {
        let mut ports: Vec<_> = (1..=997)
            .map(|port| entry(port, PortState::Closed, Reason::Reset, 64))
            .collect();
        ports.push(PortEntry {
            service: Some("ssh"),
            ..entry(1022, PortState::Open, Reason::SynAck, 64)
        });
        ports.push(entry(8081, PortState::Filtered, Reason::NoResponse, 0));
        ports.push(PortEntry {
            responder: Some(Ipv4Addr::new(198, 18, 0, 1)),
            ..entry(8082, PortState::Filtered, Reason::AdminProhibited, 63)
        });
        assert_eq!(
            text(&scan(ScanKind::Syn, true), &host(ports)),
            "Nmap scan report for 198.18.128.1\n\
             Host is up, received reset ttl 64.\n\
             Not shown: 997 closed tcp ports (reset)\n\
             PORT     STATE    SERVICE REASON\n\
             1022/tcp open     ssh     syn-ack ttl 64\n\
             8081/tcp filtered unknown no-response\n\
             8082/tcp filtered unknown admin-prohibited from 198.18.0.1 ttl 63\n\n"
        );
    }

    #[test]
    fn every_reason_of_a_folded_state_is_its_own_clause() {
        let ports: Vec<_> = (1..=40)
            .map(|port| entry(port, PortState::Filtered, Reason::NoResponse, 0))
            .chain(
                (41..=45).map(|port| entry(port, PortState::Filtered, Reason::HostProhibited, 64)),
            )
            .chain((46..=75).map(|port| entry(port, PortState::Closed, Reason::Reset, 64)))
            .collect();
        assert_eq!(
            text(&scan(ScanKind::Syn, false), &host(ports)),
            "Nmap scan report for 198.18.128.1\n\
             Host is up.\n\
             All 75 scanned ports on 198.18.128.1 are in ignored states.\n\
             Not shown: 40 filtered tcp ports (no-response), 5 filtered tcp ports (host-prohibited), \
             30 closed tcp ports (reset)\n\n"
        );
    }

    #[test]
    fn protocols_have_their_own_words() {
        let ports = vec![
            PortEntry {
                proto: Proto::Ip,
                service: Some("icmp"),
                ..entry(1, PortState::Open, Reason::EchoReply, 64)
            },
            PortEntry {
                proto: Proto::Ip,
                ..entry(254, PortState::OpenFiltered, Reason::NoResponse, 0)
            },
        ];
        assert_eq!(
            text(&scan(ScanKind::IpProto, false), &host(ports)),
            "Nmap scan report for 198.18.128.1\n\
             Host is up.\n\
             PROTOCOL STATE         SERVICE\n\
             1        open          icmp\n\
             254      open|filtered unknown\n\n"
        );
    }

    #[test]
    fn a_file_has_nmaps_head_and_foot() {
        let scan = scan(ScanKind::Syn, false);
        let mut writer = NormalWriter::file(Vec::new());
        writer.begin(&scan).unwrap();
        writer
            .end(
                &scan,
                &RunStats {
                    end: SystemTime::UNIX_EPOCH,
                    elapsed_secs: 1.5,
                    addresses: 2,
                    hosts_up: 0,
                    ended: crate::report::RunEnd::Completed,
                },
            )
            .unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# scanner ") && lines[0].contains(" scan initiated "));
        assert!(lines[1].starts_with("# Nmap done at "));
        assert!(lines[1].ends_with(" -- 2 IP addresses (0 hosts up) scanned in 1.50 seconds"));
    }
}
