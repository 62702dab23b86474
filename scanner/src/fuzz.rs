//! The fuzz targets' bodies: each feeds bytes from outside to one parser and checks what must
//! hold of whatever it returns (no panic, errors on one line, results that agree with
//! themselves). `fuzz/` (cargo fuzz, `cargo xtask fuzz`) calls them under libFuzzer; the unit
//! tests below replay the committed corpus, the crashes found among it, on every test run.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use crate::os::attributes::fingerprint_round;
use crate::os::db::{Dialect, OsDb, parse_subject};
use crate::os::matcher::{GUESS_THRESHOLD, match_fingerprint};
use crate::os::probes::{Probe, ProbePlan, SeqNo, U1_IP_ID};
use crate::os::replies::RoundReplies;
use crate::protocols::Protocols;
use crate::services::Services;
use crate::targets::{PortList, TargetSet, parse_target};
use crate::trace::Frame;
use crate::verdict::Proto;

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every target: its name (the file under `fuzz/fuzz_targets/` and the corpus folder) and body.
pub const TARGETS: [(&str, Body); 11] = [
    ("target_spec", target_spec),
    ("target_file", target_file),
    ("port_list", port_list),
    ("os_db", os_db),
    ("os_fingerprint", os_fingerprint),
    ("os_replies", os_replies),
    ("frame", frame),
    ("services", services),
    ("merge", merge),
    ("checkpoint", checkpoint),
    ("payloads", payloads),
];

/// An nmap-payloads file (-sU): it parses or is refused with its line; what parses gives
/// every port DNS-shaped queries on the DNS ports and payloads that fit a datagram.
pub fn payloads(data: &[u8]) {
    use crate::probe::udp::{Payloads, payloads::MAX_PAYLOAD};
    use scanner_common::udp;
    match Payloads::parse(&String::from_utf8_lossy(data)) {
        Ok(payloads) => {
            for port in [0, 7, 53, 161, 5353, u16::MAX] {
                for attempt in 0..3 {
                    let payload = payloads.get(port, attempt).1;
                    assert!(payload.len() <= MAX_PAYLOAD);
                    if udp::carries_dns_id(port) {
                        assert!(payload.len() >= udp::DNS_HEADER_LEN);
                    }
                }
            }
        }
        Err(err) => {
            assert!(err.line >= 1);
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }
}

/// A checkpoint file (`--resume`) and the lines of its results journal: a checkpoint that
/// parses writes back to itself, and its places either are places of a walk or are refused.
pub fn checkpoint(data: &[u8]) {
    use crate::{
        checkpoint::{Checkpoint, journal},
        engine::place::SendPlace,
        order::WalkPlan,
    };
    let path = Path::new("fuzzed.json");
    match Checkpoint::parse(path, data) {
        Ok(checkpoint) => {
            let text = serde_json::to_vec(&checkpoint).expect("a checkpoint serializes");
            let again = Checkpoint::parse(path, &text).expect("a written checkpoint parses");
            assert_eq!(again.place, checkpoint.place);
            assert_eq!(again.plan, checkpoint.plan);
            let plan = WalkPlan::new(1 << 20, checkpoint.plan.seed, 0, 1, 2, None).unwrap();
            let states: Vec<_> = match &checkpoint.place {
                SendPlace::Passes(place) => place.threads.iter().flatten().copied().collect(),
                SendPlace::Trailing { threads } => threads
                    .iter()
                    .flat_map(|t| std::iter::once(t.lead).chain(t.cursors.iter().map(|c| c.walk)))
                    .collect(),
            };
            for (thread, state) in states.into_iter().enumerate().take(16) {
                if let Some(walk) = plan.thread_walk_at((thread % 2) as u32, state) {
                    walk.take(4).for_each(drop);
                }
            }
        }
        Err(err) => one_line(&err.to_string()),
    }
    for line in String::from_utf8_lossy(data).lines().take(64) {
        if let Err(err) = journal::parse_line(line) {
            one_line(&err.to_string());
        }
    }
}

/// A command-line target (`198.18.0.0/15`, `198.18.0-3.1-254`, ...).
pub fn target_spec(data: &[u8]) {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    match parse_target(spec) {
        Ok(ranges) => {
            let set: TargetSet = ranges.iter().cloned().collect();
            let count: u64 = ranges
                .iter()
                .map(|r| u64::from(r.end() - r.start()) + 1)
                .sum();
            assert!(ranges.windows(2).all(|w| w[0].end() < w[1].start()));
            assert_eq!(set.len(), count, "{spec:?}");
            check_set(&set);
        }
        Err(err) => one_line(&err.to_string()),
    }
}

/// A target file (`-iL`, `--excludefile`, blocklists): any bytes, not only UTF-8.
pub fn target_file(data: &[u8]) {
    match TargetSet::from_file_content(Path::new("fuzzed.txt"), data) {
        Ok(set) => check_set(&set),
        Err(err) => one_line(&err.to_string()),
    }
}

/// A `-p` port list, for every protocol prefix.
pub fn port_list(data: &[u8]) {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    let all = match PortList::parse(spec) {
        Ok(list) => list,
        Err(err) => return one_line(&err.to_string()),
    };
    // In the order given, each port once.
    let ports = all.as_slice();
    for (i, &port) in ports.iter().enumerate() {
        assert_eq!(all.index_of(port), Some(i));
    }
    for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Ip] {
        match PortList::parse_for(spec, proto) {
            Ok(list) => assert!(list.iter().all(|port| all.contains(port))),
            Err(err) => one_line(&err.to_string()),
        }
    }
}

/// An `--os-db` file, in both dialects; what parses must match a fingerprint without panic.
pub fn os_db(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for dialect in [Dialect::of_file(&text), Dialect::Nmap793, Dialect::Nmap794] {
        match OsDb::parse(&text, dialect) {
            Ok(db) => {
                for reference in &db.references {
                    let subject = reference.fingerprint.map_values(|expr| expr.to_string());
                    match_fingerprint(&subject, &db, GUESS_THRESHOLD);
                }
            }
            Err(err) => one_line(&err.to_string()),
        }
    }
}

/// A subject fingerprint as nmap prints it, matched against the built-in database.
pub fn os_fingerprint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_subject(&text) {
        Ok(subject) => {
            let reprinted = subject.to_string();
            assert_eq!(
                parse_subject(&reprinted).as_ref(),
                Ok(&subject),
                "{reprinted}"
            );
            match_fingerprint(&subject, builtin(), GUESS_THRESHOLD);
        }
        Err(err) => one_line(&err.to_string()),
    }
}

/// Replies to a round of OS probes, whatever a hostile target sends: each packet is aimed at
/// one probe (addresses and the fields replies are filed by set), the rest is the fuzzer's.
/// The round's fingerprint must print, parse back and match.
pub fn os_replies(data: &[u8]) {
    let plan = os_plan();
    let (gaps, mut rest) = data.split_at(data.len().min(SeqNo::ALL.len()));
    let mut replies = RoundReplies::new();
    let mut at = Duration::ZERO;
    for (&seq, &gap_ms) in SeqNo::ALL.iter().zip(gaps) {
        at += Duration::from_millis(u64::from(gap_ms) * 4);
        replies.record_sent(Probe::Seq(seq), at);
    }
    while let [selector, len, tail @ ..] = rest {
        let (body, next) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = next;
        let probe = Probe::ALL[usize::from(*selector) % Probe::ALL.len()];
        replies.record_reply(&plan, &aimed_at(&plan, probe, body));
    }
    let round = fingerprint_round(&plan, &replies, None);
    let printed = round.fingerprint.to_string();
    match parse_subject(&printed) {
        Ok(reparsed) => {
            assert_eq!(reparsed, round.fingerprint, "{printed}");
            match_fingerprint(&reparsed, builtin(), GUESS_THRESHOLD);
        }
        Err(err) => panic!("our own fingerprint does not parse back: {err}\n{printed}"),
    }
}

/// A frame as the packet trace (--packet-trace) describes it: one line, whatever it holds.
pub fn frame(data: &[u8]) {
    one_line(&Frame(data).to_string());
}

/// The nmap-services and nmap-protocols files, read from the system when present.
pub fn services(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let services = Services::parse(&text);
    for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp] {
        for port in [0, 1, 22, 80, 443, u16::MAX] {
            services.name(proto, port);
        }
    }
    services.top_tcp_ports(1000);
    let protocols = Protocols::parse(&text);
    assert!(
        protocols
            .named()
            .all(|number| protocols.name(number).is_some())
    );
}

/// `scanner merge`'s inputs: the bytes up to the first NUL one file, the rest another. What
/// it writes must read back: merging the merged output alone gives it again.
pub fn merge(data: &[u8]) {
    let (first, second) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let inputs = [first, second].map(|bytes| crate::merge::Input {
        name: "fuzzed".to_owned(),
        text: String::from_utf8_lossy(bytes).into_owned(),
    });
    let mut out = Vec::new();
    match crate::merge::merge(&inputs, &mut out) {
        Ok(_) => {
            let again = [crate::merge::Input {
                name: "merged".to_owned(),
                text: String::from_utf8(out).expect("merge writes UTF-8"),
            }];
            if let Err(err) = crate::merge::merge(&again, &mut Vec::new()) {
                panic!("a merged report does not read back: {err}");
            }
        }
        Err(err) => one_line(&err),
    }
}

/// The round of OS probes [`os_replies`] answers: the lab's addresses, fixed ports and ids.
fn os_plan() -> ProbePlan {
    ProbePlan {
        source: Ipv4Addr::new(198, 18, 0, 1),
        target: Ipv4Addr::new(198, 18, 0, 2),
        open_tcp_port: Some(22),
        closed_tcp_port: Some(23),
        closed_udp_port: 40_125,
        tcp_port_base: 40_000,
        udp_source_port: 50_000,
        tcp_seq_base: 0x1000_0000,
        tcp_ack: 0x2000_0000,
        icmp_echo_id: 0x1234,
        ttl: 50,
        udp_ttl: 60,
        u1_ip_id: U1_IP_ID,
    }
}

/// An IPv4 packet from `plan.target` to `plan.source` that files under `probe`: `body` is
/// the packet, padded, with the fields the filing reads overwritten.
fn aimed_at(plan: &ProbePlan, probe: Probe, body: &[u8]) -> Vec<u8> {
    let mut packet = body.to_vec();
    packet.resize(packet.len().max(28), 0);
    packet[0] = 0x40 | (packet[0] & 0x0f).max(5);
    let header = usize::from(packet[0] & 0x0f) * 4;
    packet.resize(packet.len().max(header + 8), 0);
    packet[12..16].copy_from_slice(&plan.target.octets());
    packet[16..20].copy_from_slice(&plan.source.octets());
    let l4 = header;
    let set16 = |packet: &mut Vec<u8>, at: usize, value: u16| {
        packet[at..at + 2].copy_from_slice(&value.to_be_bytes());
    };
    match probe {
        Probe::Ie1 | Probe::Ie2 => {
            packet[9] = 1;
            packet[l4] = 0;
            let id = plan.icmp_echo_id + u16::from(probe == Probe::Ie2);
            set16(&mut packet, l4 + 4, id);
        }
        Probe::U1 => {
            packet[9] = 1;
            packet[l4] = 3;
            packet[l4 + 1] = 3;
            let quoted = l4 + 8;
            packet.resize(packet.len().max(quoted + 28), 0);
            packet[quoted] = 0x40 | (packet[quoted] & 0x0f).max(5);
            let udp = quoted + usize::from(packet[quoted] & 0x0f) * 4;
            packet.resize(packet.len().max(udp + 8), 0);
            packet[quoted + 9] = 17;
            set16(&mut packet, udp, plan.udp_source_port);
            set16(&mut packet, udp + 2, plan.closed_udp_port);
        }
        _ => {
            packet[9] = 6;
            packet.resize(packet.len().max(l4 + 20), 0);
            // A data offset of at least 5 words, inside the packet: the rest is the fuzzer's.
            let words = (packet[l4 + 12] >> 4).max(5);
            packet[l4 + 12] = words << 4 | (packet[l4 + 12] & 0x0f);
            packet.resize(packet.len().max(l4 + usize::from(words) * 4), 0);
            let offset = Probe::ALL.iter().position(|&p| p == probe).unwrap_or(0) as u16;
            set16(&mut packet, l4 + 2, plan.tcp_port_base + offset);
            if let Some(from) = plan.tcp_destination(probe) {
                set16(&mut packet, l4, from);
            }
        }
    }
    packet
}

/// A target set's own views of itself agree: its length, its ranges, lookups both ways.
fn check_set(set: &TargetSet) {
    let from_ranges: u64 = set
        .ranges()
        .map(|r| u64::from(r.end() - r.start()) + 1)
        .sum();
    assert_eq!(set.len(), from_ranges);
    if let (Some(first), Some(last)) = (set.first(), set.last()) {
        assert_eq!(set.get(0), Some(first));
        assert_eq!(set.get(set.len() - 1), Some(last));
        assert_eq!(set.index_of(last), Some(set.len() - 1));
        assert!(set.contains(first) && set.contains(last));
    } else {
        assert!(set.is_empty());
    }
    assert_eq!(set.get(set.len()), None);
}

/// Error messages are printed after `scanner: error: `, so they must be one line.
fn one_line(message: &str) {
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{message:?}"
    );
}

fn builtin() -> &'static OsDb {
    static DB: std::sync::OnceLock<OsDb> = std::sync::OnceLock::new();
    DB.get_or_init(|| OsDb::builtin().expect("the built-in OS database parses"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    fn corpus(target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_target_replays_its_corpus_clean() {
        for (name, body) in TARGETS {
            let files = corpus(name);
            assert!(!files.is_empty(), "fuzz/corpus/{name} has seeds");
            for file in files {
                let data = fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| body(&data));
                assert!(outcome.is_ok(), "{name} fails on {}", file.display());
            }
        }
    }

    #[test]
    fn every_target_has_a_fuzz_target_file() {
        for (name, _) in TARGETS {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/fuzz_targets")
                .join(format!("{name}.rs"));
            let text = fs::read_to_string(&path).unwrap();
            assert!(text.contains(&format!("scanner::fuzz::{name}(")), "{text}");
        }
    }

    #[test]
    fn the_aimed_replies_file_under_their_probe() {
        let plan = os_plan();
        for probe in Probe::ALL {
            for body in [&[][..], &[0x46; 80][..]] {
                let packet = aimed_at(&plan, probe, body);
                assert_eq!(plan.probe_for_reply(&packet), Some(probe), "{body:?}");
            }
        }
    }
}
