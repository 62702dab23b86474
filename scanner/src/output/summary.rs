//! The closing summary on standard error: what was sent, what came back, what it means.

use std::{collections::BTreeMap, fmt::Write as _};

use crate::{
    engine::ScanStats,
    results::ScanResult,
    verdict::{PortState, Verdict},
};

pub fn render(
    stats: &ScanStats,
    results: &[ScanResult],
    silent: Verdict,
    addresses: u64,
    ports: usize,
) -> String {
    let mut out = String::new();
    let sent = &stats.sent;
    let retries: u64 = sent.per_pass.iter().skip(1).sum();
    let _ = writeln!(
        out,
        "scanner: {addresses} addresses x {ports} ports = {} probes{} in {:.2}s",
        stats.probes,
        if stats.interrupted {
            ", interrupted"
        } else {
            ""
        },
        stats.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  sent {} packets ({} retries) in {:.2}s: {:.0} pps",
        sent.total(),
        retries,
        sent.sending.as_secs_f64(),
        stats.send_rate()
    );
    let mode = stats.attach_mode.as_str();
    let _ = writeln!(
        out,
        "  replies: {} matched in XDP ({mode}), {} read, {} duplicates; drops: {} ring full; {} bad cookies",
        stats.xdp.matched,
        stats.replies,
        stats.discarded.duplicates,
        stats.xdp.ring_full,
        stats.xdp.bad_cookie
    );
    let mut states: BTreeMap<PortState, u64> = BTreeMap::new();
    for result in results {
        *states.entry(result.state).or_default() += 1;
    }
    let probed = stats.walked();
    let unanswered = probed.saturating_sub(stats.answered);
    *states.entry(silent.state).or_default() += unanswered;
    let per_state: Vec<String> = [PortState::Open, PortState::Closed, PortState::Filtered]
        .iter()
        .map(|state| {
            format!(
                "{} {}",
                states.get(state).copied().unwrap_or(0),
                state.as_str()
            )
        })
        .collect();
    let not_sent = stats.probes.saturating_sub(probed);
    let _ = writeln!(
        out,
        "  results: {} ({unanswered} {}){}",
        per_state.join(", "),
        silent.reason.as_str(),
        if not_sent > 0 {
            format!("; {not_sent} probes not sent")
        } else {
            String::new()
        }
    );
    out
}
