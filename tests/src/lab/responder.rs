//! The responder on the target's end of the lab: `scanner responder` (an XDP program that
//! answers TCP SYNs and SCTP INITs and COOKIE ECHOs from a seeded ground truth, sending each answer straight back out of
//! `vt0`) run in the target namespace, so scans of its range go as fast as the link and every
//! answer is known in advance ([`ResponderSettings::truth`], the very function the XDP program
//! decides with).
//!
//! The answers reach the scanner's `vs0` only while its NAPI runs: when an XDP program is
//! attached there (the scanner's own, during its scans) or GRO is on (`ethtool -K vs0 gro on`,
//! what tools without XDP need: masscan, zmap, nmap, tcpdump).
//!
//! The child gets SIGTERM when the thread that started it ends (`PR_SET_PDEATHSIG`), so a
//! killed test or benchmark leaves no responder behind: start it from a thread that lives as
//! long as the lab (the test's or the program's own).

use std::{
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use scanner_common::{
    responder::{Counts, ResponderConfig, Share, Truth, truth},
    wire::ip_proto,
};

use super::cmd::read_in_background;

/// How long the responder may take to load and attach its program.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long it may take to detach and print its counters after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The line `scanner responder` prints on stderr once it answers.
const READY_PREFIX: &str = "responder: ready";

/// What the responder answers for, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderSettings {
    /// The scanner binary whose `responder` subcommand runs the program.
    pub scanner_bin: PathBuf,
    /// The addresses it answers for; inside 198.18.0.0/15, outside the link's /24.
    pub range: (Ipv4Addr, u8),
    /// Seed of the ground truth.
    pub seed: u64,
    /// Share of (address, port) pairs answering open (SYN-ACK).
    pub open: Share,
    /// Share answering closed (RST-ACK); the rest is silent.
    pub closed: Share,
}

impl ResponderSettings {
    /// 198.19.0.0/16: 65536 addresses, inside 198.18.0.0/15, routed via the target.
    pub const DEFAULT_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 19, 0, 0), 16);

    /// The default range, seed 1, 10% open, 50% closed, 40% silent.
    pub fn new(scanner_bin: impl Into<PathBuf>) -> Self {
        ResponderSettings {
            scanner_bin: scanner_bin.into(),
            range: Self::DEFAULT_RANGE,
            seed: 1,
            open: Share(6554),
            closed: Share(32768),
        }
    }

    /// The configuration the XDP program runs with.
    pub fn config(&self) -> Result<ResponderConfig> {
        let (base, prefix) = self.range;
        ResponderConfig::new(self.seed, u32::from(base), prefix, self.open, self.closed)
            .map_err(|err| anyhow::anyhow!("responder settings: {err}"))
    }

    /// What the responder answers to a TCP SYN to `address`:`port` (for addresses of its range).
    pub fn truth(&self, address: Ipv4Addr, port: u16) -> Result<Truth> {
        Ok(truth(
            &self.config()?,
            u32::from(address),
            port,
            ip_proto::TCP,
        ))
    }

    /// What the responder answers to an SCTP INIT to `address`:`port`: INIT ACK (open), ABORT
    /// (closed) or nothing; to a COOKIE ECHO, ABORT when closed, else nothing.
    pub fn sctp_truth(&self, address: Ipv4Addr, port: u16) -> Result<Truth> {
        Ok(truth(
            &self.config()?,
            u32::from(address),
            port,
            ip_proto::SCTP,
        ))
    }

    /// The addresses of the range, in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let (base, prefix) = self.range;
        let first = u32::from(base) & (u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
        let count = 1u64 << (32 - u32::from(prefix));
        (0..count).map(move |i| Ipv4Addr::from(first + i as u32))
    }

    /// The range as CIDR text.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.range.0, self.range.1)
    }

    /// Inside 198.18.0.0/15 (the lab's own block), not touching the link's 198.18.0.0/24, and
    /// shares that add up to at most 1.
    pub fn validate(&self) -> Result<()> {
        let (base, prefix) = self.range;
        let in_block =
            |address: u32| address >> 17 == u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17;
        let config = self.config()?;
        ensure!(
            (15..=32).contains(&prefix) && in_block(config.range_base),
            "responder range {base}/{prefix} is not inside the lab's 198.18.0.0/15"
        );
        let link = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        ensure!(
            !config.covers(link) && config.range_base >> 8 != link >> 8,
            "responder range {base}/{prefix} overlaps the lab's link 198.18.0.0/24"
        );
        Ok(())
    }

    fn args(&self, interface: &str) -> Vec<String> {
        // Shares are multiples of 2^-16: their shortest decimal form parses back exactly.
        [
            "responder",
            "--interface",
            interface,
            "--range",
            &self.cidr(),
            "--seed",
            &self.seed.to_string(),
            "--open",
            &self.open.fraction().to_string(),
            "--closed",
            &self.closed.fraction().to_string(),
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// A running `scanner responder`; dropping it stops it (its counters are then lost).
pub struct Responder {
    child: Child,
    ready_line: String,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Responder {
    /// Starts the responder in namespace `ns` on `interface` and waits until it answers.
    pub fn start(ns: &str, interface: &str, settings: &ResponderSettings) -> Result<Responder> {
        settings.validate()?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(&settings.scanner_bin)
            .args(settings.args(interface))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        super::cmd::die_with_parent(&mut command);
        let line = super::cmd::display(&command);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{line}`"))?;
        let stdout = read_in_background(child.stdout.take());
        let stderr = lines_in_background(child.stderr.take());
        let mut responder = Responder {
            child,
            ready_line: String::new(),
            stdout,
            stderr,
        };
        responder.ready_line = responder
            .wait_ready()
            .with_context(|| format!("starting the responder: `{line}`"))?;
        Ok(responder)
    }

    fn wait_ready(&mut self) -> Result<String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with(READY_PREFIX) => return Ok(line),
                Ok(line) => said.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    bail!("not ready after {READY_TIMEOUT:?}: {}", said.join(" | "))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!(
                        "exited ({status}) before it was ready: {}",
                        said.join(" | ")
                    );
                }
            }
        }
    }

    /// The line it printed when ready (interface, attach mode, range, shares).
    pub fn ready_line(&self) -> &str {
        &self.ready_line
    }

    /// Stops it (SIGTERM), and returns the counters it printed.
    pub fn stop(mut self) -> Result<Counts> {
        let status = self.terminate()?;
        let stdout = self
            .stdout
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default();
        let said: Vec<String> = self.stderr.try_iter().collect();
        ensure!(
            status.success(),
            "the responder failed ({status}): {}",
            said.join(" | ")
        );
        let json = stdout
            .lines()
            .last()
            .with_context(|| format!("the responder printed no counters: {}", said.join(" | ")))?;
        let value: serde_json::Value = serde_json::from_str(json)
            .with_context(|| format!("the responder's counters: {json:?}"))?;
        Counts::from_named(|name| value[name].as_u64())
            .with_context(|| format!("the responder's counters: {json:?}"))
    }

    /// SIGTERM to our child by its PID; SIGKILL when it does not end in time.
    fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: plain syscall, to our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let status = self.child.wait()?;
        bail!("the responder did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed ({status})")
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate();
        }
    }
}

/// Each line of `pipe`, as it comes, on a thread of its own.
fn lines_in_background(pipe: Option<impl std::io::Read + Send + 'static>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validate_and_round_trip_their_shares() {
        let settings = ResponderSettings::new("/bin/scanner");
        settings.validate().unwrap();
        let args = settings.args("vt0");
        assert_eq!(
            args.join(" "),
            "responder --interface vt0 --range 198.19.0.0/16 --seed 1 --open 0.100006103515625 \
             --closed 0.5"
        );
        let open: f64 = args[8].parse().unwrap();
        assert_eq!(Share::from_fraction(open), Ok(settings.open));
        assert_eq!(settings.addresses().count(), 65536);
        assert_eq!(
            settings.addresses().last(),
            Some(Ipv4Addr::new(198, 19, 255, 255))
        );
        for bad in [
            (Ipv4Addr::new(10, 0, 0, 0), 16),
            (Ipv4Addr::new(198, 16, 0, 0), 12),
            (Ipv4Addr::new(198, 18, 0, 0), 16),
            (Ipv4Addr::new(198, 18, 0, 0), 24),
            (Ipv4Addr::new(198, 20, 0, 0), 16),
        ] {
            let settings = ResponderSettings {
                range: bad,
                ..ResponderSettings::new("/bin/scanner")
            };
            assert!(settings.validate().is_err(), "{bad:?}");
        }
        let inside = ResponderSettings {
            range: (Ipv4Addr::new(198, 18, 200, 0), 24),
            ..ResponderSettings::new("/bin/scanner")
        };
        inside.validate().unwrap();
    }
}
