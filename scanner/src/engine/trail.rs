//! Retries of a scan too large for a bit per probe, without a record per probe in flight:
//! each sender thread walks its part once with a lead cursor, and `retries` trailing cursors
//! walk the very same sequence again, cursor `k` a time `k * wait` behind the lead, resending
//! what is not answered yet. So a probe is retried `wait` after it was sent, and again `wait`
//! later, as nmap retries a probe that timed out; and an answer need only be remembered for
//! `retries * wait` (the answered window).
//!
//! All a thread keeps is each cursor's place in the walk and [`Marks`]: how far the lead had
//! walked at each millisecond it sent, a few thousand entries at most.
//!
//! As nmap's retries, they go on only while they find answers: the first retry always goes;
//! retry `k + 1` resends only while retry `k` recovers at least one answer in
//! [`WORTH_ONE_IN`] of its resends (each cursor leaves a bit per probe, "resent", that the next
//! one reads: a bit per probe in flight between them). On the Internet, where nearly every
//! probe is silent, silence then costs one retry, not `--retries`.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// How far the lead had walked when: (probes walked, time), both ascending.
#[derive(Debug, Default)]
pub struct Marks {
    marks: VecDeque<(u64, Instant)>,
}

/// Marks closer than this are merged: a cursor may resend up to this much early.
const RESOLUTION: Duration = Duration::from_millis(1);

impl Marks {
    /// The lead has walked `walked` probes by `at`.
    pub fn push(&mut self, walked: u64, at: Instant) {
        match self.marks.back_mut() {
            Some(last) if at.duration_since(last.1) < RESOLUTION => last.0 = walked,
            _ => self.marks.push_back((walked, at)),
        }
    }

    /// How many probes the lead had walked `delay` before `now`: what a cursor `delay` behind
    /// may walk up to.
    pub fn walked_before(&self, now: Instant, delay: Duration) -> u64 {
        let Some(then) = now.checked_sub(delay) else {
            return 0;
        };
        match self.marks.partition_point(|&(_, at)| at <= then) {
            0 => 0,
            after => self.marks[after - 1].0,
        }
    }

    /// When the lead walked its `walked + 1`-th probe, at the earliest: when a cursor at
    /// `walked` can go on (plus its delay). `None` when the lead has not walked it.
    pub fn walked_at(&self, walked: u64) -> Option<Instant> {
        let after = self.marks.partition_point(|&(count, _)| count <= walked);
        self.marks.get(after).map(|&(_, at)| at)
    }

    /// Forgets the marks that no cursor up to `longest` behind needs any more.
    pub fn forget_older(&mut self, now: Instant, longest: Duration) {
        let Some(then) = now.checked_sub(longest) else {
            return;
        };
        // The newest mark at or before `then` stays: it is what `walked_before` returns.
        while self.marks.len() >= 2 && self.marks[1].1 <= then {
            self.marks.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

/// Retry `k + 1` is worth it while retry `k` recovers one answer in this many resends.
pub const WORTH_ONE_IN: u64 = 100;
/// Resends a retry makes before its recoveries are judged.
const JUDGED_AFTER: u64 = 1000;

/// A cursor `delay` behind the lead, re-walking its part.
pub struct Trailing<W> {
    pub delay: Duration,
    pub walk: W,
    /// Probes walked.
    pub walked: u64,
    /// Probes resent.
    pub resent: u64,
    /// Probes this cursor resent that were answered by the time the next cursor came.
    pub recovered: u64,
    /// Whether it resends (it is the first, or the one before it is worth following).
    pub resends: bool,
    /// Whether each probe walked was resent, until the next cursor reads it.
    decisions: BitQueue,
}

impl<W> Trailing<W> {
    pub fn new(delay: Duration, walk: W) -> Self {
        Self {
            delay,
            walk,
            walked: 0,
            resent: 0,
            recovered: 0,
            resends: true,
            decisions: BitQueue::default(),
        }
    }

    /// Whether the cursor after this one should resend: this one is, and its resends found
    /// answers (or it has not made enough to say).
    pub fn worth_following(&self) -> bool {
        self.resends && (self.resent < JUDGED_AFTER || self.recovered * WORTH_ONE_IN >= self.resent)
    }

    /// Notes whether the probe walked was resent, for the next cursor.
    pub fn decided(&mut self, resent: bool) {
        self.decisions.push(resent);
        self.resent += u64::from(resent);
    }

    /// The next cursor walked a probe this one walked before; `answered` by now.
    pub fn followed(&mut self, answered: bool) {
        if self.decisions.pop() == Some(true) && answered {
            self.recovered += 1;
        }
    }
}

/// Bits in, bits out, in order.
#[derive(Debug, Default)]
struct BitQueue {
    words: VecDeque<u64>,
    /// Bits of `words[0]` already read, and bits written to the last word.
    read: u32,
    written: u32,
}

impl BitQueue {
    fn push(&mut self, bit: bool) {
        if self.written.is_multiple_of(64) {
            self.words.push_back(0);
            self.written = 0;
        }
        let last = self.words.back_mut().expect("pushed above");
        *last |= u64::from(bit) << self.written;
        self.written += 1;
    }

    fn pop(&mut self) -> Option<bool> {
        let first = *self.words.front()?;
        if self.words.len() == 1 && self.read >= self.written {
            return None;
        }
        let bit = first >> self.read & 1 == 1;
        self.read += 1;
        if self.read == 64 {
            self.words.pop_front();
            self.read = 0;
        }
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_come_out_in_the_order_they_went_in() {
        let mut queue = BitQueue::default();
        let bits: Vec<bool> = (0..200).map(|i| i % 3 == 0 || i % 7 == 0).collect();
        for &bit in &bits[..130] {
            queue.push(bit);
        }
        let mut out: Vec<bool> = (0..100).map_while(|_| queue.pop()).collect();
        for &bit in &bits[130..] {
            queue.push(bit);
        }
        out.extend(std::iter::from_fn(|| queue.pop()));
        assert_eq!(out, bits);
        assert_eq!(queue.pop(), None);
        assert!(queue.words.len() <= 1, "read words are freed");
    }

    #[test]
    fn a_retry_that_recovers_nothing_is_not_followed() {
        let mut first = Trailing::new(Duration::from_secs(1), ());
        for _ in 1..JUDGED_AFTER {
            first.decided(true);
        }
        assert!(first.worth_following(), "not judged yet");
        for _ in 0..=JUDGED_AFTER {
            first.decided(true);
        }
        for _ in 0..2 * JUDGED_AFTER {
            first.followed(false);
        }
        assert!(!first.worth_following(), "silence costs one retry");
        let mut lossy = Trailing::new(Duration::from_secs(1), ());
        for i in 0..2 * JUDGED_AFTER {
            lossy.decided(true);
            lossy.followed(i % 50 == 0);
        }
        assert_eq!(lossy.recovered, 40);
        assert!(lossy.worth_following(), "2% recovered: retry again");
        lossy.resends = false;
        assert!(
            !lossy.worth_following(),
            "a retry that does not resend is not followed"
        );
    }

    #[test]
    fn a_cursor_may_walk_what_the_lead_walked_its_delay_ago() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut marks = Marks::default();
        marks.push(64, start + ms(10));
        marks.push(128, start + ms(20));
        marks.push(192, start + ms(20) + Duration::from_micros(300)); // merged
        marks.push(256, start + ms(30));
        assert_eq!(marks.len(), 3);
        let delay = ms(100);
        assert_eq!(marks.walked_before(start + ms(105), delay), 0);
        assert_eq!(marks.walked_before(start + ms(110), delay), 64);
        assert_eq!(marks.walked_before(start + ms(125), delay), 192);
        assert_eq!(marks.walked_before(start + ms(500), delay), 256);
        assert_eq!(marks.walked_at(0), Some(start + ms(10)));
        assert_eq!(marks.walked_at(64), Some(start + ms(20)));
        assert_eq!(marks.walked_at(256), None);
        marks.forget_older(start + ms(125), delay);
        assert_eq!(marks.len(), 2, "the mark at 10 ms is no cursor's bound");
        assert_eq!(marks.walked_before(start + ms(125), delay), 192);
        marks.forget_older(start + ms(10_000), delay);
        assert_eq!(marks.len(), 1);
        assert_eq!(marks.walked_before(start + ms(10_000), delay), 256);
    }
}
