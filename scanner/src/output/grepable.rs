//! `-oG FILE`: nmap's grepable output, field for field as output.cc writes it:
//! `Host: 198.18.128.1 ()\tStatus: Up`, then
//! `Host: 198.18.128.1 ()\tPorts: 22/open/tcp//ssh///, ...\tIgnored State: closed (997)`.

use std::{
    io::{self, Write},
    net::Ipv4Addr,
};

use crate::{
    report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo, fold, time},
    verdict::Proto,
};

pub struct GrepableWriter<W: Write> {
    out: W,
}

impl<W: Write> GrepableWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> ReportWriter for GrepableWriter<W> {
    fn begin(&mut self, scan: &ScanInfo) -> io::Result<()> {
        writeln!(
            self.out,
            "# scanner {} scan initiated {} as: {}",
            env!("CARGO_PKG_VERSION"),
            time::ctime(scan.start),
            scan.args
        )
    }

    /// A host line of one port, as masscan's -oG.
    fn streamed(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        if scan.open_only && !entry.state.may_be_open() {
            return Ok(());
        }
        write!(self.out, "Host: {ip} ()\t{}: ", label(scan))?;
        write_port(&mut self.out, entry)?;
        writeln!(self.out)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        let out = &mut self.out;
        // Nmap has no name for the host without reverse DNS: empty parentheses.
        writeln!(out, "Host: {} ()\tStatus: Up", host.ip)?;
        if host.ports.is_empty() {
            return Ok(());
        }
        write!(out, "Host: {} ()", host.ip)?;
        let folded = fold::fold(&host.ports, scan);
        write!(out, "\t{}: ", label(scan))?;
        for (index, entry) in folded.shown.iter().enumerate() {
            if index > 0 {
                write!(out, ", ")?;
            }
            write_port(out, entry)?;
        }
        // Grepable output names an ignored state only when there is exactly one.
        if let [ignored] = folded.ignored.as_slice() {
            write!(
                out,
                "\tIgnored State: {} ({})",
                ignored.state.as_str(),
                ignored.count
            )?;
        }
        if let Some(os) = &host.os {
            let exact: Vec<&str> = os
                .matches
                .iter()
                .filter(|found| found.accuracy == 100)
                .map(|found| found.name.as_str())
                .collect();
            if !exact.is_empty() {
                write!(out, "\tOS: {}", exact.join("|"))?;
            }
        }
        writeln!(out)
    }

    fn end(&mut self, _scan: &ScanInfo, stats: &RunStats) -> io::Result<()> {
        writeln!(
            self.out,
            "# Nmap done at {} -- {}",
            time::ctime(stats.end),
            stats.summary()
        )?;
        self.out.flush()
    }
}

/// The field that lists ports, or protocols for -sO.
fn label(scan: &ScanInfo) -> &'static str {
    match scan.kind.proto() {
        Proto::Ip => "Protocols",
        _ => "Ports",
    }
}

/// `22/open/tcp//ssh///`, or `6/open/tcp/` for a protocol.
fn write_port(out: &mut impl Write, entry: &PortEntry) -> io::Result<()> {
    // Slashes separate the fields: nmap writes them as '|' inside a name.
    let service = entry.service.unwrap_or_default().replace('/', "|");
    match entry.proto {
        Proto::Ip => write!(out, "{}/{}/{service}/", entry.port, entry.state.as_str()),
        proto => write!(
            out,
            "{}/{}/{}//{service}///",
            entry.port,
            entry.state.as_str(),
            proto.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        report::{HostUp, PortEntry, ScanKind, examples},
        verdict::{PortState, Reason},
    };

    fn scan(kind: ScanKind) -> ScanInfo {
        ScanInfo {
            args: "scanner -oG - 198.18.128.1".to_owned(),
            ..examples::scan(kind)
        }
    }

    /// A silent port of `proto`, named `service`.
    fn entry(
        port: u16,
        proto: Proto,
        state: PortState,
        service: Option<&'static str>,
    ) -> PortEntry {
        PortEntry {
            proto,
            service,
            ..examples::entry(port, state, Reason::NoResponse, 0)
        }
    }

    fn lines(scan: &ScanInfo, ports: Vec<PortEntry>) -> String {
        let mut writer = GrepableWriter::new(Vec::new());
        writer
            .host(
                scan,
                &HostReport {
                    up: HostUp::UserSet,
                    ..examples::host(ports)
                },
            )
            .unwrap();
        String::from_utf8(writer.into_inner()).unwrap()
    }

    #[test]
    fn a_streamed_reply_is_a_host_line_of_one_port() {
        let scan = scan(ScanKind::Syn);
        let mut writer = GrepableWriter::new(Vec::new());
        let ip = Ipv4Addr::new(198, 18, 200, 7);
        writer
            .streamed(
                &scan,
                ip,
                &entry(443, Proto::Tcp, PortState::Open, Some("https")),
            )
            .unwrap();
        let open_only = ScanInfo {
            open_only: true,
            ..scan.clone()
        };
        let closed = entry(23, Proto::Tcp, PortState::Closed, None);
        writer.streamed(&open_only, ip, &closed).unwrap();
        writer.streamed(&scan, ip, &closed).unwrap();
        assert_eq!(
            String::from_utf8(writer.into_inner()).unwrap(),
            "Host: 198.18.200.7 ()\tPorts: 443/open/tcp//https///\n\
             Host: 198.18.200.7 ()\tPorts: 23/closed/tcp/////\n"
        );
    }

    #[test]
    fn ports_and_the_one_ignored_state_as_nmap() {
        let mut ports: Vec<_> = (1..=997)
            .map(|port| entry(port, Proto::Tcp, PortState::Closed, None))
            .collect();
        ports.push(entry(2000, Proto::Tcp, PortState::Open, Some("cisco-sccp")));
        ports.push(entry(2001, Proto::Tcp, PortState::Filtered, None));
        ports.push(entry(2002, Proto::Tcp, PortState::Open, Some("a/b")));
        assert_eq!(
            lines(&scan(ScanKind::Syn), ports),
            "Host: 198.18.128.1 ()\tStatus: Up\n\
             Host: 198.18.128.1 ()\tPorts: 2000/open/tcp//cisco-sccp///, 2001/filtered/tcp/////, \
             2002/open/tcp//a|b///\tIgnored State: closed (997)\n"
        );
    }

    #[test]
    fn all_ignored_and_protocols() {
        let ports: Vec<_> = (1..=30)
            .map(|port| entry(port, Proto::Sctp, PortState::Filtered, None))
            .collect();
        assert_eq!(
            lines(&scan(ScanKind::SctpInit), ports),
            "Host: 198.18.128.1 ()\tStatus: Up\n\
             Host: 198.18.128.1 ()\tPorts: \tIgnored State: filtered (30)\n"
        );
        let protocols = vec![
            entry(1, Proto::Ip, PortState::Open, Some("icmp")),
            entry(6, Proto::Ip, PortState::OpenFiltered, Some("tcp")),
            entry(253, Proto::Ip, PortState::Closed, None),
        ];
        assert_eq!(
            lines(&scan(ScanKind::IpProto), protocols),
            "Host: 198.18.128.1 ()\tStatus: Up\n\
             Host: 198.18.128.1 ()\tProtocols: 1/open/icmp/, 6/open|filtered/tcp/, 253/closed//\n"
        );
    }

    #[test]
    fn two_ignored_states_are_not_named() {
        let ports: Vec<_> = (1..=30)
            .map(|port| entry(port, Proto::Tcp, PortState::Closed, None))
            .chain((31..=60).map(|port| entry(port, Proto::Tcp, PortState::Filtered, None)))
            .collect();
        let text = lines(&scan(ScanKind::Syn), ports);
        assert!(text.ends_with("\tPorts: \n"), "{text}");
    }
}
