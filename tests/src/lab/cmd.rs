//! External commands (`ip`, `nft`): bounded in time, failing loudly with the command line and
//! its stderr. xtask uses the quoting, [`read_in_background`] and [`Output`] too.

use std::{
    ffi::OsStr,
    io::{Read, Write},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long one `ip`/`nft` command may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// `cmd` as a shell would show it, quoted where needed.
/// The child gets SIGTERM when the thread that spawned it ends, so a killed test leaves no
/// process behind. Survives `ip netns exec`, which execs the program in the same process.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub fn display(cmd: &Command) -> String {
    let mut line = quote(cmd.get_program());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

/// `word` for a shell: as is when every character is plain, else single-quoted.
pub fn quote(word: &OsStr) -> String {
    quote_allowing(word, "")
}

/// Like [`quote`], with the characters of `also_plain` counted as plain too.
pub fn quote_allowing(word: &OsStr, also_plain: &str) -> String {
    let word = word.to_string_lossy();
    let plain =
        |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c) || also_plain.contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` (feeding it `stdin`), killing it after `timeout`; fails unless it exits with 0.
/// Returns its stdout.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Result<String> {
    let output = run_unchecked(cmd, stdin, timeout)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            output.status,
            one_line(&output.stderr)
        );
    }
    Ok(output.stdout)
}

/// Like [`run`], but a non-zero exit is returned, not an error (a timeout still is one).
pub fn run_unchecked(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let data = data.to_vec();
        // A thread, so a child that does not read its stdin cannot block us.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for `{}`", display(cmd)))?
        {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // Our own child, by its PID.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    // A grandchild could hold the pipes open: do not wait for it forever.
    let collect =
        |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => bail!(
            "`{}` did not finish within {timeout:?} and was killed; stderr: {}",
            display(cmd),
            one_line(&stderr)
        ),
    }
}

/// Reads `pipe` to its end on a thread of its own; the text (lossy UTF-8) arrives on the receiver.
pub fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Multi-line stderr as one line, for error messages.
fn one_line(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        "(no stderr)".to_owned()
    } else {
        text.lines().map(str::trim).collect::<Vec<_>>().join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_needs_it() {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", "a b", "it's", "198.18.0.1/24"]);
        assert_eq!(
            display(&cmd),
            r"ip netns exec 'a b' 'it'\''s' 198.18.0.1/24"
        );
        assert_eq!(quote(OsStr::new("$PATH")), "'$PATH'");
        assert_eq!(quote_allowing(OsStr::new("$PATH"), "$"), "$PATH");
    }

    #[test]
    fn run_reports_stderr_and_times_out() {
        let err = run(
            Command::new("sh").args(["-c", "echo boom >&2; exit 3"]),
            None,
            TIMEOUT,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("boom") && err.contains("sh -c"), "{err}");
        let err = run(
            Command::new("sleep").arg("5"),
            None,
            Duration::from_millis(50),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("did not finish"), "{err}");
        let out = run(&mut Command::new("cat"), Some(b"hi"), TIMEOUT).unwrap();
        assert_eq!(out, "hi");
    }
}
