//! The streaming formats (-oJ, -oC, -oL) share one shape: a line per port state, written for a
//! reply the moment it is decided, and, once the scan is over, for each host that is up the
//! states silence decided (and, in JSON, its OS result). `--open` keeps the states that may be
//! open. A format says only how one line looks ([`LineFormat`]); [`Streaming`] does the rest.

use std::{io, net::Ipv4Addr};

use crate::{
    osscan::report::OsReport,
    report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo},
};

/// How one streaming format writes.
pub trait LineFormat {
    fn head(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        Ok(())
    }
    fn line(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()>;
    fn os(&mut self, _ip: Ipv4Addr, _os: &OsReport) -> io::Result<()> {
        Ok(())
    }
    /// Writes the foot, if the format has one, and flushes.
    fn foot(&mut self) -> io::Result<()>;
}

/// A [`LineFormat`] as a [`ReportWriter`].
pub struct Streaming<F>(pub F);

/// What `--open` keeps: the states that may be open, as nmap's --open.
fn listed(scan: &ScanInfo, entry: &PortEntry) -> bool {
    !scan.open_only || entry.state.may_be_open()
}

impl<F: LineFormat> ReportWriter for Streaming<F> {
    fn begin(&mut self, scan: &ScanInfo) -> io::Result<()> {
        self.0.head(scan)
    }

    fn decided(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        match listed(scan, entry) {
            true => self.0.line(scan, ip, entry),
            false => Ok(()),
        }
    }

    fn silent(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        self.decided(scan, ip, entry)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        // The replies' lines are out already.
        for entry in host
            .ports
            .iter()
            .filter(|entry| entry.is_silence() && listed(scan, entry))
        {
            self.0.line(scan, host.ip, entry)?;
        }
        match &host.os {
            Some(os) => self.0.os(host.ip, os),
            None => Ok(()),
        }
    }

    fn end(&mut self, _scan: &ScanInfo, _stats: &RunStats) -> io::Result<()> {
        self.0.foot()
    }
}
