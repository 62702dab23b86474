//! The running side of checkpoints: the journal written as results are decided, the
//! checkpoint rewritten every [`EVERY`], the last one written or both removed at the end.

use std::{
    collections::VecDeque,
    io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::{Checkpoint, PlanId, VERSION, journal::Journal, journal_path};
use crate::{engine::place::SendPlace, results::ScanResult};

/// How often the checkpoint is rewritten while the scan runs: what a SIGKILL or a power cut
/// loses (plus the wait), and sends again.
pub const EVERY: Duration = Duration::from_secs(5);

pub struct Checkpointer {
    path: PathBuf,
    plan: PlanId,
    args: Vec<String>,
    /// `None` once the journal could not be written: no checkpoint then (said once).
    journal: Option<Journal>,
    /// The places the senders published, a second apart, the oldest first.
    places: VecDeque<(Instant, SendPlace)>,
    /// A checkpoint's places are this old at least: their probes' replies are all in.
    settle: Duration,
    last: Instant,
}

impl Checkpointer {
    /// Starts the journal next to `path` (going on with `resumed`'s, when resuming).
    pub fn start(
        path: &Path,
        plan: PlanId,
        args: Vec<String>,
        wait: Duration,
        resumed: Option<&Checkpoint>,
    ) -> Self {
        let journal = match resumed {
            Some(checkpoint) => Journal::resume(
                &checkpoint.journal,
                checkpoint.journal_bytes,
                checkpoint.results,
            ),
            None => Journal::create(&journal_path(path)),
        };
        let journal = journal
            .inspect_err(|err| {
                eprintln!(
                    "scanner: note: cannot write the results journal next to {}: {err}; this \
                     scan cannot be resumed",
                    path.display()
                )
            })
            .ok();
        Self {
            path: path.to_owned(),
            plan,
            args,
            journal,
            places: VecDeque::new(),
            settle: wait + Duration::from_secs(1),
            last: Instant::now(),
        }
    }

    /// A result as it is decided.
    pub fn record(&mut self, result: &ScanResult) {
        if let Some(journal) = &mut self.journal
            && let Err(err) = journal.record(result)
        {
            self.give_up(&err);
        }
    }

    /// Called every second with the senders' place: keeps it, and rewrites the checkpoint
    /// every [`EVERY`] with the newest place old enough.
    pub fn tick(&mut self, place: Option<SendPlace>) {
        let now = Instant::now();
        if let Some(place) = place {
            self.places.push_back((now, place));
        }
        while self.places.len() >= 2 && now.duration_since(self.places[1].0) >= self.settle {
            self.places.pop_front();
        }
        if now.duration_since(self.last) < EVERY {
            return;
        }
        let Some((at, place)) = self.places.front() else {
            return;
        };
        if now.duration_since(*at) < self.settle {
            return;
        }
        let place = place.clone();
        self.last = now;
        if let Err(err) = self.write(place) {
            self.give_up(&err);
        }
    }

    /// The scan stopped before its end (`place`: where the senders stopped, every probe
    /// before it waited for): the last checkpoint, written exactly. Returns its path.
    pub fn pause(mut self, place: SendPlace) -> Option<PathBuf> {
        match self.write(place) {
            Ok(()) => Some(self.path),
            Err(err) => {
                self.give_up(&err);
                None
            }
        }
    }

    /// The scan is over: neither checkpoint nor journal is needed any more.
    pub fn finish(self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let _ = std::fs::remove_file(journal.path());
        // Only the checkpoint this scan wrote or resumed from.
        if let Ok(checkpoint) = Checkpoint::read(&self.path)
            && checkpoint.journal == journal.path()
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn write(&mut self, place: SendPlace) -> io::Result<()> {
        let Some(journal) = &mut self.journal else {
            return Err(io::Error::other("no journal"));
        };
        let (journal_bytes, results) = journal.sync()?;
        Checkpoint {
            version: VERSION,
            args: self.args.clone(),
            plan: self.plan.clone(),
            journal: journal.path().to_owned(),
            journal_bytes,
            results,
            place,
        }
        .write(&self.path)
    }

    fn give_up(&mut self, err: &io::Error) {
        if self.journal.take().is_some() {
            eprintln!(
                "scanner: note: cannot write the checkpoint {}: {err}; this scan cannot be \
                 resumed",
                self.path.display()
            );
        }
    }
}
