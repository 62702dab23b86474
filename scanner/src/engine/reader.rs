//! The user-space end of the reply path: records from the ring become results (once per
//! probe, through the classifier) and are streamed to the output as they are decided, none
//! kept; frame copies go to the capture.

use anyhow::Result;
use scanner_common::{FrameCopy, ReplyRecord};

use super::stop::Stop;
use crate::{
    capture::{Batch, Capture, Direction},
    probe::Probe,
    reply::{
        classify::{Classifier, Discarded},
        ring::ReplySink,
    },
    results::ScanResult,
    verdict::PortState,
};

pub struct Reader<'a, P, F> {
    classifier: Classifier<'a, P>,
    /// Sees each result as it is decided (streaming output).
    on_result: F,
    /// Raised when a result cannot be written: the scan stops at once rather than lose results.
    stop: &'a Stop,
    /// Records read, and the probes they showed open.
    pub replies: u64,
    pub hits: u64,
    sink_error: Option<anyhow::Error>,
    /// Frame copies not yet handed to the capture writer.
    capture: Option<(&'a Capture, Batch)>,
}

impl<'a, P: Probe, F: FnMut(&ScanResult) -> Result<()>> Reader<'a, P, F> {
    pub fn new(
        classifier: Classifier<'a, P>,
        on_result: F,
        stop: &'a Stop,
        capture: Option<&'a Capture>,
    ) -> Self {
        Self {
            classifier,
            on_result,
            stop,
            replies: 0,
            hits: 0,
            sink_error: None,
            capture: capture.map(|capture| (capture, Batch::new(Direction::Received))),
        }
    }

    /// Hands the frame copies gathered so far to the capture writer.
    pub fn flush_capture(&mut self) {
        if let Some((capture, batch)) = &mut self.capture {
            capture.submit(std::mem::replace(batch, Batch::new(Direction::Received)));
        }
    }

    /// Why some records made no result; or the error that stopped the output.
    pub fn finish(mut self) -> Result<Discarded> {
        self.flush_capture();
        match self.sink_error {
            Some(err) => Err(err.context("writing results")),
            None => Ok(self.classifier.discarded),
        }
    }
}

impl<P: Probe, F: FnMut(&ScanResult) -> Result<()>> ReplySink for Reader<'_, P, F> {
    fn record(&mut self, record: ReplyRecord) {
        self.replies += 1;
        let Self {
            classifier,
            on_result,
            stop,
            hits,
            sink_error,
            ..
        } = self;
        classifier.classify(&record, |result| {
            *hits += u64::from(result.state == PortState::Open);
            if sink_error.is_none()
                && let Err(err) = on_result(&result)
            {
                *sink_error = Some(err);
                stop.now();
            }
        });
    }

    fn frame(&mut self, copy: &FrameCopy) {
        if let Some((_, batch)) = &mut self.capture {
            let kept = usize::from(copy.kept).min(copy.bytes.len());
            batch.push(copy.timestamp_ns, copy.wire_len, &copy.bytes[..kept]);
        }
    }
}
