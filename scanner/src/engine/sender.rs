//! The probe path in one loop per thread: walk plan -> pacer -> template patch -> send ring.
//! One thread per sender, each walking its own part of the plan; a pass ends when every
//! thread has walked its part, then the replies get `wait` to arrive before the next pass.

use std::{
    io,
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use scanner_common::cookie::{Cookie, Key};

use super::{
    answered::{Answered, MAX_WINDOW_RETRIES},
    retry::{Retries, RetryPolicy},
    stop::Stop,
    trail::{Marks, Trailing},
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

/// What one thread's pass did.
struct PartSent {
    /// Probes handed to the sender.
    walked: u64,
    /// Of those, dropped by the driver.
    dropped: u64,
    /// Why the thread stopped before the end of its part, if it did.
    fault: Option<io::Error>,
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

    /// A scan small enough for an exact answered set: passes over the whole plan, each
    /// followed by its wait, while the [`RetryPolicy`] allows.
    fn run_passes<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
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
        // Raised by the first thread whose send fails: the others stop at their next batch.
        let faulted = AtomicBool::new(false);
        while !self.stopped()
            && !self.out_of_time()
            && report.fault.is_none()
            && policy.next_pass(
                self.answered.count(),
                self.all_answered(&report),
                report.dropped_in_last_pass,
            )
        {
            let retry = !report.per_pass.is_empty();
            self.progress.pass.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let mut sent = std::thread::scope(|scope| {
                let workers: Vec<_> = senders
                    .iter_mut()
                    .enumerate()
                    .map(|(thread, sender)| {
                        // A retry resends what this thread walked the first time.
                        let limit = retry.then(|| report.walked_per_thread[thread]);
                        let (job, faulted) = (&self, &faulted);
                        scope.spawn(move || job.send_part(sender, thread, limit, faulted))
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
            let fault = sent.iter_mut().find_map(|part| part.fault.take());
            report.fault = fault.map(|err| SendFault(err.to_string()));
            let dropped: u64 = sent.iter().map(|part| part.dropped).sum();
            report.dropped += dropped;
            report.dropped_in_last_pass = dropped;
            report
                .per_pass
                .push(sent.iter().map(|part| part.walked).sum::<u64>() - dropped);
            // Nothing comes back through an interface that cannot send.
            if report.fault.is_none() {
                self.wait_for_replies(&report);
            }
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
    /// `limit` probes minus the answered ones in a retry. A failed send ends the part (and,
    /// through `faulted`, the other threads' parts) with the probes handed over until then.
    fn send_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        limit: Option<u64>,
        faulted: &AtomicBool,
    ) -> io::Result<PartSent> {
        let dropped_before = sender.dropped();
        let mut walked = 0;
        let fault = self
            .walk_part(sender, thread, limit, faulted, &mut walked)
            .and_then(|()| sender.flush())
            .err();
        if fault.is_some() {
            faulted.store(true, Ordering::Relaxed);
        }
        Ok(PartSent {
            walked,
            dropped: sender.dropped() - dropped_before,
            fault,
        })
    }

    /// The loop of [`Self::send_part`]; counts in `sent` the probes handed to the sender.
    fn walk_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        limit: Option<u64>,
        faulted: &AtomicBool,
        sent: &mut u64,
    ) -> io::Result<()> {
        let threads = self.plan.threads() as u64;
        let mut pacer = Pacer::new(self.rate.map(|rate| rate.div_ceil(threads)));
        let batch = pacer.batch_size(sender.max_batch());
        let first_pass = limit.is_none();
        let walk = self
            .plan
            .thread_walk(thread as u32)
            .take(limit.map_or(usize::MAX, |l| l as usize));
        let mut filled = 0;
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
                *sent += self.flush_batch(sender, &mut pacer, filled, first_pass)?;
                filled = 0;
                if self.stopped() || self.out_of_time() || faulted.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
        if filled > 0 {
            *sent += self.flush_batch(sender, &mut pacer, filled, first_pass)?;
        }
        Ok(())
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

impl<P: Probe> SendJob<P> {
    /// A scan too large for an exact answered set: one walk per thread, with `retries`
    /// trailing cursors resending what is not answered `wait`, `2 * wait`, ... after it was
    /// sent (see `engine::trail`); then one wait for the last replies.
    fn run_trailing<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
        let threads = senders.len();
        assert_eq!(
            threads,
            self.plan.threads() as usize,
            "one sender per thread"
        );
        let retries = self.retries.min(MAX_WINDOW_RETRIES) as usize;
        self.progress.pass.store(1, Ordering::Relaxed);
        let faulted = AtomicBool::new(false);
        let started = Instant::now();
        let mut parts = std::thread::scope(|scope| {
            let workers: Vec<_> = senders
                .iter_mut()
                .enumerate()
                .map(|(thread, sender)| {
                    let (job, faulted) = (&self, &faulted);
                    scope.spawn(move || job.send_trailing_part(sender, thread, retries, faulted))
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|_| Err(io::Error::other("a sender thread panicked")))
                })
                .collect::<io::Result<Vec<TrailingSent>>>()
        })?;
        let mut report = SendReport {
            sending: started.elapsed(),
            walked_per_thread: parts.iter().map(|part| part.walked).collect(),
            per_pass: vec![0; retries + 1],
            ..SendReport::default()
        };
        for part in &parts {
            for (total, sent) in report.per_pass.iter_mut().zip(&part.per_cursor) {
                *total += sent;
            }
            report.dropped += part.dropped;
        }
        report.per_pass[0] -= report.dropped.min(report.per_pass[0]);
        while report.per_pass.len() > 1 && report.per_pass.last() == Some(&0) {
            report.per_pass.pop();
        }
        report.fault = parts
            .iter_mut()
            .find_map(|part| part.fault.take())
            .map(|err| SendFault(err.to_string()));
        if report.fault.is_none() {
            self.wait_for_replies(&report);
        }
        report.out_of_time = self.out_of_time();
        Ok(report)
    }

    /// One thread's walk with its trailing cursors; stops when they have all walked the part,
    /// or at a stop, the deadline or a fault.
    fn send_trailing_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        retries: usize,
        faulted: &AtomicBool,
    ) -> io::Result<TrailingSent> {
        let dropped_before = sender.dropped();
        let mut sent = TrailingSent {
            walked: 0,
            per_cursor: vec![0; retries + 1],
            dropped: 0,
            fault: None,
        };
        let fault = self
            .walk_trailing(sender, thread, retries, faulted, &mut sent)
            .and_then(|()| sender.flush())
            .err();
        if fault.is_some() {
            faulted.store(true, Ordering::Relaxed);
        }
        sent.fault = fault;
        sent.dropped = sender.dropped() - dropped_before;
        Ok(sent)
    }

    fn walk_trailing<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        retries: usize,
        faulted: &AtomicBool,
        sent: &mut TrailingSent,
    ) -> io::Result<()> {
        let threads = self.plan.threads() as u64;
        let mut pacer = Pacer::new(self.rate.map(|rate| rate.div_ceil(threads)));
        let batch = pacer.batch_size(sender.max_batch());
        let mut lead = self.plan.thread_walk(thread as u32);
        let mut lead_done = false;
        // Cursor k (from 1) is k waits behind the lead; the oldest sends first.
        let mut trailing: Vec<Trailing<_>> = (1..=retries)
            .map(|k| Trailing::new(self.wait * k as u32, self.plan.thread_walk(thread as u32)))
            .collect();
        let longest = self.wait * retries as u32;
        let mut marks = Marks::default();
        loop {
            if self.stopped() || self.out_of_time() || faulted.load(Ordering::Relaxed) {
                return Ok(());
            }
            let now = Instant::now();
            let mut filled = 0;
            for k in (0..trailing.len()).rev() {
                let (before, this_and_after) = trailing.split_at_mut(k);
                let (cursor, after) = this_and_after.split_first_mut().expect("k < len");
                let previous = before.last_mut();
                cursor.resends = previous.as_ref().is_none_or(|p| p.worth_following());
                let resends = cursor.resends;
                let last = after.is_empty();
                let allowed = marks.walked_before(now, cursor.delay);
                let mut previous = previous;
                while filled < batch && cursor.walked < allowed {
                    let Some(index) = cursor.walk.next() else {
                        break;
                    };
                    cursor.walked += 1;
                    let answered = self.answered.contains(index);
                    if let Some(previous) = previous.as_deref_mut() {
                        previous.followed(answered);
                    }
                    let resend = resends && !answered;
                    if !last {
                        cursor.decided(resend);
                    }
                    if resend {
                        filled += self.fill(sender, filled, index);
                        sent.per_cursor[k + 1] += 1;
                    }
                }
            }
            let from_trailing = filled;
            while filled < batch && !lead_done {
                match lead.next() {
                    Some(index) => {
                        filled += self.fill(sender, filled, index);
                        sent.walked += 1;
                    }
                    None => lead_done = true,
                }
            }
            if filled > 0 {
                self.flush_batch(sender, &mut pacer, filled, false)?;
                sent.per_cursor[0] += (filled - from_trailing) as u64;
                self.progress
                    .walked
                    .fetch_add((filled - from_trailing) as u64, Ordering::Relaxed);
                if retries > 0 {
                    let now = Instant::now();
                    marks.push(sent.walked, now);
                    marks.forget_older(now, longest);
                }
                continue;
            }
            // Nothing to send now: done, or wait for the next cursor to be due.
            let next_due = trailing
                .iter()
                .filter(|cursor| cursor.walked < sent.walked)
                .filter_map(|cursor| Some(marks.walked_at(cursor.walked)? + cursor.delay))
                .min();
            match next_due {
                None if lead_done => return Ok(()),
                None => {}
                Some(due) => {
                    let pause = due.saturating_duration_since(Instant::now());
                    std::thread::sleep(pause.min(Duration::from_millis(10)));
                }
            }
        }
    }

    /// Writes the probe `index` into slot `slot`; returns 1 (the slot is used) or 0 (the index
    /// is outside the space).
    #[inline]
    fn fill<S: FrameSender>(&self, sender: &mut S, slot: usize, index: u64) -> usize {
        let Some((target, port)) = self.space.probe(index) else {
            return 0;
        };
        let cookie = Cookie::of(&self.key, &self.probe.id(self.source_ip, target, port));
        let len = self.probe.patch(sender.slot(slot), target, port, cookie);
        sender.set_len(slot, len);
        1
    }
}

/// What one thread's trailing walk did.
struct TrailingSent {
    /// Probes the lead walked.
    walked: u64,
    /// Probes sent by the lead, then by each trailing cursor.
    per_cursor: Vec<u64>,
    dropped: u64,
    fault: Option<io::Error>,
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
