//! The outputs one scan writes, opened from the command line before anything is sent, and fed
//! together: a write error names the output and the cause in one line and ends the scan.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use super::{
    csv::CsvWriter, fields::Fields, grepable::GrepableWriter, json::JsonLines, list::ListWriter,
    normal::NormalWriter, stream::Streaming, xml::XmlWriter,
};
use crate::report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo};

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
#[error("cannot write {option} {path}: {cause}")]
pub struct OutputError {
    pub option: &'static str,
    pub path: String,
    pub cause: io::Error,
}

struct Sink {
    format: Format,
    path: PathBuf,
    writer: Box<dyn ReportWriter>,
}

/// Every output of the scan.
pub struct Outputs {
    sinks: Vec<Sink>,
}

impl Outputs {
    /// Creates (truncates) every file now, so that a path that cannot be written costs no scan.
    pub fn open(spec: &OutputSpec) -> Result<Self, OutputError> {
        let mut sinks = Vec::new();
        for (format, path) in &spec.files {
            let fail = |cause| OutputError {
                option: format.option(),
                path: path.display().to_string(),
                cause,
            };
            // Buffered, standard output too: a write per line would be a syscall per reply.
            let out: Box<dyn Write> = if path == Path::new("-") {
                Box::new(BufWriter::new(io::stdout()))
            } else {
                Box::new(BufWriter::new(File::create(path).map_err(fail)?))
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
            sinks.push(Sink {
                format: *format,
                path: path.clone(),
                writer,
            });
        }
        Ok(Self { sinks })
    }

    fn each(
        &mut self,
        mut call: impl FnMut(&mut dyn ReportWriter) -> io::Result<()>,
    ) -> Result<(), OutputError> {
        for sink in &mut self.sinks {
            call(sink.writer.as_mut()).map_err(|cause| OutputError {
                option: sink.format.option(),
                path: sink.path.display().to_string(),
                cause,
            })?;
        }
        Ok(())
    }

    pub fn begin(&mut self, scan: &ScanInfo) -> Result<(), OutputError> {
        self.each(|writer| writer.begin(scan))
    }

    pub fn decided(
        &mut self,
        scan: &ScanInfo,
        ip: Ipv4Addr,
        entry: &PortEntry,
    ) -> Result<(), OutputError> {
        self.each(|writer| writer.decided(scan, ip, entry))
    }

    pub fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> Result<(), OutputError> {
        self.each(|writer| writer.host(scan, host))
    }

    /// Writes every foot and flushes every file.
    pub fn end(&mut self, scan: &ScanInfo, stats: &RunStats) -> Result<(), OutputError> {
        self.each(|writer| writer.end(scan, stats))
    }
}
