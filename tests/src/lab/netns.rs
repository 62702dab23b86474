//! Named network namespaces (`ip netns`): our naming scheme, creation, deletion, stale-lab
//! detection, and running code inside one from a thread that `setns()`'d into it.

use std::{
    fs::{self, File},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::Command,
    thread,
};

use anyhow::{Context, Result, bail};

use super::cmd;

/// Every lab namespace starts with this; nothing else is ever touched.
pub const PREFIX: &str = "scnlab-";
/// Where `ip netns` keeps its bind mounts.
pub const NETNS_DIR: &str = "/run/netns";

/// Which of a lab's namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Scanner,
    Target,
    /// The k-th (from 1) more scanner namespace, with a veth of its own to the same target.
    ExtraScanner(u8),
}

impl Side {
    fn suffix(self) -> String {
        match self {
            Side::Scanner => "s".into(),
            Side::Target => "t".into(),
            Side::ExtraScanner(k) => format!("s{k}"),
        }
    }
}

/// `scnlab-<pid>-<n>-s` / `scnlab-<pid>-<n>-t` / `scnlab-<pid>-<n>-s<k>`.
pub fn name(pid: u32, n: u32, side: Side) -> String {
    format!("{PREFIX}{pid}-{n}-{}", side.suffix())
}

/// The parts of a lab namespace's name, if `name` is one of ours.
pub fn parse(name: &str) -> Option<(u32, u32, Side)> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let side = match parts.next()? {
        "s" => Side::Scanner,
        "t" => Side::Target,
        extra => Side::ExtraScanner(extra.strip_prefix('s')?.parse().ok()?),
    };
    if parts.next().is_some() || name != self::name(pid, n, side) {
        return None;
    }
    Some((pid, n, side))
}

fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// The lab namespaces that exist now (by name), sorted.
pub fn lab_namespaces() -> Vec<String> {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| parse(name).is_some())
        .collect();
    names.sort();
    names
}

/// Whether process `pid` still runs (a zombie does not: it can no longer tear anything down).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x"))
}

/// `ip netns add name`.
pub fn add(name: &str) -> Result<()> {
    cmd::run(
        Command::new("ip").args(["netns", "add", name]),
        None,
        cmd::TIMEOUT,
    )?;
    Ok(())
}

/// `ip netns del name`; Ok(false) when it did not exist.
pub fn del(name: &str) -> Result<bool> {
    if !exists(name) {
        return Ok(false);
    }
    match cmd::run(
        Command::new("ip").args(["netns", "del", name]),
        None,
        cmd::TIMEOUT,
    ) {
        Ok(_) => Ok(true),
        // Someone else (another thread's cleanup_stale) got there first.
        Err(_) if !exists(name) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Runs `f` on a fresh thread that has joined namespace `name` (`setns(CLONE_NEWNET)`) and
/// returns its result; a panic in `f` is resumed here. Sockets `f` creates stay in that
/// namespace after the thread ends.
pub fn run_in<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> Result<R> {
    let ns = File::open(path(name)).with_context(|| format!("opening network namespace {name}"))?;
    let joined = thread::scope(|scope| {
        thread::Builder::new()
            .name(format!("in-{name}"))
            .spawn_scoped(scope, || {
                // SAFETY: a valid fd of a namespace file; changes only this thread's namespace.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(f())
            })
            .map(|handle| handle.join())
    });
    match joined.with_context(|| format!("spawning a thread for namespace {name}"))? {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => bail!("setns into network namespace {name}: {err}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Writes a sysctl of the calling thread's network namespace (`net.ipv4.icmp_ratelimit`).
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let file = Path::new("/proc/sys").join(key.replace('.', "/"));
    fs::write(&file, value).with_context(|| format!("sysctl -w {key}={value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(name(1234, 0, Side::Scanner), "scnlab-1234-0-s");
        assert_eq!(parse("scnlab-1234-7-t"), Some((1234, 7, Side::Target)));
        assert_eq!(name(9, 1, Side::ExtraScanner(3)), "scnlab-9-1-s3");
        assert_eq!(parse("scnlab-9-1-s3"), Some((9, 1, Side::ExtraScanner(3))));
        for other in [
            "scnlab-1234-7",
            "scnlab-1234-7-x",
            "scnlab-x-7-s",
            "scnlab-1234-7-s-1",
            "scnlab-01234-7-s",
            "scnlab--1-7-s",
            "spk-scan",
            "scnlab-1234-7-s ",
            "scnlab-1234-7-s03",
            "scnlab-1234-7-s256",
            "scnlab-1234-7-sx",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn our_own_pid_is_alive() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
    }
}
