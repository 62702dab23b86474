//! `scanner merge`: the outputs of a scan's shards (or of its runs) joined into one report, in
//! the format they share — JSON lines (-oJ), CSV (-oC) or nmap's XML (-oX) — valid as that
//! format. A (host, port) reported by two inputs is kept once and counted: shards of one seed
//! never overlap, so a duplicate means inputs from overlapping runs.

mod csv;
mod json;
mod xml;

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use crate::plan::InputError;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Where the joined report goes ("-": standard output).
    #[arg(short = 'o', long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// The shards' outputs, all of one format: -oJ, -oC or -oX files.
    #[arg(value_name = "FILE", required = true)]
    pub inputs: Vec<PathBuf>,
}

/// The formats merge reads, told apart by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
    Xml,
}

impl Format {
    fn of(text: &str) -> Self {
        let start = text.trim_start();
        if start.starts_with('<') {
            Format::Xml
        } else if start.starts_with('{') || start.is_empty() {
            Format::JsonLines
        } else {
            Format::Csv
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "JSON lines (-oJ)",
            Format::Csv => "CSV (-oC)",
            Format::Xml => "nmap XML (-oX)",
        }
    }
}

/// One input: its name for messages, and its text.
pub struct Input {
    pub name: String,
    pub text: String,
}

/// What a merge wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Records written (results, rows, hosts).
    pub records: u64,
    /// Records dropped because an earlier input had them already.
    pub duplicates: u64,
}

pub fn run(args: MergeArgs) -> Result<std::process::ExitCode> {
    let inputs = args
        .inputs
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    let (format, merged) = merge(&inputs, &mut out).map_err(InputError)?;
    write_output(&args.output, &out)?;
    eprintln!(
        "scanner: merged {} {} files: {} records{}",
        inputs.len(),
        format.name(),
        merged.records,
        match merged.duplicates {
            0 => String::new(),
            n => format!(", {n} duplicates dropped (the inputs overlap)"),
        }
    );
    Ok(std::process::ExitCode::SUCCESS)
}

fn read(path: &Path) -> Result<Input> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| InputError(format!("{}: not UTF-8 text", path.display())))?;
    Ok(Input {
        name: path.display().to_string(),
        text,
    })
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if path == Path::new("-") {
        let mut stdout = io::stdout().lock();
        stdout.write_all(bytes)?;
        return Ok(stdout.flush()?);
    }
    // Written beside, then renamed: the report appears whole or not at all.
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Joins `inputs`, which must share one format, into `out`.
pub fn merge(inputs: &[Input], out: &mut Vec<u8>) -> Result<(Format, Merged), String> {
    let first = inputs.first().ok_or("no input files")?;
    let format = Format::of(&first.text);
    for input in inputs {
        let other = Format::of(&input.text);
        if other != format {
            return Err(format!(
                "{}: {} among {} files ({}): merge joins files of one format",
                input.name,
                other.name(),
                format.name(),
                first.name
            ));
        }
    }
    let merged = match format {
        Format::JsonLines => json::merge(inputs, out)?,
        Format::Csv => csv::merge(inputs, out)?,
        Format::Xml => xml::merge(inputs, out)?,
    };
    Ok((format, merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn input(name: &str, text: &str) -> Input {
        Input {
            name: name.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn inputs_of_two_formats_are_refused_by_name() {
        let err = merge(
            &[input("a.jsonl", "{}\n"), input("b.xml", "<?xml?>")],
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "b.xml: nmap XML (-oX) among JSON lines (-oJ) files (a.jsonl): merge joins files of \
             one format"
        );
    }
}
