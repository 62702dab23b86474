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
