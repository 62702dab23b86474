//! `-oL FILE`: masscan's list format, for the pipelines built on masscan: a `#masscan` head,
//! `open tcp 443 198.51.100.7 1733400000` per port state (state, protocol, port, address,
//! Unix time), `# end` at the foot; lines as -oJ writes them (see [`super::stream`]).

use std::{
    io::{self, Write},
    net::Ipv4Addr,
    time::SystemTime,
};

use super::stream::LineFormat;
use crate::report::{PortEntry, ScanInfo, time};

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
}

impl<W: Write> LineFormat for ListWriter<W> {
    fn head(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        writeln!(self.out, "#masscan")
    }

    fn line(&mut self, _scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        writeln!(
            self.out,
            "{} {} {} {ip} {}",
            entry.state.as_str(),
            entry.proto.as_str(),
            entry.port,
            time::unix_seconds(SystemTime::now())
        )
    }

    fn foot(&mut self) -> io::Result<()> {
        writeln!(self.out, "# end")?;
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
        verdict::{PortState, Reason},
    };

    #[test]
    fn masscans_lines_between_its_head_and_foot() {
        let scan = examples::scan(ScanKind::Syn);
        let ip = Ipv4Addr::new(198, 18, 128, 7);
        let open = entry(80, PortState::Open, Reason::SynAck, 64);
        let silent = entry(8081, PortState::Filtered, Reason::NoResponse, 0);
        let mut list = Streaming(ListWriter::new(Vec::new()));
        list.begin(&scan).unwrap();
        list.decided(&scan, ip, &open).unwrap();
        let host = HostReport {
            ip,
            ..examples::host(vec![open, silent])
        };
        list.host(&scan, &host).unwrap();
        list.end(&scan, &examples::stats()).unwrap();
        let text = String::from_utf8(list.0.into_inner()).unwrap();
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
