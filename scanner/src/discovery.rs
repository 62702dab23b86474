//! Host discovery, the stage before the port scan: pings every target and keeps the ones that
//! answer. SCTP INIT ping (-PY) today; other pings are other probe modules run the same way.
//!
//! As nmap's: a host is up when the target itself answered anything — INIT-ACK, ABORT, or an
//! ICMP error it sent (a host without SCTP answers protocol unreachable). An error from a
//! router on the way says nothing about the host.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, Result};

use crate::{
    engine::{self, ScanOptions, stop::Stop},
    order::{ScanSpace, WalkPlan},
    probe::Probe,
    targets::{PortList, TargetSet},
};

/// What the ping stage found.
pub struct Discovered {
    /// The hosts that answered.
    pub up: TargetSet,
    pub pinged: u64,
    /// The ports pinged.
    pub ports: PortList,
    pub elapsed: Duration,
}

/// Pings `targets` on `ports` with `probe` and returns the hosts that answered.
pub fn ping<P: Probe + 'static>(
    probe: P,
    targets: TargetSet,
    ports: PortList,
    options: &ScanOptions,
    seed: u64,
    runtime: &tokio::runtime::Runtime,
    stop: Arc<Stop>,
) -> Result<Discovered> {
    let pinged = targets.len();
    let space = Arc::new(ScanSpace::new(targets, ports.clone()));
    let plan = Arc::new(
        WalkPlan::new(space.len(), seed, 0, 1, 1, None).context("planning the ping stage")?,
    );
    let mut up = TargetSet::builder();
    let outcome = runtime.block_on(engine::run(
        Arc::new(probe),
        space,
        plan,
        options,
        stop,
        None,
        |result| {
            // A router's error says nothing of the host.
            if result.responder.is_none() {
                up.add_addr(result.ip);
            }
            Ok(())
        },
        |_| {},
    ))?;
    Ok(Discovered {
        up: up.build(),
        pinged,
        ports,
        elapsed: outcome.stats.elapsed,
    })
}
