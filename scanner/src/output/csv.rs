//! `-oC FILE`: CSV with a header line, the columns of `--output-fields` (ZMap's names), one row
//! per port state as -oJ writes them: replies as decided, silence at the end.

use std::{
    io::{self, Write},
    net::Ipv4Addr,
    time::SystemTime,
};

use serde_json::Value;

use super::{fields::Fields, json::listed};
use crate::report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo};

pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    fields: Fields,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, fields: Fields) -> Self {
        Self {
            out: csv::Writer::from_writer(out),
            fields,
        }
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(|err| io::Error::other(err.to_string()))
    }

    fn row(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        if !listed(scan, entry) {
            return Ok(());
        }
        let values = self.fields.values(scan, ip, entry, SystemTime::now());
        let cells = values.iter().map(|value| match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        });
        self.out.write_record(cells).map_err(into_io)
    }
}

fn into_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

impl<W: Write> ReportWriter for CsvWriter<W> {
    fn begin(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        self.out.write_record(self.fields.names()).map_err(into_io)
    }

    fn decided(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        self.row(scan, ip, entry)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        for entry in host.ports.iter().filter(|entry| entry.is_silence()) {
            self.row(scan, host.ip, entry)?;
        }
        Ok(())
    }

    fn end(&mut self, _scan: &ScanInfo, _stats: &RunStats) -> io::Result<()> {
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
    fn header_rows_and_quoting() {
        let scan = ScanInfo {
            kind: ScanKind::IpProto,
            ports: vec![1, 6],
            args: "scanner".into(),
            start: SystemTime::UNIX_EPOCH,
            verbose: 0,
            debug: 0,
            open_only: false,
            reason: false,
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let entry = |port, state, reason, ttl| PortEntry {
            port,
            proto: Proto::Ip,
            state,
            reason,
            ttl,
            responder: None,
            service: None,
        };
        let ip = Ipv4Addr::new(198, 18, 128, 1);
        let icmp = entry(1, PortState::Open, Reason::EchoReply, 64);
        let silent = entry(6, PortState::OpenFiltered, Reason::NoResponse, 0);
        let fields = Fields::parse("saddr,proto,sport,state,responder,success").unwrap();
        let mut csv = CsvWriter::new(Vec::new(), fields);
        csv.begin(&scan).unwrap();
        csv.decided(&scan, ip, &icmp).unwrap();
        let host = HostReport {
            ip,
            up: HostUp::UserSet,
            ports: vec![icmp, silent],
            os: None,
        };
        csv.host(&scan, &host).unwrap();
        let stats = RunStats {
            end: SystemTime::UNIX_EPOCH,
            elapsed_secs: 0.1,
            addresses: 1,
            hosts_up: 1,
            interrupted: false,
        };
        csv.end(&scan, &stats).unwrap();
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        // `open|filtered` has no comma or quote: written bare; an empty responder is empty.
        assert_eq!(
            text,
            "saddr,proto,sport,state,responder,success\n\
             198.18.128.1,ip,1,open,,1\n\
             198.18.128.1,ip,6,open|filtered,,0\n"
        );
    }

    #[test]
    fn cells_with_commas_and_quotes_are_quoted() {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["a,b", "say \"hi\"", "plain"]).unwrap();
        let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
        assert_eq!(text, "\"a,b\",\"say \"\"hi\"\"\",plain\n");
    }
}
