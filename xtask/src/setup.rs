//! `cargo xtask setup`: installs what the workspace needs on a fresh Debian 12 machine, checking
//! first, so a second run installs nothing.
//!
//! The one rule that matters: the eBPF toolchain's LLVM major must equal bpf-linker's. Debian 12
//! ships only LLVM 22; current nightlies are LLVM 23 and fail inside bpf-linker with
//! `ERROR llvm: Invalid record`. So the nightly is pinned here and checked.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The toolchain that builds scanner-ebpf (`nightly-2026-07-01`), and the LLVM major it
/// shares with bpf-linker (22: Debian 12's llvm-22-dev). Defined once, in scanner-common,
/// because scanner/build.rs hands the same constant to aya-build.
pub use scanner_common::{EBPF_LLVM_MAJOR as LLVM_MAJOR, EBPF_TOOLCHAIN};

/// The user-space toolchain (aya 0.16 needs rustc >= 1.98). Pinned here rather than in a
/// rust-toolchain.toml: with `RUSTUP_AUTO_INSTALL=0` such a file makes every `cargo` call in the
/// tree fail until the toolchain exists, `cargo xtask setup` included. xtask itself builds on
/// whatever stable rustup has, installs this one, runs every cargo of its own with it
/// ([`crate::cmd::cargo`]) and makes it the tree's rustup override for plain `cargo`.
pub const USER_TOOLCHAIN: &str = "1.99.1";
pub const USER_COMPONENTS: &[&str] = &["clippy", "rustfmt"];
pub const EBPF_COMPONENTS: &[&str] = &["rust-src"];
pub const BPF_LINKER_VERSION: &str = "0.13.0";

/// What a task needs installed: the demo only builds and runs a lab; tests and benchmarks also
/// run the tools we compare against and decode with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Build the workspace and run a lab.
    Demo,
    /// Also the peers of `cargo xtask test` and `bench`.
    Everything,
}

impl Scope {
    fn packages(self) -> Vec<&'static str> {
        match self {
            Scope::Demo => BUILD_AND_LAB_PACKAGES.to_vec(),
            Scope::Everything => [BUILD_AND_LAB_PACKAGES, PEER_PACKAGES].concat(),
        }
    }
}

/// Debian packages to build and run a lab: LLVM for building bpf-linker (llvm-config,
/// libLLVM.so.22 and what `llvm-config --system-libs` names), a C toolchain as host linker, and
/// the lab's `ip`, `nft`, `ethtool` and `sysctl`; `setcap` for `cargo xtask install`.
pub const BUILD_AND_LAB_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "build-essential",
    "ca-certificates",
    "iproute2",
    "procps",
    "nftables",
    "ethtool",
    "libcap2-bin",
];

/// Debian packages only tests and benchmarks use: the scanners we compare against, the
/// decoder, a real SCTP peer, the benchmark plot's font, and the guest's emulator.
pub const PEER_PACKAGES: &[&str] = &[
    "tshark",
    "nmap",
    "masscan",
    "zmap",
    // usrsctp's discard server: a real SCTP peer for the lab (the kernel has no SCTP module).
    "libusrsctp-examples",
    // DejaVu Sans, the text of `cargo xtask bench`'s plot.
    "fonts-dejavu-core",
    // The consumers of nmap's output that the output tests feed ours to.
    "ndiff",
    "python3-libnmap",
    "libxml2-utils",
    "xsltproc",
    // The Slurm test runs a real job array on a one-node cluster it starts itself.
    "slurm-wlm",
    "munge",
    // The fault tests count the kernel's BPF programs, maps and links before and after a scan.
    "bpftool",
    // `cargo xtask guest`: QEMU, and what virtme-ng needs beside it (its init is busybox; depmod
    // for the unpacked kernel's modules; a venv to install it from PyPI).
    "qemu-system-x86",
    "busybox-static",
    "kmod",
    "python3-venv",
];

const APT_UPDATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const APT_INSTALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const RUSTUP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const BPF_LINKER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Prints one line per step with the time it took.
struct Steps {
    start: Instant,
}

impl Steps {
    fn step<T>(&self, what: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let begun = Instant::now();
        let (value, outcome) = f().with_context(|| format!("setup step `{what}`"))?;
        println!(
            "[setup {:>6.1}s] {what}: {outcome} ({:.2}s)",
            self.start.elapsed().as_secs_f64(),
            begun.elapsed().as_secs_f64()
        );
        Ok(value)
    }

    /// Announces a long action before its own output starts.
    fn doing(&self, what: &str) {
        println!(
            "[setup {:>6.1}s] {what} ...",
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Installs what `scope` needs; `true` when it installed something.
pub fn setup(scope: Scope) -> Result<bool> {
    let steps = Steps {
        start: Instant::now(),
    };
    let mut installed = false;
    let packages = scope.packages();
    installed |= steps.step("apt packages", || apt_packages(&steps, &packages))?;
    let rustup = steps.step("rustup", || {
        let rustup = cmd::find_program("rustup").context(
            "rustup not found on PATH or in $CARGO_HOME/bin: install it from https://rustup.rs",
        )?;
        let version = cmd::output(Command::new(&rustup).arg("--version"))?;
        let version = version.lines().next().unwrap_or_default().to_owned();
        Ok((rustup.clone(), format!("{version} at {}", rustup.display())))
    })?;
    for (toolchain, components) in [
        (USER_TOOLCHAIN, USER_COMPONENTS),
        (EBPF_TOOLCHAIN, EBPF_COMPONENTS),
    ] {
        installed |= steps.step(&format!("toolchain {toolchain}"), || {
            toolchain_with(&steps, &rustup, toolchain, components)
        })?;
    }
    steps.step(&format!("LLVM of {EBPF_TOOLCHAIN}"), || {
        ebpf_llvm_matches(&rustup)
    })?;
    installed |= steps.step(&format!("bpf-linker {BPF_LINKER_VERSION}"), || {
        bpf_linker(&steps)
    })?;
    installed |= steps.step("rustup override", || tree_override(&rustup))?;
    println!(
        "[setup {:>6.1}s] done: {}",
        steps.start.elapsed().as_secs_f64(),
        if installed {
            "installed what was missing"
        } else {
            "nothing to install"
        }
    );
    Ok(installed)
}

/// The `packages` that are not installed (`dpkg-query`).
fn missing_packages<'a>(packages: &[&'a str]) -> Result<Vec<&'a str>> {
    // Exits 1 when some package is unknown, still printing the known ones.
    let out = cmd::output_unchecked(
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Package} ${Status}\\n"])
            .args(packages),
    )?;
    let installed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|line| line.ends_with(" install ok installed"))
        .filter_map(|line| line.split_whitespace().next())
        // Multi-arch packages print as name:arch.
        .map(|name| name.split(':').next().unwrap_or(name))
        .collect();
    Ok(packages
        .iter()
        .copied()
        .filter(|package| !installed.contains(package))
        .collect())
}

fn apt_packages(steps: &Steps, packages: &[&str]) -> Result<(bool, String)> {
    let missing = missing_packages(packages)?;
    if missing.is_empty() {
        return Ok((
            false,
            format!("all {} installed (dpkg-query)", packages.len()),
        ));
    }
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "missing {}: run as root, or `apt-get install {}`",
            missing.join(" "),
            missing.join(" ")
        );
    }
    steps.doing(&format!("apt-get install {}", missing.join(" ")));
    if missing.contains(&"tshark") {
        // Otherwise wireshark-common asks whether non-root users may capture.
        let preseed = "wireshark-common wireshark-common/install-setuid boolean false\n";
        let mut child = Command::new("debconf-set-selections")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("cannot start debconf-set-selections")?;
        use std::io::Write as _;
        child
            .stdin
            .take()
            .context("debconf-set-selections stdin")?
            .write_all(preseed.as_bytes())?;
        let status = child.wait()?;
        if !status.success() {
            bail!("`debconf-set-selections` ({preseed:?}) failed ({status})");
        }
    }
    let apt = || {
        let mut apt = Command::new("apt-get");
        apt.env("DEBIAN_FRONTEND", "noninteractive");
        apt
    };
    cmd::run_quietly(apt().args(["update", "-qq"]), APT_UPDATE_TIMEOUT)?;
    cmd::run_quietly(
        apt()
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
        APT_INSTALL_TIMEOUT,
    )?;
    let still = missing_packages(packages)?;
    if !still.is_empty() {
        bail!("still not installed after apt-get: {}", still.join(" "));
    }
    Ok((true, format!("installed {}", missing.join(" "))))
}

fn installed_toolchains(rustup: &Path) -> Result<Vec<String>> {
    let list = cmd::output(Command::new(rustup).args(["toolchain", "list"]))?;
    Ok(list
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Whether `toolchain` (as `rustup +toolchain` takes it) is among `installed`
/// (full names: `1.99.1-x86_64-unknown-linux-gnu`).
fn has_toolchain(installed: &[String], toolchain: &str) -> bool {
    installed.iter().any(|name| is_toolchain(name, toolchain))
}

/// Whether `full` is `name-<host triple>` (`clippy-x86_64-unknown-linux-gnu`).
fn is_with_host(full: &str, name: &str) -> bool {
    full.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|host| host.strip_prefix(std::env::consts::ARCH))
        .is_some_and(|rest| rest.starts_with('-'))
}

fn installed_components(rustup: &Path, toolchain: &str) -> Result<Vec<String>> {
    let list = cmd::output(Command::new(rustup).args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        toolchain,
    ]))?;
    Ok(list.lines().map(str::trim).map(str::to_owned).collect())
}

/// Whether `component` (`rust-src`, `clippy`) is among `installed` (`rust-src`,
/// `clippy-x86_64-unknown-linux-gnu`).
fn has_component(installed: &[String], component: &str) -> bool {
    installed
        .iter()
        .any(|name| name == component || is_with_host(name, component))
}

fn toolchain_with(
    steps: &Steps,
    rustup: &Path,
    toolchain: &str,
    components: &[&str],
) -> Result<(bool, String)> {
    let mut did = Vec::new();
    if !has_toolchain(&installed_toolchains(rustup)?, toolchain) {
        steps.doing(&format!("rustup toolchain install {toolchain}"));
        cmd::run_quietly(
            Command::new(rustup).args([
                "toolchain",
                "install",
                toolchain,
                "--profile",
                "minimal",
                "--no-self-update",
            ]),
            RUSTUP_TIMEOUT,
        )?;
        did.push("installed".to_owned());
    }
    let present = installed_components(rustup, toolchain)?;
    let missing: Vec<&str> = components
        .iter()
        .copied()
        .filter(|component| !has_component(&present, component))
        .collect();
    if !missing.is_empty() {
        steps.doing(&format!("rustup component add {}", missing.join(" ")));
        cmd::run_quietly(
            Command::new(rustup)
                .args(["component", "add", "--toolchain", toolchain])
                .args(&missing),
            RUSTUP_TIMEOUT,
        )?;
        did.push(format!("added {}", missing.join(", ")));
    }
    let version = rustc_vv(rustup, toolchain)?;
    let release = field(&version, "release").unwrap_or("?");
    let outcome = if did.is_empty() {
        format!("present (rustc {release}, with {})", components.join(", "))
    } else {
        format!("{} (rustc {release})", did.join(", "))
    };
    Ok((!did.is_empty(), outcome))
}

/// `rustup run <toolchain> rustc -vV`, never auto-installing.
fn rustc_vv(rustup: &Path, toolchain: &str) -> Result<String> {
    cmd::output(
        Command::new(rustup)
            .env("RUSTUP_AUTO_INSTALL", "0")
            .args(["run", toolchain, "rustc", "-vV"]),
    )
}

/// A `key: value` line of `rustc -vV`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

fn ebpf_llvm_matches(rustup: &Path) -> Result<((), String)> {
    let version = rustc_vv(rustup, EBPF_TOOLCHAIN)?;
    let llvm = field(&version, "LLVM version").context("no `LLVM version` in `rustc -vV`")?;
    let major: u32 = llvm
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .with_context(|| format!("unparsable LLVM version {llvm:?}"))?;
    if major != LLVM_MAJOR {
        bail!(
            "{EBPF_TOOLCHAIN} uses LLVM {llvm}, but bpf-linker is built against LLVM {LLVM_MAJOR} \
             (the only LLVM Debian 12 ships); pin a nightly with LLVM {LLVM_MAJOR}"
        );
    }
    Ok((
        (),
        format!("LLVM {llvm}, major {LLVM_MAJOR} as bpf-linker's"),
    ))
}

/// The bpf-linker on PATH (or in $CARGO_HOME/bin), if it is the pinned version linked against
/// LLVM `LLVM_MAJOR`; otherwise why not.
fn bpf_linker_ok() -> std::result::Result<PathBuf, String> {
    let path = cmd::find_program("bpf-linker").ok_or("not installed")?;
    let version =
        cmd::output(Command::new(&path).arg("--version")).map_err(|err| format!("{err:#}"))?;
    if version.trim() != format!("bpf-linker {BPF_LINKER_VERSION}") {
        return Err(format!("{} is {:?}", path.display(), version.trim()));
    }
    let libs = cmd::output(Command::new("ldd").arg(&path)).map_err(|err| format!("{err:#}"))?;
    let llvm = format!("libLLVM.so.{LLVM_MAJOR}");
    if !libs
        .lines()
        .any(|line| line.trim_start().starts_with(&llvm))
    {
        return Err(format!("{} is not linked against {llvm}", path.display()));
    }
    Ok(path)
}

fn bpf_linker(steps: &Steps) -> Result<(bool, String)> {
    let why = match bpf_linker_ok() {
        Ok(path) => {
            return Ok((
                false,
                format!("present at {} (LLVM {LLVM_MAJOR})", path.display()),
            ));
        }
        Err(why) => why,
    };
    steps.doing(&format!(
        "cargo install bpf-linker {BPF_LINKER_VERSION} against LLVM {LLVM_MAJOR} ({why}; ~70 s)"
    ));
    // Without llvm-config-22 first on PATH, llvm-sys fails with `-lLLVM not found`.
    let llvm_bin = PathBuf::from(format!("/usr/lib/llvm-{LLVM_MAJOR}/bin"));
    let mut install = cmd::cargo();
    install
        .env(
            "PATH",
            cmd::path_with_first(&[&llvm_bin, &cmd::cargo_home().join("bin")]),
        )
        // Build in cargo install's own temporary directory, not a shared target dir.
        .env_remove("CARGO_TARGET_DIR")
        .arg(format!("+{USER_TOOLCHAIN}"))
        .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
        .args(["--locked", "--force", "--no-default-features", "--features"])
        .arg(format!("llvm-{LLVM_MAJOR}"));
    cmd::run_quietly(&mut install, BPF_LINKER_TIMEOUT)?;
    let path = bpf_linker_ok().map_err(|why| anyhow::anyhow!("after cargo install: {why}"))?;
    Ok((
        true,
        format!("installed at {} (LLVM {LLVM_MAJOR})", path.display()),
    ))
}

/// Makes [`USER_TOOLCHAIN`] the rustup override of the workspace directory, so that plain
/// `cargo build`, `cargo clippy` and `cargo test` in the tree use it as xtask's own calls do
/// (an override, unlike a rust-toolchain.toml, exists only once the toolchain does).
fn tree_override(rustup: &Path) -> Result<(bool, String)> {
    let root = cmd::workspace_root();
    let list = cmd::output(Command::new(rustup).args(["override", "list"]))?;
    if override_of(&list, &root).is_some_and(|toolchain| is_toolchain(toolchain, USER_TOOLCHAIN)) {
        return Ok((false, format!("{} uses {USER_TOOLCHAIN}", root.display())));
    }
    cmd::output(
        Command::new(rustup)
            .args(["override", "set", USER_TOOLCHAIN, "--path"])
            .arg(&root),
    )?;
    Ok((
        true,
        format!(
            "set: plain `cargo` in {} now uses {USER_TOOLCHAIN} (`rustup override unset --path {}` undoes it)",
            root.display(),
            root.display()
        ),
    ))
}

/// The toolchain `rustup override list` names for `dir` (lines `<dir>  <toolchain>`).
fn override_of<'a>(list: &'a str, dir: &Path) -> Option<&'a str> {
    let dir = dir.to_str()?;
    list.lines().find_map(|line| {
        let (path, toolchain) = line.trim().rsplit_once(char::is_whitespace)?;
        (path.trim_end() == dir).then_some(toolchain)
    })
}

/// Whether the full toolchain name `full` (`1.99.1-x86_64-unknown-linux-gnu`) is `name`.
fn is_toolchain(full: &str, name: &str) -> bool {
    full == name || is_with_host(full, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::consts::ARCH;

    #[test]
    fn toolchain_and_component_names() {
        let installed = [
            format!("stable-{ARCH}-unknown-linux-gnu"),
            format!("nightly-{ARCH}-unknown-linux-gnu"),
            format!("1.99.1-{ARCH}-unknown-linux-gnu"),
        ];
        assert!(has_toolchain(&installed, "1.99.1"));
        assert!(has_toolchain(&installed, "nightly"));
        assert!(!has_toolchain(&installed, "1.99"));
        assert!(!has_toolchain(&installed, "nightly-2026-07-01"));
        let dated = [format!("nightly-2026-07-01-{ARCH}-unknown-linux-gnu")];
        assert!(has_toolchain(&dated, "nightly-2026-07-01"));
        assert!(!has_toolchain(&dated, "nightly"));
        assert!(!has_toolchain(&dated, "nightly-2026-07"));
        let components = [
            format!("cargo-{ARCH}-unknown-linux-gnu"),
            "rust-src".to_owned(),
            format!("rust-std-{ARCH}-unknown-linux-gnu"),
        ];
        assert!(has_component(&components, "rust-src"));
        assert!(has_component(&components, "cargo"));
        assert!(!has_component(&components, "rust"));
        assert!(!has_component(&components, "clippy"));
    }

    #[test]
    fn override_lines() {
        let list = format!(
            "/work/other                         stable-{ARCH}-unknown-linux-gnu\n\
             /work/main                          1.99.1-{ARCH}-unknown-linux-gnu\n"
        );
        let found = override_of(&list, Path::new("/work/main")).unwrap();
        assert!(is_toolchain(found, "1.99.1"), "{found}");
        assert!(!is_toolchain(found, "1.99"));
        assert_eq!(override_of(&list, Path::new("/work")), None);
        assert_eq!(override_of("no overrides\n", Path::new("/work/main")), None);
    }

    #[test]
    fn demo_needs_no_peers() {
        let demo = Scope::Demo.packages();
        assert!(PEER_PACKAGES.iter().all(|peer| !demo.contains(peer)));
        let all = Scope::Everything.packages();
        assert!(demo.iter().chain(PEER_PACKAGES).all(|p| all.contains(p)));
    }

    #[test]
    fn rustc_vv_fields() {
        let text = "rustc 1.98.0-nightly (abc 2026-06-30)\nbinary: rustc\nhost: \
                    x86_64-unknown-linux-gnu\nrelease: 1.98.0-nightly\nLLVM version: 22.1.8\n";
        assert_eq!(field(text, "LLVM version"), Some("22.1.8"));
        assert_eq!(field(text, "release"), Some("1.98.0-nightly"));
        assert_eq!(field(text, "commit-hash"), None);
    }
}
