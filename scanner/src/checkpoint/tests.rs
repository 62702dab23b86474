use std::net::Ipv4Addr;

use super::{journal::Journal, *};
use crate::{
    engine::place::{CursorPlace, TrailingPlace},
    order::{WalkPlan, WalkState},
    results::ScanResult,
    verdict::{PortState, Proto, Reason},
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("checkpoint-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan_id() -> PlanId {
    PlanId {
        scan: "-sS".into(),
        addresses: 256,
        targets: "0123abcd".into(),
        ports: "22,80".into(),
        seed: 7,
        shard: (0, 1),
        sender_threads: 2,
        max_targets: None,
        retries: 3,
    }
}

fn state(plan: &WalkPlan, thread: u32, steps: usize) -> WalkState {
    let mut walk = plan.thread_walk(thread);
    walk.by_ref().take(steps).for_each(drop);
    walk.state()
}

fn checkpoint(dir: &Path) -> Checkpoint {
    let plan = WalkPlan::new(512, 7, 0, 1, 2, None).unwrap();
    Checkpoint {
        version: VERSION,
        args: vec!["-p".into(), "22,80".into(), "198.18.128.0/24".into()],
        plan: plan_id(),
        journal: dir.join("paused.json.1.results"),
        journal_bytes: 120,
        results: 2,
        place: SendPlace::Trailing {
            threads: (0..2)
                .map(|thread| TrailingPlace {
                    lead: state(&plan, thread, 100),
                    cursors: vec![CursorPlace {
                        walk: state(&plan, thread, 40),
                        resent: 30,
                        recovered: 1,
                        resends: true,
                    }],
                })
                .collect(),
        },
    }
}

#[test]
fn a_checkpoint_reads_back_as_it_was_written() {
    let dir = scratch("round-trip");
    let path = dir.join("paused.json");
    let written = checkpoint(&dir);
    written.write(&path).unwrap();
    let read = Checkpoint::read(&path).unwrap();
    assert_eq!(read.plan, written.plan);
    assert_eq!(read.place, written.place);
    assert_eq!(read.args, written.args);
    assert_eq!((read.journal_bytes, read.results), (120, 2));
    // Rewritten in place, atomically: no temporary file is left behind.
    written.write(&path).unwrap();
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["paused.json"]);
    // The places are places of the plan's walks.
    let plan = WalkPlan::new(512, 7, 0, 1, 2, None).unwrap();
    let SendPlace::Trailing { threads } = &read.place else {
        panic!("trailing");
    };
    let resumed: Vec<u64> = plan.thread_walk_at(1, threads[1].lead).unwrap().collect();
    let whole: Vec<u64> = plan.thread_walk(1).collect();
    assert_eq!(resumed, whole[100..]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn another_scans_checkpoint_is_refused_naming_what_differs() {
    let theirs = PlanId {
        ports: "22,23".into(),
        seed: 8,
        ..plan_id()
    };
    let differences = plan_id().differences(&theirs);
    assert_eq!(
        differences,
        ["ports 22,80 there, 22,23 here", "seed 7 there, 8 here"]
    );
    assert!(plan_id().differences(&plan_id()).is_empty());
    let error = CheckpointError::Mismatch {
        path: "paused.json".into(),
        differences,
    };
    assert_eq!(
        error.to_string(),
        "paused.json was written for another scan: ports 22,80 there, 22,23 here; seed 7 there, 8 here"
    );
}

#[test]
fn truncated_corrupt_foreign_and_future_files_are_one_line_errors() {
    let dir = scratch("bad");
    let path = dir.join("paused.json");
    checkpoint(&dir).write(&path).unwrap();
    let whole = fs::read(&path).unwrap();
    for (name, bytes) in [
        ("truncated", whole[..whole.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("not JSON", b"\x7fELF\x02\x01".to_vec()),
        (
            "another JSON",
            br#"{"version": 1, "hello": "world"}"#.to_vec(),
        ),
        ("a flipped byte", {
            let mut bytes = whole.clone();
            let at = bytes.iter().position(|&b| b == b'[').unwrap();
            bytes[at] = b'{';
            bytes
        }),
    ] {
        fs::write(&path, bytes).unwrap();
        let error = Checkpoint::read(&path).expect_err(name);
        assert!(
            matches!(error, CheckpointError::Corrupt(..)),
            "{name}: {error}"
        );
        let text = error.to_string();
        assert!(
            text.contains("paused.json is not a checkpoint"),
            "{name}: {text}"
        );
        assert!(!text.contains('\n'), "{name}: one line");
    }
    let mut future: serde_json::Value = serde_json::to_value(checkpoint(&dir)).unwrap();
    future["version"] = 99.into();
    fs::write(&path, future.to_string()).unwrap();
    assert_eq!(
        Checkpoint::read(&path).unwrap_err().to_string(),
        format!(
            "{} is a checkpoint of version 99, which this scanner does not know (it reads 1)",
            path.display()
        )
    );
    let missing = dir.join("nothing.json");
    assert!(
        Checkpoint::read(&missing)
            .unwrap_err()
            .to_string()
            .starts_with("cannot read the checkpoint")
    );
    let _ = fs::remove_dir_all(&dir);
}

fn result(last: u8, port: u16, state: PortState) -> ScanResult {
    ScanResult {
        ip: Ipv4Addr::new(198, 18, 128, last),
        port,
        proto: Proto::Tcp,
        state,
        reason: Reason::Reset,
        ttl: 64,
        responder: (last == 3).then_some(Ipv4Addr::new(198, 18, 0, 2)),
        local_port: Some(40000),
    }
}

#[test]
fn the_journal_gives_back_what_the_checkpoint_vouches_for_and_goes_on_after_it() {
    let dir = scratch("journal");
    let path = dir.join("j.results");
    let mut journal = Journal::create(&path).unwrap();
    let results = [
        result(1, 22, PortState::Open),
        result(2, 23, PortState::Closed),
        result(3, 80, PortState::Filtered),
    ];
    for r in &results[..2] {
        journal.record(r).unwrap();
    }
    let (bytes, count) = journal.sync().unwrap();
    assert_eq!(count, 2);
    // Written after the checkpoint, then the scanner was killed: not vouched for.
    journal.record(&results[2]).unwrap();
    journal.sync().unwrap();
    drop(journal);
    let read: Vec<ScanResult> = journal::read(&path, bytes)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, results[..2]);
    let mut resumed = Journal::resume(&path, bytes, count).unwrap();
    resumed.record(&results[2]).unwrap();
    let (bytes, count) = resumed.sync().unwrap();
    assert_eq!(count, 3);
    let read: Vec<ScanResult> = journal::read(&path, bytes)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, results);
    // Shorter than the checkpoint says, or garbled: an error, not a guess.
    let error = journal::read(&path, bytes + 1).err().expect("too short");
    assert!(
        error.to_string().contains("the checkpoint vouches for"),
        "{error}"
    );
    fs::write(&path, b"{\"ip\":\"198.18.128.1\"}\n").unwrap();
    let error = journal::read(&path, 22)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(error.to_string().starts_with("line 1: "), "{error}");
    let _ = fs::remove_dir_all(&dir);
}
