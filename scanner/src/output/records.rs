//! Whole lines only: the buffered writer under every output. A `BufWriter` writes whenever its
//! buffer fills, mid-line, so a SIGKILL or a full disk leaves half a record at the end of the
//! file. This one hands the kernel only complete lines — each write(2) ends on a newline — and
//! when a write fails, cuts a file back to the last whole line it holds.

use std::{
    fs::File,
    io::{self, Write},
};

/// Bytes gathered before they go out: one write(2) per this many, rounded down to a line.
const BUFFER: usize = 64 * 1024;

/// Where the lines go: a file can be cut back after a failed write; standard output cannot.
pub trait Target: Write {
    /// Drops everything past `len` bytes.
    fn truncate(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

impl Target for File {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

impl Target for io::Stdout {}

impl Target for Vec<u8> {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        Vec::truncate(self, len as usize);
        Ok(())
    }
}

pub struct LineWriter<T: Target> {
    target: T,
    buffer: Vec<u8>,
    /// Bytes the target holds, all whole lines.
    committed: u64,
}

impl<T: Target> LineWriter<T> {
    pub fn new(target: T) -> Self {
        Self {
            target,
            buffer: Vec::with_capacity(BUFFER),
            committed: 0,
        }
    }

    pub fn into_inner(mut self) -> io::Result<T> {
        self.flush()?;
        Ok(self.target)
    }

    /// Writes `self.buffer[..len]`, whole lines. When the target takes only part of it (a
    /// full disk), it keeps the whole lines that went out and cuts off the rest.
    fn commit(&mut self, len: usize) -> io::Result<()> {
        let mut written = 0;
        while written < len {
            match self.target.write(&self.buffer[written..len]) {
                Ok(0) => return self.cut(written, io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.cut(written, err),
            }
        }
        self.committed += len as u64;
        self.buffer.drain(..len);
        Ok(())
    }

    /// After `written` bytes of the buffer went out and then `err`: the target keeps the
    /// whole lines among them.
    fn cut(&mut self, written: usize, err: io::Error) -> io::Result<()> {
        let whole = self.buffer[..written]
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |last| last + 1);
        // Best effort: the write error is what the user must see.
        let _ = self.target.truncate(self.committed + whole as u64);
        self.committed += whole as u64;
        self.buffer.drain(..whole);
        Err(err)
    }
}

impl<T: Target> Write for LineWriter<T> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= BUFFER
            && let Some(last) = self.buffer.iter().rposition(|&byte| byte == b'\n')
        {
            self.commit(last + 1)?;
        }
        Ok(bytes.len())
    }

    /// Writes everything gathered: the writers flush only at the end of a record.
    fn flush(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.commit(self.buffer.len())?;
        }
        self.target.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that takes `room` bytes, then fails as a full disk does (a short write, then
    /// ENOSPC), recording every write(2) it was given.
    struct Disk {
        data: Vec<u8>,
        room: usize,
        writes: Vec<usize>,
    }

    impl Write for Disk {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let free = self.room - self.data.len();
            if free == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let taken = bytes.len().min(free);
            self.data.extend_from_slice(&bytes[..taken]);
            self.writes.push(taken);
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Target for Disk {
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    fn record(n: usize) -> String {
        format!("{{\"ip\":\"198.18.128.{}\",\"port\":{n}}}\n", n % 256)
    }

    #[test]
    fn every_write_ends_on_a_line() {
        let mut out = LineWriter::new(Vec::new());
        let mut expected = String::new();
        for n in 0..10_000 {
            let line = record(n);
            // Written in pieces, as the formats do.
            let (head, tail) = line.split_at(7);
            out.write_all(head.as_bytes()).unwrap();
            out.write_all(tail.as_bytes()).unwrap();
            expected.push_str(&line);
            assert!(
                out.target.is_empty() || out.target.ends_with(b"\n"),
                "a write ended mid-line"
            );
        }
        assert!(
            !out.target.is_empty(),
            "large output goes out before the end"
        );
        assert_eq!(out.into_inner().unwrap(), expected.as_bytes());
    }

    #[test]
    fn a_full_disk_leaves_only_whole_lines() {
        let disk = Disk {
            data: Vec::new(),
            room: 100_000,
            writes: Vec::new(),
        };
        let mut out = LineWriter::new(disk);
        let mut failed = None;
        for n in 0..100_000 {
            if let Err(err) = out.write_all(record(n).as_bytes()) {
                failed = Some(err);
                break;
            }
        }
        let err = failed.expect("the disk fills");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        let data = &out.target.data;
        assert!(
            !data.is_empty() && data.ends_with(b"\n"),
            "cut back to a line"
        );
        for line in std::str::from_utf8(data).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("a whole record");
        }
    }
}
