//! The probe path in one loop per thread: walk plan -> pacer -> template patch -> send ring.
//! One thread per sender, each walking its own part of the plan: in passes, each followed by
//! `wait` for the replies ([`passes`], a scan with an exact answered set), or once with
//! trailing retry cursors ([`trailing`], a scan too large for one).

mod passes;
mod trailing;

use std::{
    io,
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use scanner_common::cookie::{Cookie, Key};

use super::{answered::Answered, place::Board, stop::Stop};
use crate::{
    capture::{Batch, Capture, Direction, clock::monotonic_ns},
    order::{ScanSpace, WalkPlan},
    probe::Probe,
    rate::Pacer,
    send::FrameSender,
};

/// What the sender threads need; everything shared is read-only or atomic.
pub struct SendJob<P> {
    pub probe: Arc<P>,
    pub space: Arc<ScanSpace>,
    pub plan: Arc<WalkPlan>,
    pub answered: Arc<Answered>,
    pub key: Key,
    pub source_ip: Ipv4Addr,
    /// Packets per second for all threads together; `None` for as fast as the link goes.
    pub rate: Option<u64>,
    /// At most this many retry passes (see [`RetryPolicy`]); for probes whose answers are
    /// rate-limited, any number while they recover answers, and none if this is 0.
    pub retries: u32,
    /// How long to wait for replies after each pass.
    pub wait: Duration,
    /// No probe leaves after this instant (--max-runtime).
    pub deadline: Option<Instant>,
    pub stop: Arc<Stop>,
    pub progress: Arc<SendProgress>,
    /// Where the threads are, for the checkpoint; what it holds at the start is where a
    /// resumed scan goes on from.
    pub board: Arc<Board>,
    /// Copies of every frame sent, for --pcap and --packet-trace.
    pub capture: Option<Capture>,
}

/// Live counters for the status line.
#[derive(Debug, Default)]
pub struct SendProgress {
    /// Packets sent, retries included.
    pub sent: AtomicU64,
    /// Probes of the first pass sent.
    pub walked: AtomicU64,
    /// Passes started (1 is the first pass).
    pub pass: AtomicU64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Probes sent in each pass (the first, then the retries).
    pub per_pass: Vec<u64>,
    /// Probes each thread sent in the first pass.
    pub walked_per_thread: Vec<u64>,
    /// Time spent sending, waits excluded.
    pub sending: Duration,
    /// Probes the driver dropped instead of sending (not in `per_pass`; a retry resends them).
    pub dropped: u64,
    /// Of those, in the last pass: lost for good unless they were also sent in another.
    pub dropped_in_last_pass: u64,
    /// Sending stopped at --max-runtime.
    pub out_of_time: bool,
    /// Sending stopped because the interface refused a batch (down, or gone with its
    /// namespace): what it said. The probes handed over before it count as sent.
    pub fault: Option<SendFault>,
}

/// The error that ended sending, kept as text: the report outlives the sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFault(pub String);

impl std::fmt::Display for SendFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SendReport {
    pub fn total(&self) -> u64 {
        self.per_pass.iter().sum()
    }
}

impl<P: Probe> SendJob<P> {
    /// Sends the first pass and the retry passes the policy allows, waiting for replies after
    /// each; returns early when every probe is answered, `stop` is raised or time is up, and
    /// at once when the interface refuses to send (the report says why, in `fault`).
    pub fn run<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
        match self.answered.is_exact() {
            true => self.run_passes(senders),
            false => self.run_trailing(senders),
        }
    }

    /// Runs `work` on every sender, each in a thread of its own, and returns what each did
    /// (a thread that panicked is an error).
    fn on_every_sender<S: FrameSender, R: Send>(
        senders: &mut [S],
        work: impl Fn(usize, &mut S) -> io::Result<R> + Sync,
    ) -> io::Result<Vec<R>> {
        std::thread::scope(|scope| {
            let work = &work;
            let workers: Vec<_> = senders
                .iter_mut()
                .enumerate()
                .map(|(thread, sender)| scope.spawn(move || work(thread, sender)))
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|_| Err(io::Error::other("a sender thread panicked")))
                })
                .collect()
        })
    }

    fn stopped(&self) -> bool {
        self.stop.requested()
    }

    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    #[inline]
    fn flush_batch<S: FrameSender>(
        &self,
        sender: &mut S,
        pacer: &mut Pacer,
        count: usize,
        first_pass: bool,
    ) -> io::Result<u64> {
        pacer.wait_for(count);
        if let Some(capture) = &self.capture {
            let now = monotonic_ns();
            let mut batch = Batch::new(Direction::Sent);
            for slot in 0..count {
                let frame = sender.frame(slot);
                batch.push(now, frame.len() as u32, frame);
            }
            capture.submit(batch);
        }
        sender.send(count)?;
        let count = count as u64;
        self.progress.sent.fetch_add(count, Ordering::Relaxed);
        if first_pass {
            self.progress.walked.fetch_add(count, Ordering::Relaxed);
        }
        Ok(count)
    }

    /// Whether every probe of the first pass has its answer (a shard's or a capped scan's
    /// probes are a part of the space).
    fn all_answered(&self, report: &SendReport) -> bool {
        !report.per_pass.is_empty()
            && self.answered.count() >= report.walked_per_thread.iter().sum::<u64>()
    }

    fn wait_for_replies(&self, report: &SendReport) {
        let deadline = Instant::now() + self.wait;
        // A first stop request still gives the probes sent their wait; a second ends it.
        while Instant::now() < deadline && !self.stop.immediate() && !self.all_answered(report) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Writes the probe `index`, sent for the `attempt`th time, into slot `slot`; returns 1
    /// (the slot is used) or 0 (the index is outside the space).
    #[inline]
    fn fill<S: FrameSender>(&self, sender: &mut S, slot: usize, index: u64, attempt: u32) -> usize {
        let Some((target, port)) = self.space.probe(index) else {
            return 0;
        };
        let cookie = Cookie::of(&self.key, &self.probe.id(self.source_ip, target, port));
        let len = self
            .probe
            .patch(sender.slot(slot), target, port, cookie, attempt);
        sender.set_len(slot, len);
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        order::ScanSpace,
        probe::{FrameAddrs, tcp_syn::TcpSyn},
        targets::{PortList, TargetSet},
    };

    /// Takes `batches` batches, then fails as a downed interface does.
    struct FailingAfter {
        slots: Vec<Vec<u8>>,
        batches: usize,
        sent: u64,
    }

    impl FrameSender for FailingAfter {
        fn slot(&mut self, index: usize) -> &mut [u8] {
            &mut self.slots[index]
        }
        fn set_len(&mut self, _: usize, _: usize) {}
        fn frame(&self, index: usize) -> &[u8] {
            &self.slots[index]
        }
        fn send(&mut self, count: usize) -> io::Result<()> {
            if self.batches == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENETDOWN));
            }
            self.batches -= 1;
            self.sent += count as u64;
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn max_batch(&self) -> usize {
            4
        }
    }

    #[test]
    fn a_failed_send_ends_the_scan_with_what_was_handed_over_and_why() {
        let probe = TcpSyn::new(
            FrameAddrs {
                source_mac: [2, 0, 0, 0, 0, 1],
                next_hop_mac: [2, 0, 0, 0, 0, 2],
                source_ip: Ipv4Addr::new(198, 18, 0, 1),
            },
            32768,
            0x7fff,
        );
        let space = Arc::new(ScanSpace::new(
            TargetSet::from_specs(["198.18.128.0/28"]).unwrap(),
            PortList::parse("22,23").unwrap(),
        ));
        let plan = Arc::new(WalkPlan::new(space.len(), 7, 0, 1, 1, None).unwrap());
        let mut senders = [FailingAfter {
            slots: vec![probe.template().to_vec(); 4],
            batches: 3,
            sent: 0,
        }];
        let job = SendJob {
            probe: Arc::new(probe),
            space: Arc::clone(&space),
            plan,
            answered: Arc::new(Answered::exact(space.len())),
            key: Key { k0: 1, k1: 2 },
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
            rate: None,
            retries: 3,
            // Were the wait kept after the fault, the test would take a minute.
            wait: Duration::from_secs(60),
            deadline: None,
            stop: Arc::new(Stop::new()),
            progress: Arc::default(),
            board: Arc::new(Board::new(None)),
            capture: None,
        };
        let started = Instant::now();
        let report = job
            .run(&mut senders)
            .expect("a fault is reported, not an error");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no wait after a fault"
        );
        assert_eq!(senders[0].sent, 12);
        // Three batches of four left; the failed fourth is not counted, and no retry followed.
        assert_eq!(report.per_pass, [12]);
        assert_eq!(report.walked_per_thread, [12]);
        let fault = report.fault.expect("the fault");
        assert_eq!(
            fault.0,
            io::Error::from_raw_os_error(libc::ENETDOWN).to_string()
        );
    }
}
