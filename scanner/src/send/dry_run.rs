//! `--dry-run`: the probes a scan would send, described one per line on standard output
//! instead of sent.

use std::io::{self, BufWriter, Write};

use super::{FrameSender, af_packet::MAX_BATCH};
use crate::trace;

pub struct DryRun<W: Write + Send> {
    slots: Vec<Vec<u8>>,
    lens: Vec<usize>,
    out: BufWriter<W>,
}

impl<W: Write + Send> DryRun<W> {
    pub fn new(template: &[u8], out: W) -> Self {
        Self {
            slots: vec![template.to_vec(); MAX_BATCH],
            lens: vec![template.len(); MAX_BATCH],
            out: BufWriter::new(out),
        }
    }
}

impl<W: Write + Send> FrameSender for DryRun<W> {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn slot(&mut self, index: usize) -> &mut [u8] {
        &mut self.slots[index]
    }

    fn set_len(&mut self, index: usize, len: usize) {
        self.lens[index] = len.min(self.slots[index].len());
    }

    fn frame(&self, index: usize) -> &[u8] {
        &self.slots[index][..self.lens[index]]
    }

    fn send(&mut self, count: usize) -> io::Result<()> {
        for (frame, &len) in self.slots[..count].iter().zip(&self.lens) {
            writeln!(self.out, "{}", trace::Frame(&frame[..len]))?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
