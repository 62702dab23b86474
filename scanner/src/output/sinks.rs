//! The outputs one scan writes, opened from the command line before anything is sent, and fed
//! together from the host tables: a write error names the output and the cause in one line
//! and ends the scan.

use std::{
    fs::File,
    io::{self, Write},
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use super::{
    csv::CsvWriter, fields::Fields, grepable::GrepableWriter, json::JsonLines, list::ListWriter,
    normal::NormalWriter, records::LineWriter, stream::Streaming, xml::XmlWriter,
};
use crate::report::{
    HostReport, PortEntry, ReportWriter, RunStats, ScanInfo,
    tables::{HostTables, Keep},
    totals::Totals,
};

/// The formats, with nmap's (and our) option names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Normal,
    Xml,
    Grepable,
    Json,
    Csv,
    List,
}

impl Format {
    pub fn option(self) -> &'static str {
        match self {
            Self::Normal => "-oN",
            Self::Xml => "-oX",
            Self::Grepable => "-oG",
            Self::Json => "-oJ",
            Self::Csv => "-oC",
            Self::List => "-oL",
        }
    }
}

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct OutputSpec {
    /// Each format and its file (`-` for standard output), in the order given.
    pub files: Vec<(Format, PathBuf)>,
    /// `--output-fields`, for -oJ and -oC.
    pub fields: Option<Fields>,
    /// The XML's stylesheet reference; `None` for `--no-stylesheet`.
    pub stylesheet: Option<String>,
}

impl OutputSpec {
    /// Whether some output goes to standard output (then the terminal gets no tables).
    pub fn uses_stdout(&self) -> bool {
        self.files.iter().any(|(_, path)| path == Path::new("-"))
    }
}

/// A write or open failure, naming the output: `cannot write -oX /full/a.xml: No space left on
/// device (os error 28)`.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {output}: {cause}")]
pub struct OutputError {
    /// `-oX /full/a.xml`, or `the terminal`.
    pub output: String,
    pub cause: io::Error,
}

struct Sink {
    /// What a write error names.
    name: String,
    writer: Box<dyn ReportWriter>,
}

/// Every output of the scan, the terminal's tables among them, and the host tables they are
/// written from.
pub struct Outputs {
    sinks: Vec<Sink>,
    tables: HostTables,
    totals: Totals,
}

impl Outputs {
    /// Creates (truncates) every file now, so that a path that cannot be written costs no scan.
    /// The terminal gets nmap's host tables too, unless an output goes to standard output.
    pub fn open(spec: &OutputSpec, tables: HostTables) -> Result<Self, OutputError> {
        let mut sinks = Vec::new();
        for (format, path) in &spec.files {
            let name = format!("{} {}", format.option(), path.display());
            // Buffered, standard output too (a write per line would be a syscall per reply),
            // and written in whole lines: a kill or a full disk never leaves half a record.
            let out: Box<dyn Write> = if path == Path::new("-") {
                Box::new(LineWriter::new(io::stdout()))
            } else {
                let file = File::create(path).map_err(|cause| OutputError {
                    output: name.clone(),
                    cause,
                })?;
                Box::new(LineWriter::new(file))
            };
            let writer: Box<dyn ReportWriter> = match format {
                Format::Normal => Box::new(NormalWriter::file(out)),
                Format::Xml => Box::new(XmlWriter::new(out, spec.stylesheet.clone())),
                Format::Grepable => Box::new(GrepableWriter::new(out)),
                Format::Json => Box::new(Streaming(JsonLines::new(out, spec.fields.clone()))),
                Format::Csv => Box::new(Streaming(CsvWriter::new(
                    out,
                    spec.fields.clone().unwrap_or_else(Fields::csv_default),
                ))),
                Format::List => Box::new(Streaming(ListWriter::new(out))),
            };
            sinks.push(Sink { name, writer });
        }
        if !spec.uses_stdout() {
            sinks.push(Sink {
                name: "the terminal".to_owned(),
                writer: Box::new(NormalWriter::terminal(LineWriter::new(io::stdout()))),
            });
        }
        Ok(Self {
            sinks,
            tables,
            totals: Totals::default(),
        })
    }

    fn each(
        &mut self,
        mut call: impl FnMut(&mut dyn ReportWriter) -> io::Result<()>,
    ) -> Result<(), OutputError> {
        for sink in &mut self.sinks {
            call(sink.writer.as_mut()).map_err(|cause| OutputError {
                output: sink.name.clone(),
                cause,
            })?;
        }
        Ok(())
    }

    pub fn begin(&mut self, scan: &ScanInfo) -> Result<(), OutputError> {
        self.each(|writer| writer.begin(scan))
    }

    /// A reply's verdict: written by the line formats now, and kept for its host's table —
    /// or, past `--max-host-tables` responding hosts, written on its own by every output.
    pub fn decided(
        &mut self,
        scan: &ScanInfo,
        ip: Ipv4Addr,
        entry: &PortEntry,
    ) -> Result<(), OutputError> {
        self.each(|writer| writer.decided(scan, ip, entry))?;
        self.totals.count(entry);
        match self.tables.keep(ip, *entry) {
            Keep::Kept => Ok(()),
            Keep::Overflow(kept) => {
                for (ip, entries) in &kept {
                    for entry in entries {
                        self.each(|writer| writer.streamed(scan, *ip, entry))?;
                    }
                }
                self.each(|writer| writer.streamed(scan, ip, entry))
            }
            Keep::Stream => self.each(|writer| writer.streamed(scan, ip, entry)),
        }
    }

    /// The host tables, to be completed and written host by host — or what stands for them
    /// when the scan had too many responding hosts (its replies are written already).
    pub fn take_tables(&mut self) -> HostTables {
        std::mem::replace(&mut self.tables, HostTables::new(0, Some(1)))
    }

    /// A port of a host with no table that silence decided.
    pub fn silent(
        &mut self,
        scan: &ScanInfo,
        ip: Ipv4Addr,
        entry: &PortEntry,
    ) -> Result<(), OutputError> {
        self.each(|writer| writer.silent(scan, ip, entry))
    }

    /// The replies counted per port, state and reason.
    pub fn take_totals(&mut self) -> Totals {
        std::mem::take(&mut self.totals)
    }

    /// The hosts that answered any probe.
    pub fn answered(&self) -> u64 {
        self.tables.answered()
    }

    pub fn totals(&mut self, table: &str) -> Result<(), OutputError> {
        self.each(|writer| writer.totals(table))
    }

    pub fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> Result<(), OutputError> {
        self.each(|writer| writer.host(scan, host))
    }

    /// Writes every foot and flushes every file.
    pub fn end(&mut self, scan: &ScanInfo, stats: &RunStats) -> Result<(), OutputError> {
        self.each(|writer| writer.end(scan, stats))
    }
}
