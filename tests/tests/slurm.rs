//! A real Slurm job array runs `deploy/slurm/scan-array.sbatch` as it ships: a one-node cluster
//! (munged, slurmctld, slurmd started and stopped by the test), four array tasks at once, each
//! scanner in a namespace and on an interface of its own (the lab's extra scanners, as four
//! machines) against the one lab target, each taking its shard from `SLURM_ARRAY_TASK_ID`.
//! `scanner merge` of the four shards' outputs equals one scan of the same range: the same
//! states in -oJ and -oC, each (address, port) in exactly one shard, and the merged -oX is the
//! single scan's as ndiff reads it, valid against nmap.dtd.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use common::{
    Found,
    consumers::{assert_valid_xml, ndiff},
    parse_json_states_of, run, scanner, scanner_bin,
    scratch::Scratch,
    wait_bounded,
};
use scanner_tests::{LabConfig, slurm::Slurm};

const TASKS: u8 = 4;
const SEED: &str = "20261207";
const TARGETS: &str = "198.18.128.0/24";
const PORTS: &str = "22,23,80,443,8081,8082";
/// What the array may take, queueing included (the scans take seconds each).
const ARRAY_TIMEOUT: Duration = Duration::from_secs(240);

/// The job script as it ships.
fn job_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/slurm/scan-array.sbatch")
}

/// A directory for the cluster and the job, removed afterwards.
/// A `scanner` for the job's PATH that runs the real one in the namespace of "machine"
/// `SLURM_ARRAY_TASK_ID`, allowed to scan the lab: the script itself runs unchanged.
fn write_wrapper(dir: &Path, namespaces: &[String]) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let cases: String = namespaces
        .iter()
        .enumerate()
        .map(|(task, ns)| format!("    {task}) ns={ns} ;;\n"))
        .collect();
    let script = format!(
        "#!/bin/sh\n\
         case \"$SLURM_ARRAY_TASK_ID\" in\n{cases}    *) echo \"no machine for task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n\
         esac\n\
         exec ip netns exec \"$ns\" {scanner} --allowlist-file {allow} \"$@\"\n",
        scanner = scanner_bin().display(),
        allow = scanner_tests::LAB_ALLOWLIST,
    );
    let wrapper = bin.join("scanner");
    fs::write(&wrapper, script).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Every (address, port) state of an -oJ file.
fn states(path: &Path) -> Vec<Found> {
    parse_json_states_of(&fs::read(path).unwrap(), "tcp")
}

/// The CSV rows without their last column, the reply's timestamp.
fn csv_rows(path: &Path) -> BTreeSet<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            line.rsplit_once(',')
                .map_or(line, |(rest, _)| rest)
                .to_owned()
        })
        .collect()
}

#[test]
fn a_slurm_job_array_of_four_shards_merges_into_the_single_scan() {
    let Some(lab) = common::lab(LabConfig {
        extra_scanners: TASKS,
        ..LabConfig::default()
    }) else {
        return;
    };
    let scratch = Scratch::new("slurm");
    let slurm = Slurm::start(&scratch.0.join("cluster"), 2 * u32::from(TASKS))
        .unwrap_or_else(|err| panic!("starting Slurm: {err:#}"));
    let job_dir = scratch.0.join("job");
    fs::create_dir_all(&job_dir).unwrap();
    let bin = write_wrapper(&scratch.0, lab.extra_scanner_ns());

    // The script's own directives, but for the array's size and `--exclusive`: the four
    // "machines" share this one node, so the tasks run at once, as on four nodes.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut sbatch = slurm.command("sbatch");
    sbatch
        .args(["--wait", "--parsable", "--time=4"])
        .arg(format!("--array=0-{}", TASKS - 1))
        .arg("--exclusive=user")
        .arg(format!("--chdir={}", job_dir.display()))
        .arg(job_script())
        .env("PATH", path)
        .envs([
            ("SEED", SEED),
            ("TARGETS", TARGETS),
            ("PORTS", PORTS),
            ("RATE", "20000"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let submitted = wait_bounded(&mut sbatch.spawn().unwrap(), ARRAY_TIMEOUT);
    let job = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();
    let logs: String = (0..TASKS)
        .map(|task| {
            let log = job_dir.join(format!("scan-{job}_{task}.log"));
            format!(
                "\n[task {task}] {}",
                fs::read_to_string(log).unwrap_or_default()
            )
        })
        .collect();
    assert!(
        submitted.status.success(),
        "the job array failed ({}): {} {logs} {}",
        submitted.status,
        String::from_utf8_lossy(&submitted.stderr),
        slurm.logs()
    );
    for task in 0..TASKS {
        let said = format!(
            "shard {task} of {TASKS}, from the Slurm job array's SLURM_ARRAY_TASK_ID={task}"
        );
        assert!(
            logs.contains(&said),
            "task {task} says where its shard came from: {logs}"
        );
    }

    let results = job_dir.join("results").join(&job);
    let shard = |task: u8, ext: &str| results.join(format!("shard-{task}.{ext}"));
    let merged = |ext: &str| scratch.0.join(format!("merged.{ext}"));
    for ext in ["jsonl", "xml", "csv"] {
        let mut merge = Command::new(scanner_bin());
        merge.args(["merge", "-o"]).arg(merged(ext));
        merge.args((0..TASKS).map(|task| shard(task, ext)));
        run(&mut merge);
    }

    // The same scan on one machine: the lab's own scanner namespace.
    let whole = |ext: &str| scratch.0.join(format!("whole.{ext}"));
    let mut single = scanner(&lab);
    single.args(["--seed", SEED, "-p", PORTS, "--rate", "20000", TARGETS]);
    for (flag, ext) in [("-oJ", "jsonl"), ("-oX", "xml"), ("-oC", "csv")] {
        single.arg(flag).arg(whole(ext));
    }
    run(&mut single);

    // Each pair in exactly one shard, every shard a part of the whole.
    let whole_states = states(&whole("jsonl"));
    let answered = |found: &[Found]| -> BTreeMap<(std::net::Ipv4Addr, u16), Found> {
        found
            .iter()
            .filter(|found| found.reason != "no-response")
            .map(|found| ((found.ip, found.port), found.clone()))
            .collect()
    };
    let mut seen = BTreeSet::new();
    let mut shards_answered = 0;
    for task in 0..TASKS {
        let part = states(&shard(task, "jsonl"));
        assert!(!part.is_empty(), "shard {task} found nothing");
        for found in &part {
            assert!(
                seen.insert((found.ip, found.port)),
                "{found:?} is in two shards (or twice in shard {task})"
            );
        }
        shards_answered += answered(&part).len();
    }
    // 256 hosts x 6 ports: 5 of them answer (3 open, 1 closed, 1 rejected), 8081 is silent.
    let whole_answered = answered(&whole_states);
    assert_eq!(whole_answered.len(), 256 * 5, "the single scan");
    assert_eq!(shards_answered, whole_answered.len(), "the shards add up");

    let merged_states = states(&merged("jsonl"));
    assert_eq!(answered(&merged_states), whole_answered, "merged -oJ");
    let whole_all: BTreeSet<Found> = whole_states.into_iter().collect();
    assert!(
        merged_states.iter().all(|found| whole_all.contains(found)),
        "merged -oJ lists nothing the single scan does not"
    );

    let loud = |rows: &BTreeSet<String>| -> BTreeSet<String> {
        rows.iter()
            .filter(|row| !row.contains("no-response"))
            .cloned()
            .collect()
    };
    let (merged_csv, whole_csv) = (csv_rows(&merged("csv")), csv_rows(&whole("csv")));
    assert_eq!(loud(&merged_csv), loud(&whole_csv), "merged -oC");
    assert!(merged_csv.is_subset(&whole_csv), "merged -oC");

    let merged_xml = merged("xml").display().to_string();
    assert_valid_xml(&merged_xml);
    assert_eq!(
        ndiff(&whole("xml").display().to_string(), &merged_xml),
        Vec::<String>::new(),
        "ndiff of the single scan's XML against the merged shards'"
    );
    drop(slurm);
    lab.down();
}
