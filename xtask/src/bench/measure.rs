//! Running one tool: bounded in time, its output to a log file, its CPU time from `wait4`.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How a run ended and what it cost.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// From spawning to reaping.
    pub wall: Duration,
    /// User + system time of the process and its threads (`wait4`'s rusage).
    pub cpu: Duration,
    /// Exited with 0 within its time bound.
    pub success: bool,
    /// "exit 0", "exit 1", "signal 9", with "timed out: " in front when it had to be stopped.
    pub status: String,
    /// Peak resident set size in bytes (`wait4`'s `ru_maxrss`).
    pub peak_rss: u64,
}

/// After the time bound: SIGINT (tools save their results), SIGINT again a few seconds later
/// (masscan's second Ctrl-C ends its receive thread), SIGKILL at last.
const ESCALATION: [(Duration, libc::c_int); 3] = [
    (Duration::ZERO, libc::SIGINT),
    (Duration::from_secs(5), libc::SIGINT),
    (Duration::from_secs(10), libc::SIGKILL),
];

/// How often `tick` runs while a command runs.
const TICK: Duration = Duration::from_millis(250);

/// Runs `command` with stdin closed and stdout and stderr to `log`, until it exits or `bound`
/// passes (then it is stopped, by its PID), calling `tick` with its PID every [`TICK`]
/// meanwhile. The child gets SIGTERM should this thread die.
pub fn run(
    command: &mut Command,
    bound: Duration,
    log: &Path,
    mut tick: impl FnMut(libc::pid_t),
) -> Result<Measured> {
    let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    // SAFETY: prctl and signal are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The escalation starts with SIGINT, which a bench started in the background (a
            // shell without job control) would hand down ignored.
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let line = crate::cmd::display(command);
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let pid = libc::pid_t::try_from(child.id())?;
    let mut escalation = ESCALATION.iter().peekable();
    let mut stopped = false;
    let mut next_tick = started + TICK;
    loop {
        if Instant::now() >= next_tick {
            tick(pid);
            next_tick += TICK;
        }
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value; the kernel fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: our own child, reaped here (std's handle is never waited on).
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
            let mut text = if libc::WIFEXITED(status) {
                format!("exit {}", libc::WEXITSTATUS(status))
            } else {
                format!("signal {}", libc::WTERMSIG(status))
            };
            if stopped {
                text = format!("timed out after {bound:?}: {text}");
            }
            return Ok(Measured {
                wall: started.elapsed(),
                cpu,
                success: !stopped && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                status: text,
                peak_rss: usage.ru_maxrss as u64 * 1024,
            });
        }
        if reaped < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                bail!("waiting for `{line}`: {err}");
            }
        }
        let over = started.elapsed().saturating_sub(bound);
        if started.elapsed() > bound
            && let Some(&&(after, signal)) = escalation.peek()
            && over >= after
        {
            stopped = true;
            // SAFETY: plain syscall, to our own child by its PID.
            unsafe { libc::kill(pid, signal) };
            escalation.next();
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn seconds(time: libc::timeval) -> Duration {
    Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_cpu_and_stops_what_overruns() {
        let log = std::env::temp_dir().join(format!("measure-{}.log", std::process::id()));
        let busy = run(
            Command::new("sh").args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done",
            ]),
            Duration::from_secs(60),
            &log,
            |_| {},
        )
        .unwrap();
        assert!(busy.success, "{busy:?}");
        assert!(busy.cpu > Duration::from_millis(20), "{busy:?}");
        assert!(busy.peak_rss > 100 << 10, "{busy:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "done\n");
        let mut ticks = 0;
        let slow = run(
            Command::new("sleep").arg("30"),
            Duration::from_millis(600),
            &log,
            |_| ticks += 1,
        )
        .unwrap();
        assert!(ticks >= 2, "{ticks} ticks");
        assert!(!slow.success);
        assert!(slow.status.starts_with("timed out"), "{slow:?}");
        assert!(slow.wall < Duration::from_secs(5), "{slow:?}");
        let _ = std::fs::remove_file(&log);
    }
}
