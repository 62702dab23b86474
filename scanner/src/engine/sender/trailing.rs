//! A scan too large for an exact answered set: one walk per thread, with `retries` trailing
//! cursors resending what is not answered `wait`, `2 * wait`, ... after it was sent (see
//! `engine::trail`); then one wait for the last replies.

use std::{
    io,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use super::{SendFault, SendJob, SendReport};
use crate::{
    engine::{
        answered::MAX_WINDOW_RETRIES,
        place::{CursorPlace, PUBLISH_EVERY, SendPlace, TrailingPlace},
        trail::{Marks, Trailing},
    },
    order::ThreadWalk,
    probe::Probe,
    rate::Pacer,
    send::FrameSender,
};

/// What one thread's trailing walk did.
struct TrailingSent {
    /// How far the lead walked the part (this run and any before it).
    walked: u64,
    /// Probes sent by the lead, then by each trailing cursor.
    per_cursor: Vec<u64>,
    dropped: u64,
    fault: Option<io::Error>,
}

impl<P: Probe> SendJob<P> {
    pub(super) fn run_trailing<S: FrameSender>(self, senders: &mut [S]) -> io::Result<SendReport> {
        let threads = senders.len();
        let retries = self.retries.min(MAX_WINDOW_RETRIES) as usize;
        // Each thread's place to start from: a resumed scan's, or its part's beginning.
        let places: Vec<TrailingPlace> = match self.board.read() {
            Some(SendPlace::Trailing { threads: places })
                if places.len() == threads
                    && places.iter().all(|place| place.cursors.len() == retries) =>
            {
                places
            }
            _ => (0..threads as u32)
                .map(|thread| {
                    let start = self.plan.thread_walk(thread).state();
                    TrailingPlace {
                        lead: start,
                        cursors: vec![
                            CursorPlace {
                                walk: start,
                                resent: 0,
                                recovered: 0,
                                resends: true,
                            };
                            retries
                        ],
                    }
                })
                .collect(),
        };
        self.board.update(|place| {
            *place = Some(SendPlace::Trailing {
                threads: places.clone(),
            })
        });
        self.progress.pass.store(1, Ordering::Relaxed);
        let faulted = AtomicBool::new(false);
        let started = Instant::now();
        let mut parts = Self::on_every_sender(senders, |thread, sender| {
            self.send_trailing_part(sender, thread, &places[thread], &faulted)
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
        place: &TrailingPlace,
        faulted: &AtomicBool,
    ) -> io::Result<TrailingSent> {
        let dropped_before = sender.dropped();
        let mut sent = TrailingSent {
            walked: place.lead.yielded,
            per_cursor: vec![0; place.cursors.len() + 1],
            dropped: 0,
            fault: None,
        };
        let fault = self
            .walk_trailing(sender, thread, place, faulted, &mut sent)
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
        place: &TrailingPlace,
        faulted: &AtomicBool,
        sent: &mut TrailingSent,
    ) -> io::Result<()> {
        let threads = self.plan.threads() as u64;
        let mut pacer = Pacer::new(self.rate.map(|rate| rate.div_ceil(threads)));
        let batch = pacer.batch_size(sender.max_batch());
        let walk_at = |state| {
            self.plan
                .thread_walk_at(thread as u32, state)
                .ok_or_else(|| io::Error::other("the checkpoint's place is not in this walk"))
        };
        let mut lead = walk_at(place.lead)?;
        let mut lead_done = false;
        // Cursor k (from 1) is k waits behind the lead; the oldest sends first.
        let mut trailing: Vec<Trailing<ThreadWalk>> = Vec::new();
        for (k, cursor) in place.cursors.iter().enumerate() {
            let mut trail = Trailing::new(self.wait * (k as u32 + 1), walk_at(cursor.walk)?);
            trail.walked = cursor.walk.yielded;
            trail.resent = cursor.resent;
            trail.recovered = cursor.recovered;
            trail.resends = cursor.resends;
            trailing.push(trail);
        }
        let longest = self.wait * trailing.len() as u32;
        let mut marks = Marks::default();
        // What the lead walked before this run was sent long enough ago for the first retry;
        // the later ones come a wait apart, as always.
        if lead.walked() > 0 {
            let now = Instant::now();
            marks.push(lead.walked(), now.checked_sub(self.wait).unwrap_or(now));
        }
        let mut unpublished = 0;
        loop {
            if self.stopped() || self.out_of_time() || faulted.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            let mut filled = 0;
            for k in (0..trailing.len()).rev() {
                let (before, this_and_after) = trailing.split_at_mut(k);
                let (cursor, after) = this_and_after.split_first_mut().expect("k < len");
                let mut previous = before.last_mut();
                cursor.resends = previous.as_ref().is_none_or(|p| p.worth_following());
                let last = after.is_empty();
                let allowed = marks.walked_before(now, cursor.delay);
                while filled < batch && cursor.walked < allowed {
                    let Some(index) = cursor.walk.next() else {
                        break;
                    };
                    cursor.walked += 1;
                    let answered = self.answered.contains(index);
                    if let Some(previous) = previous.as_deref_mut() {
                        previous.followed(answered);
                    }
                    let resend = cursor.resends && !answered;
                    if !last {
                        cursor.decided(resend);
                    }
                    if resend {
                        filled += self.fill(sender, filled, index, k as u32 + 1);
                        sent.per_cursor[k + 1] += 1;
                    }
                }
            }
            let from_trailing = filled;
            while filled < batch && !lead_done {
                match lead.next() {
                    Some(index) => filled += self.fill(sender, filled, index, 0),
                    None => lead_done = true,
                }
            }
            if filled > 0 {
                self.flush_batch(sender, &mut pacer, filled, false)?;
                let led = (filled - from_trailing) as u64;
                sent.per_cursor[0] += led;
                sent.walked = lead.walked();
                self.progress.walked.fetch_add(led, Ordering::Relaxed);
                let now = Instant::now();
                if !trailing.is_empty() {
                    marks.push(lead.walked(), now);
                    marks.forget_older(now, longest);
                }
                unpublished += filled as u64;
                if unpublished >= PUBLISH_EVERY {
                    self.publish_trailing(thread, &lead, &trailing);
                    unpublished = 0;
                }
                continue;
            }
            // Nothing to send now: done, or wait for the next cursor to be due.
            let next_due = trailing
                .iter()
                .filter(|cursor| cursor.walked < lead.walked())
                .filter_map(|cursor| Some(marks.walked_at(cursor.walked)? + cursor.delay))
                .min();
            match next_due {
                None if lead_done => break,
                None => {}
                Some(due) => {
                    let pause = due.saturating_duration_since(Instant::now());
                    std::thread::sleep(pause.min(Duration::from_millis(10)));
                }
            }
        }
        sent.walked = lead.walked();
        self.publish_trailing(thread, &lead, &trailing);
        Ok(())
    }

    /// Publishes thread `thread`'s place: after a batch that left, all walked was sent.
    fn publish_trailing(
        &self,
        thread: usize,
        lead: &ThreadWalk,
        trailing: &[Trailing<ThreadWalk>],
    ) {
        let place = TrailingPlace {
            lead: lead.state(),
            cursors: trailing
                .iter()
                .map(|cursor| CursorPlace {
                    walk: cursor.walk.state(),
                    resent: cursor.resent,
                    recovered: cursor.recovered,
                    resends: cursor.resends,
                })
                .collect(),
        };
        self.board.update(|published| {
            if let Some(SendPlace::Trailing { threads }) = published {
                threads[thread] = place;
            }
        });
    }
}
