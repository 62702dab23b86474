//! `-oC FILE`: CSV with a header line, the columns of `--output-fields` (ZMap's names), one row
//! per port state as -oJ writes them (see [`super::stream`]).

use std::{
    fmt::Write as _,
    io::{self, Write},
    net::Ipv4Addr,
};

use super::{fields::Fields, stream::LineFormat};
use crate::report::{PortEntry, ScanInfo};

pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    fields: Fields,
    /// One cell's text, reused: a row allocates nothing.
    cell: String,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, fields: Fields) -> Self {
        Self {
            out: csv::Writer::from_writer(out),
            fields,
            cell: String::new(),
        }
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(|err| io::Error::other(err.to_string()))
    }
}

fn into_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

impl<W: Write> LineFormat for CsvWriter<W> {
    fn head(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        self.out.write_record(self.fields.names()).map_err(into_io)
    }

    fn line(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        for field in &self.fields.0 {
            self.cell.clear();
            let _ = write!(self.cell, "{}", field.value(scan, ip, entry));
            self.out.write_field(&self.cell).map_err(into_io)?;
        }
        // Ends the record of the fields written above.
        self.out
            .write_record(std::iter::empty::<&[u8]>())
            .map_err(into_io)
    }

    fn foot(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        output::stream::Streaming,
        report::{
            HostReport, ReportWriter, ScanKind,
            examples::{self, entry},
        },
        verdict::{PortState, Proto, Reason},
    };

    #[test]
    fn header_rows_and_quoting() {
        let scan = examples::scan(ScanKind::IpProto);
        let ip = Ipv4Addr::new(198, 18, 128, 1);
        let icmp = PortEntry {
            proto: Proto::Ip,
            ..entry(1, PortState::Open, Reason::EchoReply, 64)
        };
        let silent = PortEntry {
            proto: Proto::Ip,
            ..entry(6, PortState::OpenFiltered, Reason::NoResponse, 0)
        };
        let fields = Fields::parse("saddr,proto,sport,state,responder,success").unwrap();
        let mut csv = Streaming(CsvWriter::new(Vec::new(), fields));
        csv.begin(&scan).unwrap();
        csv.decided(&scan, ip, &icmp).unwrap();
        let host = HostReport {
            ip,
            ..examples::host(vec![icmp, silent])
        };
        csv.host(&scan, &host).unwrap();
        csv.end(&scan, &examples::stats()).unwrap();
        let text = String::from_utf8(csv.0.into_inner().unwrap()).unwrap();
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
