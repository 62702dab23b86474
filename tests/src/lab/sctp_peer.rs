//! A real SCTP peer for the lab, independent of our code: usrsctp's discard server (Debian's
//! `libusrsctp-examples`, `/usr/lib/usrsctp/discard_server 0`) in the target namespace.
//!
//! The kernel here has no SCTP module; usrsctp runs SCTP in user space over a raw IP socket
//! (protocol 132; argument `0`: no UDP encapsulation). It listens on port 9 (discard) of
//! every address it found on its interfaces when it started — in the lab 198.18.0.2, not the
//! AnyIP range, which is routed to `lo` but is no interface address — and answers an INIT
//! there with an INIT ACK. It runs with `sctp_blackhole` 2: INITs to other ports, and COOKIE
//! ECHOs it did not issue, get no answer at all (no ABORT), so those ports look filtered.
//! While it runs, its raw socket also keeps the target kernel from answering SCTP to any
//! address with ICMP protocol-unreachable.

use std::{
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The discard server of `libusrsctp-examples`.
pub const DISCARD_SERVER: &str = "/usr/lib/usrsctp/discard_server";
/// How long it may take to bind.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The last line its debug output prints once bound (its `listen` follows at once, silently).
const READY_LINE: &str = "bound port:9";

/// A running usrsctp discard server; dropping it stops exactly that process (by its PID).
pub struct SctpPeer {
    child: Child,
}

impl SctpPeer {
    /// The port it listens on (discard).
    pub const PORT: u16 = 9;

    /// Starts the discard server in namespace `ns` and waits until it is bound. `address` is
    /// the one it answers on (the namespace's interface address), for the error message.
    pub fn start(ns: &str, address: Ipv4Addr) -> Result<SctpPeer> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns, DISCARD_SERVER, "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        super::cmd::die_with_parent(&mut command);
        let line = super::cmd::display(&command);
        let mut child = command.spawn().with_context(|| {
            format!("cannot start `{line}` (apt-get install libusrsctp-examples)")
        })?;
        // It prints a debug line per event for as long as it runs: read them all, so the pipe
        // never fills, and say when it is bound.
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take();
        thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut said = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_LINE) {
                    let _ = ready_tx.send(Ok(()));
                } else if said.len() < 20 {
                    said.push(line);
                }
            }
            let _ = ready_tx.send(Err(said.join(" | ")));
        });
        let mut peer = SctpPeer { child };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => Ok(peer),
            Ok(Err(said)) => {
                let status = peer.child.wait()?;
                bail!("`{line}` exited ({status}) before binding {address}:9: {said}")
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                bail!("`{line}` did not bind {address}:9 within {READY_TIMEOUT:?}")
            }
        }
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SctpPeer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Our own child, by its PID: SIGKILL, then reap it.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
