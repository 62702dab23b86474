//! `cargo xtask fuzz`: every target of `fuzz/` under libFuzzer (cargo fuzz), one after the
//! other, for a set time each; one line per target with its runs, coverage and corpus, and
//! the crash it found, if any.
//!
//! Each target starts from its committed seeds (`fuzz/corpus/<target>`, replayed by the unit
//! tests too) and, where nmap is installed, nmap's own files; what libFuzzer adds goes to
//! `target/fuzz/corpus/<target>`, kept between runs. A crash is written to
//! `fuzz/artifacts/<target>/`: it becomes a seed and a unit test.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    cmd,
    setup::{self, EBPF_TOOLCHAIN, Scope, USER_TOOLCHAIN},
};

pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
const INSTALL_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// nmap's files that are outside input to a target, added to its corpus when present. They
/// come under nmap's licence, so they are read from the system, never committed.
const SYSTEM_SEEDS: &[(&str, &str)] = &[
    ("os_db", "/usr/share/nmap/nmap-os-db"),
    ("services", "/usr/share/nmap/nmap-services"),
    ("services", "/usr/share/nmap/nmap-protocols"),
    ("payloads", "/usr/share/nmap/nmap-payloads"),
];

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Minutes per target.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    minutes: u64,
    /// Only these targets (default: every file in fuzz/fuzz_targets).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
}

pub fn run(args: &FuzzArgs) -> Result<()> {
    setup::setup(Scope::Demo)?;
    let cargo_fuzz = cargo_fuzz()?;
    let root = cmd::workspace_root();
    let all = targets(&root)?;
    let chosen: Vec<String> = if args.targets.is_empty() {
        all
    } else {
        for name in &args.targets {
            if !all.contains(name) {
                bail!("no fuzz target {name:?}: there are {}", all.join(", "));
            }
        }
        args.targets.clone()
    };
    let seconds = args.minutes * 60;
    let mut crashed = Vec::new();
    for target in &chosen {
        let outcome = fuzz_one(&cargo_fuzz, &root, target, seconds)?;
        println!("fuzz {target}: {outcome}");
        if outcome.crash.is_some() {
            crashed.push(target.as_str());
        }
    }
    if !crashed.is_empty() {
        bail!("crashes in {}", crashed.join(", "));
    }
    Ok(())
}

/// The targets: the files of `fuzz/fuzz_targets`, by name.
fn targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// What one target's run came to.
#[derive(Debug, Default)]
struct Outcome {
    runs: u64,
    seconds: f64,
    coverage: u64,
    corpus: u64,
    crash: Option<String>,
    log: PathBuf,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} runs in {:.0} s, {} edges covered, corpus {}; ",
            self.runs, self.seconds, self.coverage, self.corpus
        )?;
        match &self.crash {
            Some(artifact) => write!(f, "CRASH: {artifact} (log {})", self.log.display()),
            None => write!(f, "no crash"),
        }
    }
}

fn fuzz_one(cargo_fuzz: &Path, root: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus").join(target);
    fs::create_dir_all(&corpus)?;
    for (name, file) in SYSTEM_SEEDS {
        let from = Path::new(file);
        if *name == target && from.exists() {
            let to = corpus.join(format!("system-{}", from.file_name().unwrap().display()));
            fs::copy(from, &to).with_context(|| format!("copying {file}"))?;
        }
    }
    let seeds = root.join("fuzz/corpus").join(target);
    let log = work.join(format!("{target}.log"));
    let started = Instant::now();
    let mut fuzz = Command::new(cargo_fuzz);
    fuzz.current_dir(root)
        .env("RUSTUP_TOOLCHAIN", EBPF_TOOLCHAIN)
        .env(
            "PATH",
            cmd::path_with_first(&[&cmd::cargo_home().join("bin")]),
        )
        .args(["fuzz", "run", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-print_final_stats=1", "-max_len=65536", "-timeout=10"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log)?);
    println!("fuzz {target}: {seconds} s ... (log {})", log.display());
    let status = fuzz
        .status()
        .with_context(|| format!("running {}", cmd::display(&fuzz)))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let mut outcome = parse_log(&text);
    outcome.seconds = started.elapsed().as_secs_f64().min(outcome_seconds(&text));
    outcome.log = log;
    if !status.success() && outcome.crash.is_none() {
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz {target}: cargo fuzz failed ({status}) without a crash:\n{}",
            tail.join("\n")
        );
    }
    Ok(outcome)
}

/// The numbers libFuzzer prints at the end (`-print_final_stats=1`) and the artifact of a crash.
fn parse_log(text: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in text.lines() {
        if let Some(runs) = line.strip_prefix("stat::number_of_executed_units: ") {
            outcome.runs = runs.trim().parse().unwrap_or(0);
        }
        if let Some(artifact) = line.split("Test unit written to ").nth(1) {
            outcome.crash = Some(artifact.trim().to_owned());
        }
        // `#123 DONE   cov: 456 ft: 789 corp: 12/3456b ...` and the pulses before it.
        let mut words = line.split_whitespace();
        if words.next().is_some_and(|w| w.starts_with('#')) {
            let rest: Vec<&str> = words.collect();
            for pair in rest.windows(2) {
                match pair[0] {
                    "cov:" => outcome.coverage = pair[1].parse().unwrap_or(outcome.coverage),
                    "corp:" => {
                        let count = pair[1].split('/').next().unwrap_or_default();
                        outcome.corpus = count.parse().unwrap_or(outcome.corpus);
                    }
                    _ => {}
                }
            }
        }
    }
    outcome
}

/// libFuzzer's own `Done N runs in S second(s)`, else unbounded.
fn outcome_seconds(text: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("Done "))
        .filter_map(|rest| rest.split(" runs in ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(f64::INFINITY)
}

/// cargo-fuzz of the pinned version, installed into `$CARGO_HOME/bin` when missing.
fn cargo_fuzz() -> Result<PathBuf> {
    let wanted = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    if let Some(path) = cmd::find_program("cargo-fuzz")
        && cmd::output(Command::new(&path).arg("--version"))
            .is_ok_and(|version| version.trim() == wanted)
    {
        return Ok(path);
    }
    println!("fuzz: cargo install cargo-fuzz {CARGO_FUZZ_VERSION} ...");
    let mut install = cmd::cargo();
    install
        .env_remove("CARGO_TARGET_DIR")
        .arg(format!("+{USER_TOOLCHAIN}"))
        .args(["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION])
        .args(["--locked", "--force"]);
    cmd::run_quietly(&mut install, INSTALL_TIMEOUT)?;
    cmd::find_program("cargo-fuzz").context("cargo-fuzz not found after cargo install")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_and_crashes_are_read_from_the_log() {
        let log = "\
INFO: Seed: 1
#2\tINITED cov: 40 ft: 41 corp: 3/30b exec/s: 0 rss: 30Mb
#4096\tpulse  cov: 120 ft: 300 corp: 25/900b lim: 43 exec/s: 2048 rss: 40Mb
Done 5000 runs in 61 second(s)
stat::number_of_executed_units: 5000
stat::peak_rss_mb: 41
";
        let outcome = parse_log(log);
        assert_eq!(
            (outcome.runs, outcome.coverage, outcome.corpus),
            (5000, 120, 25)
        );
        assert_eq!(outcome.crash, None);
        assert_eq!(outcome_seconds(log), 61.0);
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
            artifact_prefix='/r/fuzz/artifacts/port_list/'; Test unit written to \
            /r/fuzz/artifacts/port_list/crash-da39a3\n";
        assert_eq!(
            parse_log(crash).crash.as_deref(),
            Some("/r/fuzz/artifacts/port_list/crash-da39a3")
        );
    }

    #[test]
    fn every_target_file_is_a_bin_of_the_fuzz_crate() {
        let root = cmd::workspace_root();
        let manifest = fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
        let targets = targets(&root).unwrap();
        assert!(targets.len() >= 8, "{targets:?}");
        for target in targets {
            assert!(
                manifest.contains(&format!(
                    "name = \"{target}\"\npath = \"fuzz_targets/{target}.rs\""
                )),
                "fuzz/Cargo.toml lacks {target}"
            );
        }
    }
}
