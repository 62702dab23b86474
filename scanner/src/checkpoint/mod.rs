//! Resume after any interruption. While a scan runs, every result goes to a journal next to
//! the checkpoint file, and every few seconds the checkpoint (`--checkpoint`, `paused.json` by
//! default) is rewritten atomically: what scan this is, how much of the journal holds, and
//! where each sender thread is in the permutation — as it was a `--wait` ago, so that the
//! probes whose replies may still have been on the way are sent again. On Ctrl-C, SIGTERM or
//! a send fault it is written once more, exactly, after the cooldown; a scan that ends removes
//! both. `--resume FILE` checks the plan, writes the journal's results to the outputs again,
//! and goes on from the places: the outputs end as an uninterrupted scan's.

pub mod journal;
pub mod run;

use std::{
    fs::{self, File},
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use std::hash::Hasher as _;

use crate::{engine::place::SendPlace, order::ScanSpace, report::ScanKind};

/// The checkpoint format this scanner writes and reads.
pub const VERSION: u32 = 1;

/// Where `--checkpoint` goes by default, in the working directory (masscan's `paused.conf`).
pub const DEFAULT_PATH: &str = "paused.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// The command line of the scan, without the program's name and `--resume`.
    pub args: Vec<String>,
    pub plan: PlanId,
    /// The journal of results, and how many of its bytes the checkpoint vouches for.
    pub journal: PathBuf,
    pub journal_bytes: u64,
    pub results: u64,
    /// Where the sender threads are.
    pub place: SendPlace,
}

/// What makes two runs the same scan: a checkpoint resumes only the scan it was written for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanId {
    /// `-sS`, `-sO`, ...
    pub scan: String,
    pub addresses: u64,
    /// A hash of the target ranges (after exclusions and the lists).
    pub targets: String,
    pub ports: String,
    pub seed: u64,
    pub shard: (u32, u32),
    pub sender_threads: u32,
    pub max_targets: Option<u64>,
    pub retries: u32,
}

impl PlanId {
    /// The plan of a scan of `space` in `threads` sender threads.
    pub fn of(
        kind: ScanKind,
        space: &ScanSpace,
        seed: u64,
        shard: (u32, u32),
        threads: u32,
        max_targets: Option<u64>,
        retries: u32,
    ) -> Self {
        let mut targets = siphasher::sip::SipHasher13::new();
        for range in space.targets().ranges() {
            targets.write_u32(*range.start());
            targets.write_u32(*range.end());
        }
        let ports: Vec<u16> = space.ports().iter().collect();
        let ports = match ports.len() {
            0..=16 => ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
            count => {
                let mut hash = siphasher::sip::SipHasher13::new();
                ports.iter().for_each(|&port| hash.write_u16(port));
                format!("{count} ports #{:016x}", hash.finish())
            }
        };
        Self {
            scan: kind.option().to_owned(),
            addresses: space.targets().len(),
            targets: format!("#{:016x}", targets.finish()),
            ports,
            seed,
            shard,
            sender_threads: threads,
            max_targets,
            retries,
        }
    }

    /// How `other` (the command line's) differs from this (the checkpoint's), field by field.
    pub fn differences(&self, other: &PlanId) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, ours: String, theirs: String| {
            if ours != theirs {
                out.push(format!("{name} {ours} there, {theirs} here"));
            }
        };
        check("scan", self.scan.clone(), other.scan.clone());
        check(
            "addresses",
            self.addresses.to_string(),
            other.addresses.to_string(),
        );
        if self.addresses == other.addresses {
            check("targets", self.targets.clone(), other.targets.clone());
        }
        check("ports", self.ports.clone(), other.ports.clone());
        check("seed", self.seed.to_string(), other.seed.to_string());
        check(
            "shard",
            format!("{}/{}", self.shard.0, self.shard.1),
            format!("{}/{}", other.shard.0, other.shard.1),
        );
        check(
            "sender threads",
            self.sender_threads.to_string(),
            other.sender_threads.to_string(),
        );
        check(
            "--max-targets",
            format!("{:?}", self.max_targets),
            format!("{:?}", other.max_targets),
        );
        check(
            "retries",
            self.retries.to_string(),
            other.retries.to_string(),
        );
        out
    }
}

fn corrupt(path: &Path, err: &serde_json::Error) -> CheckpointError {
    CheckpointError::Corrupt(path.to_owned(), err.to_string().escape_debug().to_string())
}

/// Why a checkpoint cannot be resumed; each a line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the checkpoint {0}: {1}")]
    Read(PathBuf, io::Error),
    /// The parser's complaint, escaped: it may quote the file's bytes, newlines among them.
    #[error("{0} is not a checkpoint of this scanner (truncated or corrupt?): {1}")]
    Corrupt(PathBuf, String),
    #[error(
        "{path} is a checkpoint of version {found}, which this scanner does not know (it reads {VERSION})"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{path} was written for another scan: {}", .differences.join("; "))]
    Mismatch {
        path: PathBuf,
        differences: Vec<String>,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

impl Checkpoint {
    /// Reads and checks the checkpoint at `path` (its version; the plan is the caller's).
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let text = fs::read(path).map_err(|err| CheckpointError::Read(path.to_owned(), err))?;
        Self::parse(path, &text)
    }

    /// The checkpoint in `text`, read from `path` (which errors name).
    pub fn parse(path: &Path, text: &[u8]) -> Result<Self, CheckpointError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(text).map_err(|err| corrupt(path, &err))?;
        if versioned.version != VERSION {
            return Err(CheckpointError::Version {
                path: path.to_owned(),
                found: versioned.version,
            });
        }
        serde_json::from_slice(text).map_err(|err| corrupt(path, &err))
    }

    /// Writes the checkpoint to `path` so that a crash at any moment leaves either the old one
    /// or the new one: a temporary file, synced, renamed over it, and the directory synced.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let temporary = temporary_path(path);
        let mut file = File::create(&temporary)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(io::Error::other)?)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(directory)?.sync_all()
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// The journal that goes with the checkpoint at `path`: `paused.json.<pid>.results`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.results", std::process::id()));
    path.with_file_name(name)
}

/// The command line of a resumed scan that names no targets: the one in its checkpoint, then
/// the given options (which, later, win: `--resume paused.json --rate 5000`).
pub fn resumed_args(
    given: &[std::ffi::OsString],
    checkpoint: &Checkpoint,
) -> Vec<std::ffi::OsString> {
    let mut args = given[..1].to_vec();
    args.extend(checkpoint.args.iter().map(Into::into));
    args.extend(given[1..].iter().cloned());
    args
}

#[cfg(test)]
mod tests;
