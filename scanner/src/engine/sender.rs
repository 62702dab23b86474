//! The probe path in one loop per thread: walk plan -> pacer -> template patch -> send ring.
//! One thread per sender, each walking its own part of the plan; a pass ends when every
//! thread has walked its part, then the replies get `wait` to arrive before the next pass.

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

use super::{
    answered::Answered,
    retry::{Retries, RetryPolicy},
    stop::Stop,
};
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
}

impl SendReport {
    pub fn total(&self) -> u64 {
        self.per_pass.iter().sum()
    }
}

/// What one thread's pass did.
struct PartSent {
    /// Probes handed to the sender.
    walked: u64,
    /// Of those, dropped by the driver.
    dropped: u64,
}

impl<P: Probe> SendJob<P> {
    /// Sends the first pass and the retry passes the policy allows, waiting for replies after
    /// each; returns early when every probe is answered, `stop` is raised or time is up.
    pub fn run<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
        let threads = senders.len();
        assert_eq!(
            threads,
            self.plan.threads() as usize,
            "one sender per thread"
        );
        let mut report = SendReport {
            walked_per_thread: vec![0; threads],
            ..SendReport::default()
        };
        let mut policy = RetryPolicy::new(match self.retries {
            0 => Retries::AtMost(0),
            _ if P::RATE_LIMITED_REPLIES => Retries::WhileRecovering,
            max => Retries::AtMost(max),
        });
        while !self.stopped()
            && !self.out_of_time()
            && policy.next_pass(
                self.answered.count(),
                self.all_answered(&report),
                report.dropped_in_last_pass,
            )
        {
            let retry = !report.per_pass.is_empty();
            self.progress.pass.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let sent = std::thread::scope(|scope| {
                let workers: Vec<_> = senders
                    .iter_mut()
                    .enumerate()
                    .map(|(thread, sender)| {
                        // A retry resends what this thread walked the first time.
                        let limit = retry.then(|| report.walked_per_thread[thread]);
                        let job = &self;
                        scope.spawn(move || job.send_part(sender, thread, limit))
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|worker| {
                        worker
                            .join()
                            .unwrap_or_else(|_| Err(io::Error::other("a sender thread panicked")))
                    })
                    .collect::<io::Result<Vec<PartSent>>>()
            })?;
            report.sending += started.elapsed();
            if !retry {
                report.walked_per_thread = sent.iter().map(|part| part.walked).collect();
            }
            let dropped: u64 = sent.iter().map(|part| part.dropped).sum();
            report.dropped += dropped;
            report.dropped_in_last_pass = dropped;
            report
                .per_pass
                .push(sent.iter().map(|part| part.walked).sum::<u64>() - dropped);
            self.wait_for_replies(&report);
        }
        report.out_of_time = self.out_of_time();
        Ok(report)
    }

    fn stopped(&self) -> bool {
        self.stop.requested()
    }

    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Sends thread `thread`'s part: the whole part in the first pass (`limit` None), its first
    /// `limit` probes minus the answered ones in a retry.
    fn send_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        limit: Option<u64>,
    ) -> io::Result<PartSent> {
        let dropped_before = sender.dropped();
        let walked = self.walk_part(sender, thread, limit)?;
        sender.flush()?;
        Ok(PartSent {
            walked,
            dropped: sender.dropped() - dropped_before,
        })
    }

    /// The loop of [`Self::send_part`]; returns how many probes were handed to the sender.
    fn walk_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        limit: Option<u64>,
    ) -> io::Result<u64> {
        let threads = self.plan.threads() as u64;
        let mut pacer = Pacer::new(self.rate.map(|rate| rate.div_ceil(threads)));
        let batch = pacer.batch_size(sender.max_batch());
        let first_pass = limit.is_none();
        let walk = self
            .plan
            .thread_walk(thread as u32)
            .take(limit.map_or(usize::MAX, |l| l as usize));
        let mut filled = 0;
        let mut sent = 0u64;
        for index in walk {
            if !first_pass && self.answered.contains(index) {
                continue;
            }
            let Some((target, port)) = self.space.probe(index) else {
                break;
            };
            let cookie = Cookie::of(&self.key, &self.probe.id(self.source_ip, target, port));
            let len = self.probe.patch(sender.slot(filled), target, port, cookie);
            sender.set_len(filled, len);
            filled += 1;
            if filled == batch {
                sent += self.flush_batch(sender, &mut pacer, filled, first_pass)?;
                filled = 0;
                if self.stopped() || self.out_of_time() {
                    return Ok(sent);
                }
            }
        }
        if filled > 0 {
            sent += self.flush_batch(sender, &mut pacer, filled, first_pass)?;
        }
        Ok(sent)
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
}
