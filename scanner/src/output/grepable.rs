//! `-oG FILE`: nmap's grepable output, field for field as output.cc writes it:
//! `Host: 198.18.128.1 ()\tStatus: Up`, then
//! `Host: 198.18.128.1 ()\tPorts: 22/open/tcp//ssh///, ...\tIgnored State: closed (997)`.

use std::io::{self, Write};

use crate::{
    report::{HostReport, ReportWriter, RunStats, ScanInfo, fold, time},
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

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        let out = &mut self.out;
        // Nmap has no name for the host without reverse DNS: empty parentheses.
        writeln!(out, "Host: {} ()\tStatus: Up", host.ip)?;
        if host.ports.is_empty() {
            return Ok(());
        }
        write!(out, "Host: {} ()", host.ip)?;
        let folded = fold::fold(&host.ports, scan);
        let label = match scan.kind.proto() {
            Proto::Ip => "Protocols",
            _ => "Ports",
        };
        write!(out, "\t{label}: ")?;
        for (index, entry) in folded.shown.iter().enumerate() {
            if index > 0 {
                write!(out, ", ")?;
            }
            // Slashes separate the fields: nmap writes them as '|' inside a name.
            let service = entry.service.unwrap_or_default().replace('/', "|");
            match entry.proto {
                Proto::Ip => write!(out, "{}/{}/{service}/", entry.port, entry.state.as_str())?,
                proto => write!(
                    out,
                    "{}/{}/{}//{service}///",
                    entry.port,
                    entry.state.as_str(),
                    proto.as_str()
                )?,
            }
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
