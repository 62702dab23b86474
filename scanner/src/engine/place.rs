//! Where the sender threads are: what a checkpoint keeps of a running scan, and what a resumed
//! scan starts from. The threads publish their place every [`PUBLISH_EVERY`] probes; the
//! checkpoint writer reads it, never the other way round.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::order::WalkState;

/// Probes between two publications of a thread's place.
pub const PUBLISH_EVERY: u64 = 4096;

/// The senders' place, in the mode the scan's size chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SendPlace {
    /// Passes over the plan (an exact answered set).
    Passes(PassesPlace),
    /// One walk per thread with trailing retry cursors (a window of answers).
    Trailing { threads: Vec<TrailingPlace> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassesPlace {
    /// Probes sent in each pass so far, the current one last (empty before the first).
    pub per_pass: Vec<u64>,
    /// How many probes each thread walked in the first pass (its part of every retry).
    pub walked_per_thread: Vec<u64>,
    /// Each thread's place in the current pass (`None`: at its start).
    pub threads: Vec<Option<WalkState>>,
    /// The retry policy's memory.
    pub policy: PolicyPlace,
    /// The current pass is over (and waited for): the next is the policy's to decide.
    #[serde(default)]
    pub between: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPlace {
    pub passes: u32,
    pub answered_at_last_pass: u64,
    pub recovery_passes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailingPlace {
    pub lead: WalkState,
    /// Retry cursor k + 1's place.
    pub cursors: Vec<CursorPlace>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorPlace {
    pub walk: WalkState,
    pub resent: u64,
    pub recovered: u64,
    pub resends: bool,
}

/// What the threads publish and the checkpoint writer reads.
#[derive(Debug)]
pub struct Board {
    place: Mutex<Option<SendPlace>>,
}

impl Board {
    pub fn new(start: Option<SendPlace>) -> Self {
        Self {
            place: Mutex::new(start),
        }
    }

    /// The place last published (`None` before the senders started).
    pub fn read(&self) -> Option<SendPlace> {
        self.lock().clone()
    }

    /// Changes the published place.
    pub fn update(&self, change: impl FnOnce(&mut Option<SendPlace>)) {
        change(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SendPlace>> {
        self.place
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
