//! Running commands: every one bounded in time and failing loudly with its command line (and,
//! when captured, its stderr).

use std::{
    env,
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
pub use scanner_tests::lab::cmd::Output;
use scanner_tests::lab::cmd::{quote_allowing, read_in_background};

/// For quick queries (`dpkg-query`, `rustc -vV`, `ldd`).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// `cmd` as a shell would show it, quoted where needed (environment overrides first).
pub fn display(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(key, value)| {
            let value = value?;
            // PATH overrides are long; show only what was put in front.
            let value = if key == "PATH" {
                let old = env::var_os("PATH").unwrap_or_default();
                let old = old.to_string_lossy();
                let value = value.to_string_lossy();
                match value.strip_suffix(old.as_ref()) {
                    Some(front) if !old.is_empty() => format!("{front}$PATH"),
                    _ => value.into_owned(),
                }
            } else {
                value.to_string_lossy().into_owned()
            };
            Some(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(OsStr::new(&value))
            ))
        })
        .collect();
    words.push(quote(cmd.get_program()));
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

/// The lab's quoting, leaving `$` bare (for `PATH=…:$PATH`).
fn quote(word: &OsStr) -> String {
    quote_allowing(word, "$")
}

/// Runs `cmd` with the terminal as its stdio, echoing it first; fails unless it exits with 0.
/// `timeout`: killed (SIGTERM, then SIGKILL) when it runs longer.
pub fn run(cmd: &mut Command, timeout: Option<Duration>) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let status = wait(&mut child, timeout, &line)?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` (an installer: apt-get, rustup, cargo install) without showing its output;
/// fails unless it exits with 0, and then prints the command and everything it said.
/// `timeout`: killed (SIGTERM, then SIGKILL) when it runs longer.
pub fn run_quietly(cmd: &mut Command, timeout: Duration) -> Result<()> {
    let out = captured(cmd, timeout)?;
    if !out.status.success() {
        eprintln!("$ {}", display(cmd));
        eprint!("{}{}", out.stdout, out.stderr);
        bail!(
            "`{}` failed ({}); its output is above",
            display(cmd),
            out.status
        );
    }
    Ok(())
}

/// Runs `cmd` capturing its output, bounded by [`QUERY_TIMEOUT`]; a non-zero exit is returned,
/// not an error.
pub fn output_unchecked(cmd: &mut Command) -> Result<Output> {
    captured(cmd, QUERY_TIMEOUT)
}

fn captured(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let line = display(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait(&mut child, Some(timeout), &line)?;
    let collect =
        |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// Runs `cmd` capturing its output; fails (with its stderr) unless it exits with 0. Returns
/// stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = output_unchecked(cmd)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            out.status,
            out.stderr.trim()
        );
    }
    Ok(out.stdout)
}

/// Waits for our `child`; past `timeout`, SIGTERM, then SIGKILL 10 s later.
fn wait(child: &mut Child, timeout: Option<Duration>, line: &str) -> Result<ExitStatus> {
    let Some(timeout) = timeout else {
        return child
            .wait()
            .with_context(|| format!("waiting for `{line}`"));
    };
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for `{line}`"))?
        {
            return Ok(status);
        }
        if start.elapsed() >= timeout {
            // Our own child, by its PID.
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: plain syscall.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let grace = Instant::now();
            while child.try_wait()?.is_none() && grace.elapsed() < Duration::from_secs(10) {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{line}` did not finish within {timeout:?} and was killed");
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// `$CARGO_HOME`, default `~/.cargo`.
pub fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo"))
}

fn home() -> PathBuf {
    env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// `PATH` with `front` directories first (each only if not already first).
pub fn path_with_first(front: &[&Path]) -> OsString {
    let old = env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = front.iter().map(|dir| dir.to_path_buf()).collect();
    dirs.extend(env::split_paths(&old).filter(|dir| !front.contains(&dir.as_path())));
    env::join_paths(dirs).unwrap_or(old)
}

/// The first `name` on `PATH`, then in `$CARGO_HOME/bin` (where rustup and cargo install put
/// binaries, even when that is not on `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain([cargo_home().join("bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The workspace root (xtask lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// A binary of `cargo build --release`: in `$CARGO_TARGET_DIR/release` when that is set (relative
/// to the workspace root), else in `<root>/target/release`.
pub fn release_binary(name: &str) -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(
        || workspace_root().join("target"),
        |dir| workspace_root().join(dir),
    );
    target.join("release").join(name)
}

/// `cargo` (the rustup proxy) of the pinned user-space toolchain, whichever toolchain runs
/// xtask itself, run in the workspace root with `$CARGO_HOME/bin` on `PATH` (bpf-linker lives
/// there).
pub fn cargo() -> Command {
    let bin = cargo_home().join("bin");
    let program = if is_executable(&bin.join("cargo")) {
        bin.join("cargo")
    } else {
        PathBuf::from("cargo")
    };
    let mut cmd = Command::new(program);
    cmd.current_dir(workspace_root())
        .env("RUSTUP_TOOLCHAIN", crate::setup::USER_TOOLCHAIN);
    if !env::split_paths(&env::var_os("PATH").unwrap_or_default()).any(|dir| dir == bin) {
        cmd.env("PATH", path_with_first(&[&bin]));
    }
    cmd
}

/// `cargo test --release` over the workspace's user-space crates (`--workspace` alone would take
/// in scanner-ebpf, which only builds for bpfel-unknown-none).
pub fn workspace_tests() -> Command {
    let mut cargo = cargo();
    cargo.args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "scanner-ebpf",
    ]);
    cargo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_quietly_judges_by_exit_status_and_time() {
        let sh = |script: &str| {
            let mut sh = Command::new("sh");
            sh.args(["-c", script]);
            sh
        };
        let second = Duration::from_secs(1);
        assert!(run_quietly(&mut sh("echo chatter; echo more >&2"), 10 * second).is_ok());
        let failed = run_quietly(&mut sh("echo why >&2; exit 3"), 10 * second).unwrap_err();
        assert!(failed.to_string().contains("exit status: 3"), "{failed}");
        let slow = run_quietly(&mut sh("sleep 30"), Duration::from_millis(200)).unwrap_err();
        assert!(slow.to_string().contains("was killed"), "{slow}");
    }

    #[test]
    fn display_shows_env_and_quotes() {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "a b"]);
        assert_eq!(
            display(&cmd),
            "DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b'"
        );
        let mut cmd = Command::new("cargo");
        cmd.env(
            "PATH",
            path_with_first(&[Path::new("/usr/lib/llvm-22/bin")]),
        );
        assert!(
            display(&cmd).starts_with("PATH=/usr/lib/llvm-22/bin:"),
            "{}",
            display(&cmd)
        );
    }

    #[test]
    fn failures_name_the_command() {
        let err = output(Command::new("sh").args(["-c", "echo nope >&2; exit 4"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sh -c") && err.contains("nope"), "{err}");
        let err = run(
            Command::new("sleep").arg("5"),
            Some(Duration::from_millis(50)),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("did not finish"), "{err}");
    }
}
