//! The engine's walk in the lab: shards that add up to the whole scan, caps, dry runs that
//! repeat per seed, and several sender threads that lose nothing.

mod common;

use std::collections::BTreeSet;

use common::{Found, pairs, parse_json_lines, run, scanner};
use scanner_tests::LabConfig;

/// A /20 of the lab on an open and a closed port: 8192 probes.
const RANGE: &str = "198.18.128.0/20";
const PORTS: &str = "80,23";
const PROBES: usize = 2 * 4096;

/// The summary's `  sent N packets (R retries) ...` figures.
fn sent_and_retries(stderr: &[u8]) -> (u64, u64) {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("  sent "))
        .unwrap_or_else(|| panic!("no sent line in:\n{text}"));
    let mut words = line.split_whitespace();
    let sent = words.next().unwrap().parse().unwrap();
    let retries = words
        .nth(1)
        .unwrap()
        .trim_start_matches('(')
        .parse()
        .unwrap();
    (sent, retries)
}

#[test]
fn shards_of_one_seed_cover_the_scan_exactly_once_from_flags_or_schedulers() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let mut union: Vec<Found> = Vec::new();
    let mut first_pass_total = 0;
    // Shard 0 by its flag, 1 as a Kubernetes Indexed Job's index, 2 as the last task of a
    // Slurm job array numbered from 1 (`--array=1-3`).
    for shard in 0..3 {
        let mut command = scanner(&lab);
        command.args([
            "-p", PORTS, RANGE, "--rate", "50000", "--wait", "1", "--seed", "42", "--shards", "3",
            "-oJ", "-",
        ]);
        let note = match shard {
            0 => {
                command.args(["--shard", "0"]);
                None
            }
            1 => {
                command.env("JOB_COMPLETION_INDEX", "1");
                Some(
                    "scanner: note: shard 1 of 3, from the Kubernetes Indexed Job's JOB_COMPLETION_INDEX",
                )
            }
            _ => {
                command.envs([
                    ("SLURM_ARRAY_TASK_ID", "3"),
                    ("SLURM_ARRAY_TASK_MIN", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ]);
                Some(
                    "scanner: note: shard 2 of 3, from the Slurm job array's SLURM_ARRAY_TASK_ID=3",
                )
            }
        };
        let output = run(&mut command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(note) = note {
            assert!(stderr.contains(note), "{stderr}");
        }
        assert!(
            stderr.contains(&format!("shard {shard} of 3")),
            "the summary names the shard: {stderr}"
        );
        let found = parse_json_lines(&output.stdout);
        let (sent, retries) = sent_and_retries(&output.stderr);
        assert_eq!(
            found.len() as u64,
            sent - retries,
            "shard {shard}: one result per probe"
        );
        assert!(
            (2600..2860).contains(&found.len()),
            "shard {shard} holds about a third: {}",
            found.len()
        );
        first_pass_total += sent - retries;
        union.extend(found);
    }
    assert_eq!(first_pass_total as usize, PROBES);
    let distinct = pairs(&union);
    assert_eq!(distinct.len(), PROBES, "shards overlap");
    let whole = run(scanner(&lab).args([
        "-p", PORTS, RANGE, "--rate", "50000", "--wait", "1", "-oJ", "-",
    ]));
    let whole: BTreeSet<Found> = parse_json_lines(&whole.stdout).into_iter().collect();
    let union: BTreeSet<Found> = union.into_iter().collect();
    assert_eq!(union, whole, "three shards found what one scan finds");
}

#[test]
fn max_targets_caps_the_first_pass() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    for cap in ["1000", "25%"] {
        let output = run(scanner(&lab).args([
            "-p",
            PORTS,
            RANGE,
            "--rate",
            "50000",
            "--wait",
            "1",
            "--max-targets",
            cap,
            "--sender-threads",
            "2",
            "-oJ",
            "-",
        ]));
        let expected = if cap == "1000" { 1000 } else { PROBES / 4 };
        let found = parse_json_lines(&output.stdout);
        let (sent, retries) = sent_and_retries(&output.stderr);
        assert_eq!((sent - retries) as usize, expected, "--max-targets {cap}");
        assert_eq!(
            pairs(&found).len(),
            expected,
            "--max-targets {cap}: every probe answered once"
        );
    }
}

#[test]
fn dry_run_repeats_per_seed_and_sends_nothing() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    // The probe order, as "address:port" words; the cookie key is random per run.
    let dry = |seed: &str| -> Vec<String> {
        let output = run(scanner(&lab).args(["-p", PORTS, RANGE, "--dry-run", "--seed", seed]));
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            text.lines()
                .all(|l| l.starts_with("TCP 198.18.0.1:") && l.contains(" S ttl=64")),
            "not a SYN from the lab source: {:?}",
            text.lines().next()
        );
        text.lines()
            .map(|l| l.split_whitespace().nth(3).unwrap().to_owned())
            .collect()
    };
    let syns_before = lab.snmp_counter(false, "Tcp", "InSegs").unwrap();
    let order = dry("7");
    assert!(order == dry("7"), "the same seed must give the same order");
    assert!(order != dry("8"), "another seed must give another order");
    assert_eq!(order.len(), PROBES);
    let distinct: BTreeSet<&String> = order.iter().collect();
    assert_eq!(distinct.len(), PROBES, "every probe once");
    let syns_after = lab.snmp_counter(false, "Tcp", "InSegs").unwrap();
    assert_eq!(syns_before, syns_after, "a dry run sent a SYN");
    assert!(!lab.xdp_attached().unwrap());
}

#[test]
fn two_sender_threads_on_each_send_path_lose_nothing() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    for path in ["af-packet", "af-xdp"] {
        let output = run(scanner(&lab).args([
            "-p",
            PORTS,
            RANGE,
            "--rate",
            "100000",
            "--wait",
            "1",
            "--sender-threads",
            "2",
            "--send-path",
            path,
            "-oJ",
            "-",
        ]));
        let found = parse_json_lines(&output.stdout);
        assert_eq!(pairs(&found).len(), PROBES, "{path}");
        assert_eq!(found.len(), PROBES, "{path}: no duplicates");
        let open = found
            .iter()
            .filter(|f| f.port == 80 && f.state == "open")
            .count();
        let closed = found
            .iter()
            .filter(|f| f.port == 23 && f.state == "closed")
            .count();
        assert_eq!((open, closed), (PROBES / 2, PROBES / 2), "{path}");
        let summary = String::from_utf8_lossy(&output.stderr);
        let shown = if path == "af-xdp" {
            "AF_XDP"
        } else {
            "AF_PACKET"
        };
        assert!(
            summary.contains(&format!("2 {shown} threads")),
            "{path}: {summary}"
        );
    }
}

#[test]
fn max_runtime_stops_sending_and_says_so() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    // 8192 probes at 2000 pps would take 4 s; the cap stops the first pass after one.
    let output = run(scanner(&lab).args([
        "-p",
        PORTS,
        RANGE,
        "--rate",
        "2000",
        "--wait",
        "0.5",
        "--max-runtime",
        "1",
        "-oJ",
        "-",
    ]));
    let (sent, retries) = sent_and_retries(&output.stderr);
    assert_eq!(retries, 0, "no retry pass after the time is up");
    assert!(
        (1500..=2600).contains(&sent),
        "sent {sent} in about a second"
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("stopped at --max-runtime"), "{summary}");
    assert!(summary.contains("probes not sent"), "{summary}");
    assert_eq!(parse_json_lines(&output.stdout).len() as u64, sent);
}
