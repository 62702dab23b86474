//! `-oJ FILE`: one JSON object per result, written as each result is decided.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use crate::results::ScanResult;

pub struct JsonLines {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// `-` is standard output.
    pub fn create(path: &Path) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path)?)
        };
        Ok(Self {
            out: BufWriter::new(out),
        })
    }

    pub fn write(&mut self, result: &ScanResult) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, result)?;
        self.out.write_all(b"\n")
    }

    /// A host's OS detection result: `{"ip": ..., "os": {...}}`.
    pub fn write_os(&mut self, report: &crate::osscan::report::OsReport) -> io::Result<()> {
        #[derive(serde::Serialize)]
        struct HostOs<'a> {
            ip: std::net::Ipv4Addr,
            os: &'a crate::osscan::report::OsReport,
        }
        serde_json::to_writer(
            &mut self.out,
            &HostOs {
                ip: report.ip,
                os: report,
            },
        )?;
        self.out.write_all(b"\n")
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::verdict::{PortState, Proto, Reason};

    use super::*;

    #[test]
    fn one_object_per_line_with_nmaps_words() {
        let result = ScanResult {
            ip: Ipv4Addr::new(198, 18, 128, 9),
            port: 8082,
            proto: Proto::Tcp,
            state: PortState::Filtered,
            reason: Reason::AdminProhibited,
            ttl: 64,
            responder: Some(Ipv4Addr::new(198, 18, 0, 2)),
        };
        let line = serde_json::to_string(&result).unwrap();
        assert_eq!(
            line,
            r#"{"ip":"198.18.128.9","port":8082,"proto":"tcp","state":"filtered","reason":"admin-prohibited","ttl":64,"responder":"198.18.0.2"}"#
        );
    }
}
