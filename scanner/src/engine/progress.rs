//! The live status on standard error, once a second: a progress bar on a terminal, one plain
//! line per second otherwise (logs, pipes, tests).

use std::{fmt::Write as _, io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The scan's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    /// First-pass probes sent, and how many the first pass will send.
    pub walked: u64,
    pub planned: u64,
    /// Packets sent, retries included, and the pass under way (1 = first).
    pub sent: u64,
    pub pass: u64,
    /// Replies read from the ring, and the probes they showed open.
    pub replies: u64,
    pub hits: u64,
    /// Replies lost: the ring buffer was full.
    pub drops: u64,
}

pub struct Status {
    bar: Option<ProgressBar>,
    last: Snapshot,
}

impl Status {
    pub fn new(planned: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(planned), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {percent:>3}% ETA {eta} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            last: Snapshot::default(),
        }
    }

    pub fn update(&mut self, now: Snapshot) {
        let line = describe(&self.last, &now);
        match &self.bar {
            Some(bar) => {
                bar.set_position(now.walked.min(now.planned));
                bar.set_message(line.rates);
            }
            None => eprintln!("{}", line.plain),
        }
        self.last = now;
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

struct Line {
    /// Rates and counts, for the progress bar's message.
    rates: String,
    /// The whole status, for a plain line.
    plain: String,
}

fn describe(last: &Snapshot, now: &Snapshot) -> Line {
    let secs = (now.elapsed.saturating_sub(last.elapsed))
        .as_secs_f64()
        .max(1e-3);
    let send_rate = (now.sent - last.sent.min(now.sent)) as f64 / secs;
    let recv_rate = (now.replies - last.replies.min(now.replies)) as f64 / secs;
    let hit_rate = if now.walked > 0 {
        100.0 * now.hits as f64 / now.walked as f64
    } else {
        0.0
    };
    let mut rates = String::new();
    if now.pass > 1 {
        let _ = write!(rates, "retry {}; ", now.pass - 1);
    }
    let _ = write!(
        rates,
        "send {}; recv {}; hits {hit_rate:.2}%; drops {}",
        pps(send_rate),
        pps(recv_rate),
        now.drops
    );
    let percent = if now.planned > 0 {
        100.0 * now.walked.min(now.planned) as f64 / now.planned as f64
    } else {
        100.0
    };
    let first_pass_rate = now.walked as f64 / now.elapsed.as_secs_f64().max(1e-3);
    let eta = if now.walked < now.planned && first_pass_rate > 0.0 {
        clock((now.planned - now.walked) as f64 / first_pass_rate)
    } else {
        "-".to_owned()
    };
    let plain = format!(
        "status: {} {percent:.1}% done (ETA {eta}); {rates}",
        clock(now.elapsed.as_secs_f64())
    );
    Line { rates, plain }
}

fn pps(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M pps", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k pps", rate / 1e3)
    } else {
        format!("{rate:.0} pps")
    }
}

fn clock(secs: f64) -> String {
    let secs = secs.round() as u64;
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_has_every_figure() {
        let last = Snapshot {
            elapsed: Duration::from_secs(1),
            walked: 100_000,
            planned: 400_000,
            sent: 100_000,
            pass: 1,
            replies: 40_000,
            hits: 30_000,
            drops: 0,
        };
        let now = Snapshot {
            elapsed: Duration::from_secs(2),
            walked: 200_000,
            sent: 200_000,
            replies: 80_000,
            hits: 60_000,
            drops: 3,
            ..last
        };
        assert_eq!(
            describe(&last, &now).plain,
            "status: 0:02 50.0% done (ETA 0:02); send 100.0k pps; recv 40.0k pps; hits 30.00%; drops 3"
        );
        let retrying = Snapshot {
            pass: 2,
            walked: 400_000,
            sent: 2_400_000,
            elapsed: Duration::from_secs(3),
            ..now
        };
        assert_eq!(
            describe(&now, &retrying).plain,
            "status: 0:03 100.0% done (ETA -); retry 1; send 2.20M pps; recv 0 pps; hits 15.00%; drops 3"
        );
    }
}
