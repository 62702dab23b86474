//! `-oL FILE`: masscan's list format, for the pipelines built on masscan: a `#masscan` head,
//! `open tcp 443 198.51.100.7 1733400000` per port state (state, protocol, port, address,
//! Unix time), `# end` at the foot. Replies as decided, silence at the end, as -oJ.

use std::{
    io::{self, Write},
    net::Ipv4Addr,
    time::SystemTime,
};

use super::json::listed;
use crate::report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo, time};

pub struct ListWriter<W: Write> {
    out: W,
}

impl<W: Write> ListWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        if !listed(scan, entry) {
            return Ok(());
        }
        writeln!(
            self.out,
            "{} {} {} {ip} {}",
            entry.state.as_str(),
            entry.proto.as_str(),
            entry.port,
            time::unix_seconds(SystemTime::now())
        )
    }
}

impl<W: Write> ReportWriter for ListWriter<W> {
    fn begin(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        writeln!(self.out, "#masscan")
    }

    fn decided(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        self.line(scan, ip, entry)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        for entry in host.ports.iter().filter(|entry| entry.is_silence()) {
            self.line(scan, host.ip, entry)?;
        }
        Ok(())
    }

    fn end(&mut self, _scan: &ScanInfo, _stats: &RunStats) -> io::Result<()> {
        writeln!(self.out, "# end")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        report::{HostUp, ScanKind},
        verdict::{PortState, Proto, Reason},
    };

    #[test]
    fn masscans_lines_between_its_head_and_foot() {
        let scan = ScanInfo {
            kind: ScanKind::Syn,
            ports: vec![80, 8081],
            args: "scanner".into(),
            start: SystemTime::UNIX_EPOCH,
            verbose: 0,
            debug: 0,
            open_only: false,
            reason: false,
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let entry = |port, state, reason| PortEntry {
            port,
            proto: Proto::Tcp,
            state,
            reason,
            ttl: 64,
            responder: None,
            service: None,
        };
        let ip = Ipv4Addr::new(198, 18, 128, 7);
        let open = entry(80, PortState::Open, Reason::SynAck);
        let silent = entry(8081, PortState::Filtered, Reason::NoResponse);
        let mut list = ListWriter::new(Vec::new());
        list.begin(&scan).unwrap();
        list.decided(&scan, ip, &open).unwrap();
        let host = HostReport {
            ip,
            up: HostUp::Replied {
                reason: Reason::SynAck,
                ttl: 64,
            },
            ports: vec![open, silent],
            os: None,
        };
        list.host(&scan, &host).unwrap();
        let stats = RunStats {
            end: SystemTime::UNIX_EPOCH,
            elapsed_secs: 1.0,
            addresses: 1,
            hosts_up: 1,
            interrupted: false,
        };
        list.end(&scan, &stats).unwrap();
        let text = String::from_utf8(list.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "#masscan");
        assert!(lines[1].starts_with("open tcp 80 198.18.128.7 "), "{text}");
        assert!(
            lines[2].starts_with("filtered tcp 8081 198.18.128.7 "),
            "{text}"
        );
        let stamp: u64 = lines[1].rsplit(' ').next().unwrap().parse().unwrap();
        assert!(stamp > 1_700_000_000, "a Unix time: {stamp}");
        assert_eq!(lines[3], "# end");
    }
}
