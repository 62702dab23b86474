//! The results journal: each result as a JSON line, appended as it is decided, synced at
//! every checkpoint. The checkpoint names how many bytes of it are whole; a resumed scan reads
//! back exactly those and appends after them.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::results::ScanResult;

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes written (not all flushed yet).
    bytes: u64,
    results: u64,
}

impl Journal {
    /// A new, empty journal at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::open(path, 0, 0)
    }

    /// The journal at `path` cut to its first `bytes` bytes (`results` results), to go on.
    pub fn resume(path: &Path, bytes: u64, results: u64) -> io::Result<Self> {
        Self::open(path, bytes, results)
    }

    fn open(path: &Path, bytes: u64, results: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(bytes == 0)
            .open(path)?;
        file.set_len(bytes)?;
        file.seek(SeekFrom::Start(bytes))?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 16, file),
            bytes,
            results,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&mut self, result: &ScanResult) -> io::Result<()> {
        let mut line = serde_json::to_vec(result).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.bytes += line.len() as u64;
        self.results += 1;
        Ok(())
    }

    /// Makes every result so far durable; returns (bytes, results) that a checkpoint may name.
    pub fn sync(&mut self) -> io::Result<(u64, u64)> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok((self.bytes, self.results))
    }
}

/// A journal line's result; the error says what is wrong with it, in one line (escaped: it may
/// quote the line's own bytes).
pub fn parse_line(line: &str) -> Result<ScanResult, String> {
    serde_json::from_str(line).map_err(|err| err.to_string().escape_debug().to_string())
}

/// The results of the first `bytes` bytes of the journal at `path`, in the order they were
/// decided; an error names the journal and the line.
pub fn read(path: &Path, bytes: u64) -> io::Result<impl Iterator<Item = io::Result<ScanResult>>> {
    let file = File::open(path)?;
    let length = file.metadata()?.len();
    if length < bytes {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("it has {length} bytes, the checkpoint vouches for {bytes}"),
        ));
    }
    let mut lines = BufReader::new(file.take(bytes)).lines().enumerate();
    Ok(std::iter::from_fn(move || {
        let (number, line) = lines.next()?;
        Some(line.and_then(|line| {
            parse_line(&line).map_err(|err| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {}: {err}", number + 1),
                )
            })
        }))
    }))
}
