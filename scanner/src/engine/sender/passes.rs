//! A scan small enough for an exact answered set: passes over the whole plan, each followed by
//! its wait, while the [`RetryPolicy`] allows; a retry pass resends what is still unanswered
//! of what each thread walked in the first pass.

use std::{
    io,
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use super::{SendFault, SendJob, SendReport};
use crate::{
    engine::{
        place::{PUBLISH_EVERY, PassesPlace, SendPlace},
        retry::{Retries, RetryPolicy},
    },
    order::WalkState,
    probe::Probe,
    rate::Pacer,
    send::FrameSender,
};

/// What one thread's pass did.
struct PartSent {
    /// Probes handed to the sender.
    sent: u64,
    /// The thread's place in its part at the end: how many probes of the part it walked.
    walked: u64,
    /// Of those sent, dropped by the driver.
    dropped: u64,
    /// Why the thread stopped before the end of its part, if it did.
    fault: Option<io::Error>,
}

/// One pass of one thread.
#[derive(Clone, Copy)]
struct Pass {
    /// Retries resend the first `limit` probes of the part; the first pass has none.
    limit: Option<u64>,
    /// Where in the part to start (a resumed pass), else at its beginning.
    from: Option<WalkState>,
    /// Skip answered probes: in retries, and in a resumed first pass (the replies to what
    /// was sent before are known).
    skip_answered: bool,
    /// How many times the pass's probes were sent before (0 in the first pass).
    attempt: u32,
}

impl<P: Probe> SendJob<P> {
    pub(super) fn run_passes<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
        let threads = senders.len();
        let retries = match self.retries {
            0 => Retries::AtMost(0),
            _ if P::RATE_LIMITED_REPLIES => Retries::WhileRecovering,
            max => Retries::AtMost(max),
        };
        let mut report = SendReport {
            walked_per_thread: vec![0; threads],
            ..SendReport::default()
        };
        let mut policy = RetryPolicy::new(retries);
        // A resumed scan goes on with the pass it was in, from each thread's place.
        let mut resumed = match self.board.read() {
            Some(SendPlace::Passes(place)) if place.threads.len() == threads => {
                report.per_pass = place.per_pass;
                if !place.walked_per_thread.is_empty() {
                    report.walked_per_thread = place.walked_per_thread;
                }
                policy = RetryPolicy::resumed(retries, place.policy);
                (!place.between).then_some(place.threads)
            }
            _ => None,
        };
        // Raised by the first thread whose send fails: the others stop at their next batch.
        let faulted = AtomicBool::new(false);
        loop {
            if self.stopped() || self.out_of_time() || report.fault.is_some() {
                break;
            }
            let from = match resumed.take() {
                Some(places) => places,
                None if policy.next_pass(
                    self.answered.count(),
                    self.all_answered(&report),
                    report.dropped_in_last_pass,
                ) =>
                {
                    vec![None; threads]
                }
                None => break,
            };
            let retry = !report.per_pass.is_empty();
            let resuming = from.iter().any(Option::is_some);
            self.progress
                .pass
                .store(report.per_pass.len() as u64 + 1, Ordering::Relaxed);
            self.board.update(|place| {
                *place = Some(SendPlace::Passes(PassesPlace {
                    per_pass: report.per_pass.clone(),
                    walked_per_thread: match retry {
                        true => report.walked_per_thread.clone(),
                        false => Vec::new(),
                    },
                    threads: from.clone(),
                    policy: policy.place(),
                    between: false,
                }))
            });
            let started = Instant::now();
            let mut sent = Self::on_every_sender(senders, |thread, sender| {
                let pass = Pass {
                    // A retry resends what this thread walked the first time.
                    limit: retry.then(|| report.walked_per_thread[thread]),
                    from: from[thread],
                    skip_answered: retry || resuming,
                    attempt: report.per_pass.len() as u32,
                };
                self.send_part(sender, thread, pass, &faulted)
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
                .push(sent.iter().map(|part| part.sent).sum::<u64>() - dropped);
            // Nothing comes back through an interface that cannot send.
            if report.fault.is_none() {
                self.wait_for_replies(&report);
            }
            // Between passes: a resumed scan decides about the next one itself.
            if !self.stopped() && !self.out_of_time() && report.fault.is_none() {
                self.board.update(|place| {
                    if let Some(SendPlace::Passes(place)) = place {
                        place.per_pass = report.per_pass.clone();
                        place.walked_per_thread = report.walked_per_thread.clone();
                        place.threads = vec![None; threads];
                        place.policy = policy.place();
                        place.between = true;
                    }
                });
            }
        }
        report.out_of_time = self.out_of_time();
        Ok(report)
    }

    /// Sends thread `thread`'s part of `pass`. A failed send ends the part (and, through
    /// `faulted`, the other threads' parts) with the probes handed over until then.
    fn send_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        pass: Pass,
        faulted: &AtomicBool,
    ) -> io::Result<PartSent> {
        let dropped_before = sender.dropped();
        let mut part = PartSent {
            sent: 0,
            walked: 0,
            dropped: 0,
            fault: None,
        };
        part.fault = self
            .walk_part(sender, thread, pass, faulted, &mut part)
            .and_then(|()| sender.flush())
            .err();
        if part.fault.is_some() {
            faulted.store(true, Ordering::Relaxed);
        }
        part.dropped = sender.dropped() - dropped_before;
        Ok(part)
    }

    /// The loop of [`Self::send_part`]; publishes the thread's place now and then, and where
    /// it stopped.
    fn walk_part<S: FrameSender>(
        &self,
        sender: &mut S,
        thread: usize,
        pass: Pass,
        faulted: &AtomicBool,
        part: &mut PartSent,
    ) -> io::Result<()> {
        let threads = self.plan.threads() as u64;
        let mut pacer = Pacer::new(self.rate.map(|rate| rate.div_ceil(threads)));
        let batch = pacer.batch_size(sender.max_batch());
        let first_pass = pass.limit.is_none();
        let mut walk = match pass.from {
            Some(state) => self
                .plan
                .thread_walk_at(thread as u32, state)
                .ok_or_else(|| io::Error::other("the checkpoint's place is not in this walk"))?,
            None => self.plan.thread_walk(thread as u32),
        };
        let limit = pass.limit.unwrap_or(u64::MAX);
        let publish = |state: WalkState| {
            self.board.update(|place| {
                if let Some(SendPlace::Passes(place)) = place {
                    place.threads[thread] = Some(state);
                }
            });
        };
        let mut filled = 0;
        let mut unpublished = 0;
        // Where the walk was after the last batch that left: what was sent for sure.
        let mut flushed = (walk.walked(), walk.state());
        let mut result: io::Result<u64> = Ok(0);
        while walk.walked() < limit {
            let Some(index) = walk.next() else { break };
            if pass.skip_answered && self.answered.contains(index) {
                continue;
            }
            filled += self.fill(sender, filled, index, pass.attempt);
            if filled == batch {
                result = self.flush_batch(sender, &mut pacer, filled, first_pass);
                filled = 0;
                match &result {
                    Ok(sent) => part.sent += sent,
                    Err(_) => break,
                }
                flushed = (walk.walked(), walk.state());
                unpublished += batch as u64;
                if unpublished >= PUBLISH_EVERY {
                    publish(flushed.1);
                    unpublished = 0;
                }
                if self.stopped() || self.out_of_time() || faulted.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
        if filled > 0 && result.is_ok() {
            result = self.flush_batch(sender, &mut pacer, filled, first_pass);
            if let Ok(sent) = &result {
                part.sent += sent;
                flushed = (walk.walked(), walk.state());
            }
        }
        if result.is_ok() && filled == 0 {
            // Nothing left unsent: probes skipped as answered after the last batch count too.
            flushed = (walk.walked(), walk.state());
        }
        part.walked = flushed.0;
        publish(flushed.1);
        result.map(|_| ())
    }
}
