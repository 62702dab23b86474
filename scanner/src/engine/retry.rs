//! When to send another pass: like nmap, keep retransmitting to unanswered probes while
//! retransmission still turns up answers, up to `--retries` times.
//!
//! Replies get lost on the way (a burst overflows a receive ring, a target's backlog fills);
//! a retry pass that recovers answers says the losses were real, one that recovers none says
//! the rest are silent. So silent ports cost one retry pass, lossy links up to `max`.
//!
//! Where the answers are ICMP errors that targets rate-limit ([`Retries::WhileRecovering`]:
//! Linux sends one a second per peer after a burst of six), each pass recovers about as many
//! answers as seconds went by since the last one, and a protocol scan of one host needs
//! hundreds of passes: there, passes go on for as long as they recover answers.
//!
//! Probes the driver dropped before they left (AF_XDP copy mode on a veth whose peer's ring
//! is full, before Linux 6.16) are our loss, not the network's silence: a pass that had any
//! is followed by another, whatever `--retries` says, up to [`MAX_RECOVERY_PASSES`] more.

use super::place::PolicyPlace;

/// Passes beyond `--retries` to resend what the driver dropped.
pub const MAX_RECOVERY_PASSES: u32 = 8;

/// How many retry passes a scan may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retries {
    /// At most this many.
    AtMost(u32),
    /// As many as keep recovering answers (none when `--retries 0`).
    WhileRecovering,
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    retries: Retries,
    passes: u32,
    /// Answered probes when the last pass started.
    answered_at_last_pass: u64,
    /// Passes sent beyond the retries because the driver dropped probes.
    recovery_passes: u32,
}

impl RetryPolicy {
    pub fn new(retries: Retries) -> Self {
        Self {
            retries,
            passes: 0,
            answered_at_last_pass: 0,
            recovery_passes: 0,
        }
    }

    /// The policy as a checkpoint keeps it.
    pub fn place(&self) -> PolicyPlace {
        PolicyPlace {
            passes: self.passes,
            answered_at_last_pass: self.answered_at_last_pass,
            recovery_passes: self.recovery_passes,
        }
    }

    /// The policy of a resumed scan, as `place` left it.
    pub fn resumed(retries: Retries, place: PolicyPlace) -> Self {
        Self {
            retries,
            passes: place.passes,
            answered_at_last_pass: place.answered_at_last_pass,
            recovery_passes: place.recovery_passes,
        }
    }

    /// Whether to start another pass, given how many probes are answered by now (after the
    /// previous pass and its wait) and how many of the previous pass's probes the driver
    /// dropped. Call once per pass, before starting it.
    pub fn next_pass(&mut self, answered: u64, all_answered: bool, dropped_last_pass: u64) -> bool {
        let out_of_retries = match self.retries {
            Retries::AtMost(max) => self.passes > max,
            Retries::WhileRecovering => false,
        };
        let another = match self.passes {
            0 => true,
            _ if all_answered => false,
            // Never sent is not silent: resend, within the recovery budget.
            _ if dropped_last_pass > 0 && self.retries != Retries::AtMost(0) => {
                if out_of_retries {
                    self.recovery_passes += 1;
                }
                self.recovery_passes <= MAX_RECOVERY_PASSES
            }
            _ if out_of_retries => false,
            // The first retry always goes: the first pass says nothing about losses.
            1 => true,
            _ => answered > self.answered_at_last_pass,
        };
        if another {
            self.passes += 1;
            self.answered_at_last_pass = answered;
        }
        another
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the policy over the answered counts seen before each pass; returns passes sent.
    fn passes(max_retries: u32, answered_before_each_pass: &[u64], total: u64) -> u32 {
        passes_with(
            Retries::AtMost(max_retries),
            answered_before_each_pass,
            total,
        )
    }

    fn passes_with(retries: Retries, answered_before_each_pass: &[u64], total: u64) -> u32 {
        let mut policy = RetryPolicy::new(retries);
        let mut sent = 0;
        for &answered in answered_before_each_pass {
            if !policy.next_pass(answered, answered == total, 0) {
                break;
            }
            sent += 1;
        }
        sent
    }

    #[test]
    fn retries_while_retransmission_recovers_answers() {
        // Pass 1 answered 90, retry 1 recovered 8, retry 2 recovered 2, retry 3 would run.
        assert_eq!(passes(3, &[0, 90, 98, 100, 100], 200), 4);
        // Retry 2 recovered nothing: the remaining probes are silent.
        assert_eq!(passes(3, &[0, 90, 98, 98, 98], 200), 3);
    }

    #[test]
    fn silence_costs_exactly_one_retry() {
        assert_eq!(passes(3, &[0, 0, 0, 0], 100), 2);
        assert_eq!(passes(10, &[0, 50, 50, 50], 100), 2);
    }

    #[test]
    fn rate_limited_answers_keep_passes_going_while_they_come() {
        // One answer a pass, as a host that answers one ICMP error a second does.
        let one_a_pass: Vec<u64> = (0..=300).chain([300, 300]).collect();
        assert_eq!(passes_with(Retries::WhileRecovering, &one_a_pass, 400), 301);
        assert_eq!(passes_with(Retries::AtMost(3), &one_a_pass, 400), 4);
        // Silence still costs one retry, and all answered none.
        assert_eq!(passes_with(Retries::WhileRecovering, &[0, 0, 0], 10), 2);
        assert_eq!(passes_with(Retries::WhileRecovering, &[0, 10, 10], 10), 1);
    }

    #[test]
    fn passes_that_lost_probes_in_the_driver_are_followed_by_another() {
        let mut policy = RetryPolicy::new(Retries::AtMost(1));
        assert!(policy.next_pass(0, false, 0));
        assert!(policy.next_pass(50, false, 100));
        // Out of retries and nothing recovered, but the driver dropped some: again.
        assert!(policy.next_pass(50, false, 7));
        assert!(policy.next_pass(50, false, 1));
        assert!(
            !policy.next_pass(50, false, 0),
            "no drops: the rest is silence"
        );
        // The budget is bounded.
        let mut policy = RetryPolicy::new(Retries::AtMost(0));
        assert!(policy.next_pass(0, false, 0));
        assert!(!policy.next_pass(0, false, 5), "--retries 0 sends one pass");
        let mut policy = RetryPolicy::new(Retries::AtMost(2));
        let sent = (0..100)
            .take_while(|_| policy.next_pass(10, false, 3))
            .count() as u32;
        assert_eq!(sent, 3 + MAX_RECOVERY_PASSES);
        // All answered ends it whatever was dropped.
        let mut policy = RetryPolicy::new(Retries::AtMost(2));
        assert!(policy.next_pass(0, false, 0));
        assert!(!policy.next_pass(10, true, 3));
    }

    #[test]
    fn never_more_than_max_retries_and_none_when_all_answered() {
        assert_eq!(passes(2, &[0, 10, 20, 30, 40, 50], 100), 3);
        assert_eq!(passes(0, &[0, 10, 20], 100), 1);
        assert_eq!(passes(3, &[0, 100, 100], 100), 1);
    }
}
