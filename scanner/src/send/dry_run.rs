//! `--dry-run`: the probes a scan would send, described one per line on standard output
//! instead of sent.

use std::io::{self, BufWriter, Write};

use super::{FrameSender, af_packet::MAX_BATCH};
use crate::trace;

pub struct DryRun<W: Write + Send> {
    slots: Vec<Vec<u8>>,
    out: BufWriter<W>,
}

impl<W: Write + Send> DryRun<W> {
    pub fn new(template: &[u8], out: W) -> Self {
        Self {
            slots: vec![template.to_vec(); MAX_BATCH],
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
    fn send(&mut self, count: usize) -> io::Result<()> {
        for frame in &self.slots[..count] {
            writeln!(self.out, "{}", trace::Frame(frame))?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
