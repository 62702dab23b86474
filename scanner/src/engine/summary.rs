//! The engine's closing summary on standard error: what was sent, what came back, what it
//! means (the replies' states from the report's totals, silence from the probes sent).

use std::{collections::BTreeMap, fmt::Write as _};

use crate::{
    engine::ScanStats,
    report::totals::Totals,
    send::SendPath,
    verdict::{PortState, Proto, Verdict},
};

/// What the scan covered, for the summary's first lines.
pub struct Scope {
    pub addresses: u64,
    /// What the ports are: TCP ports, IP protocols, ...
    pub proto: Proto,
    pub ports: usize,
    pub probes: u64,
    pub seed: u64,
    /// This run's shard and the number of shards.
    pub shard: (u32, u32),
}

/// How often a target may retransmit a SYN-ACK we leave unanswered.
const SYN_ACK_RETRANSMITS: u64 = 5;

/// `replies`: the replies' verdicts, before silence is added.
pub fn render(stats: &ScanStats, replies: &Totals, silent: Verdict, scope: &Scope) -> String {
    let mut out = String::new();
    let sent = &stats.sent;
    let retries: u64 = sent.per_pass.iter().skip(1).sum();
    let (shard, shards) = scope.shard;
    let _ = writeln!(
        out,
        "scanner: {} addresses x {} {}s = {} probes{}{} in {:.2}s",
        scope.addresses,
        scope.ports,
        scope.proto.port_noun(),
        scope.probes,
        if shards > 1 {
            format!(", shard {shard} of {shards}")
        } else {
            String::new()
        },
        if sent.fault.is_some() {
            ", stopped by a send error"
        } else if stats.interrupted {
            ", interrupted"
        } else if sent.out_of_time {
            ", stopped at --max-runtime"
        } else {
            ""
        },
        stats.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  sent {} packets ({} retries) in {:.2}s: {:.0} pps, {}; seed {}",
        sent.total(),
        retries,
        sent.sending.as_secs_f64(),
        stats.send_rate(),
        threads(&stats.send_paths),
        scope.seed
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
    if stats.unrecorded > 0 {
        let _ = writeln!(
            out,
            "  note: {} answers came faster than the answered window remembers (see README, \
             Memory): each may have cost a needless retry and a duplicate",
            stats.unrecorded
        );
    }
    if sent.dropped > 0 {
        let _ = writeln!(
            out,
            "  {} probes dropped by the driver before they left (not counted above; retried until a pass lost none)",
            sent.dropped
        );
    }
    if sent.dropped_in_last_pass > 0 {
        let _ = writeln!(
            out,
            "  warning: the driver dropped {} probes of the last pass: their targets may be missing",
            sent.dropped_in_last_pass
        );
    }
    if let Some(captured) = stats.captured {
        let _ = writeln!(
            out,
            "  captured {} packets: {} sent, {} received",
            captured.sent + captured.received,
            captured.sent,
            captured.received
        );
    }
    // More of either than probes sent is no network's doing: someone forges or replays.
    if stats.xdp.bad_cookie > sent.total() {
        let _ = writeln!(
            out,
            "  warning: {} packets shaped like replies failed the cookie check, more than the \
             probes sent: forged, or answers to another scan from this address; none became a \
             result",
            stats.xdp.bad_cookie
        );
    }
    // A target retransmits its SYN-ACK up to five times (Linux: 1, 3, 7, 15, 31 s later), as
    // we never complete nor reset the connection: those are expected; more are not.
    let expected_duplicates = sent.total() + SYN_ACK_RETRANSMITS * replies.open();
    if stats.discarded.duplicates > expected_duplicates {
        let _ = writeln!(
            out,
            "  warning: {} duplicate replies, more than the probes sent and the targets' retransmissions: replayed or flooded \
             answers; each was reported once",
            stats.discarded.duplicates
        );
    }
    if stats.xdp.ring_full > 0 {
        let _ = writeln!(
            out,
            "  WARNING: {} replies were dropped because the ring buffer was full; their probes \
             were retried, but some ports may be reported filtered wrongly: scan again at a \
             lower --rate",
            stats.xdp.ring_full
        );
    }
    let mut states: BTreeMap<PortState, u64> = BTreeMap::new();
    for (_, state, _, count) in replies.rows() {
        *states.entry(state).or_default() += count;
    }
    let probed = stats.walked.count();
    let unanswered = probed.saturating_sub(stats.answered);
    *states.entry(silent.state).or_default() += unanswered;
    let per_state: Vec<String> = [
        PortState::Open,
        PortState::Closed,
        PortState::Filtered,
        PortState::OpenFiltered,
    ]
    .iter()
    // open|filtered only where the scan type has it.
    .filter(|&&state| state != PortState::OpenFiltered || states.contains_key(&state))
    .map(|state| {
        format!(
            "{} {}",
            states.get(state).copied().unwrap_or(0),
            state.as_str()
        )
    })
    .collect();
    let not_sent = if stats.interrupted || sent.out_of_time || sent.fault.is_some() {
        stats.planned.saturating_sub(probed)
    } else {
        0
    };
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

/// "2 AF_XDP threads", "1 AF_XDP + 1 AF_PACKET threads".
fn threads(paths: &[SendPath]) -> String {
    let count = |path| paths.iter().filter(|&&p| p == path).count();
    let parts: Vec<String> = [
        (SendPath::AfXdp, "AF_XDP"),
        (SendPath::AfPacket, "AF_PACKET"),
    ]
    .iter()
    .filter(|(path, _)| count(*path) > 0)
    .map(|(path, name)| format!("{} {name}", count(*path)))
    .collect();
    format!(
        "{} thread{}",
        parts.join(" + "),
        if paths.len() == 1 { "" } else { "s" }
    )
}
