//! Developer tasks for the scanner workspace, run as `cargo xtask <task>` (an alias in
//! .cargo/config.toml). Does not depend on the scanner crate: it has to build before
//! bpf-linker exists.

mod bench;
mod build;
mod cmd;
mod fuzz;
mod guest;
mod install;
mod lab;
mod setup;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use setup::Scope;

#[derive(Parser, Debug)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for the scanner workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Install what is missing (apt packages, toolchains, bpf-linker); a second run installs
    /// nothing.
    Setup {
        /// Only what the demo needs: no nmap, masscan, zmap, tshark or usrsctp.
        #[arg(long)]
        demo: bool,
    },
    /// The lab: two network namespaces joined by veth, addressed from 198.18.0.0/15.
    Lab {
        #[command(subcommand)]
        command: lab::LabCommand,
    },
    /// Setup, `cargo build --release`, `cargo test --release` of the workspace, then the lab
    /// tests of `guest` on Debian 12's kernel. Extra arguments go to cargo test (e.g. a test's
    /// name, `-- --nocapture`) and skip the guest.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup (without the test peers), `cargo build --release`, then a SYN scan of a lab's /17,
    /// checked against what the lab answers.
    Demo,
    /// Setup, `cargo build --release`, then this scanner, masscan and zmap at rising rates
    /// against a lab's XDP responder: bench/results.md and bench/results.png.
    Bench(bench::BenchArgs),
    /// Setup (without the test peers), `cargo build --release`, then the scanner under PREFIX:
    /// bin/scanner with the capabilities to scan as any user (when run as root), its man page,
    /// and bash, zsh and fish completions.
    Install {
        #[arg(long, default_value = "/usr/local")]
        prefix: std::path::PathBuf,
    },
    /// A selection of the lab tests (every scan type, both XDP programs, the high-rate sweeps)
    /// on Debian 12's stock kernel, 6.1, booted with virtme-ng under QEMU.
    Guest {
        /// The kernel release, e.g. 6.1.0-57-amd64; default the newest 6.1 apt offers.
        #[arg(long)]
        kernel: Option<String>,
    },
    /// Setup (without the test peers), then every fuzz target of fuzz/ under libFuzzer (cargo
    /// fuzz, installed when missing) for --minutes each; fails on a crash.
    Fuzz(fuzz::FuzzArgs),
    /// Removes what `install` put under PREFIX.
    Uninstall {
        #[arg(long, default_value = "/usr/local")]
        prefix: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let result: Result<()> = match Cli::parse().task {
        Task::Setup { demo } => {
            setup::setup(if demo { Scope::Demo } else { Scope::Everything }).map(drop)
        }
        Task::Lab { command } => lab::run(command),
        Task::Test { args } => workspace::test(&args),
        Task::Demo => workspace::demo(),
        Task::Bench(args) => bench::run(&args),
        Task::Install { prefix } => install::install(&prefix),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Uninstall { prefix } => install::uninstall(&prefix),
        Task::Guest { kernel } => setup::setup(Scope::Everything)
            .and_then(|_| build::release())
            .and_then(|()| guest::run(kernel.as_deref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain of causes on one line each; no backtrace (RUST_BACKTRACE is for panics).
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_passes_arguments_through() {
        let cli = Cli::try_parse_from(["xtask", "test", "lab", "--", "--nocapture"]).unwrap();
        match cli.task {
            Task::Test { args } => assert_eq!(args, ["lab", "--", "--nocapture"]),
            other => panic!("{other:?}"),
        }
    }
}
