//! Cargo builds with their output kept out of sight: one progress line while cargo runs, the
//! compiler's warnings and errors as they come, and everything cargo printed (the eBPF build's
//! lines among it) only when the build fails.

use std::{
    io::{BufRead, BufReader, IsTerminal, Read, Write},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd;

/// Off a terminal (CI logs), a progress line this often.
const LOG_EVERY: Duration = Duration::from_secs(15);
/// On a terminal, the progress line is redrawn at most this often.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// `cargo build --release` of the default members (everything but scanner-ebpf, which
/// scanner/build.rs builds for the bpf target).
pub fn release() -> Result<()> {
    quietly("release build", cmd::cargo().args(["build", "--release"]))
}

/// Runs `cargo` (a build command: `build`, `test --no-run`, ...) showing only progress and the
/// compiler's diagnostics; on failure, everything it printed.
pub fn quietly(what: &str, cargo: &mut Command) -> Result<()> {
    let line = cmd::display(cargo);
    // Colours only where they are seen as colours.
    let format = if std::io::stderr().is_terminal() {
        "--message-format=json-diagnostic-rendered-ansi"
    } else {
        "--message-format=json"
    };
    let mut child = cargo
        .arg(format)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let (events, received) = mpsc::channel();
    let readers = [
        forward(child.stdout.take(), Event::Message, &events),
        forward(child.stderr.take(), Event::Stderr, &events),
    ];
    drop(events);

    let mut progress = Progress::new(what);
    let mut stderr = Vec::new();
    loop {
        match received.recv_timeout(REDRAW_EVERY) {
            Ok(Event::Message(json)) => {
                if let Some(diagnostic) = progress.message(&json) {
                    progress.clear();
                    eprint!("{diagnostic}");
                }
            }
            Ok(Event::Stderr(text)) => {
                progress.stderr(&text);
                stderr.push(text);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        progress.show();
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    progress.clear();
    if !status.success() {
        eprintln!("$ {line}");
        for text in &stderr {
            eprintln!("{text}");
        }
        bail!("`{line}` failed ({status}); its output is above");
    }
    println!(
        "[build {:>6.1}s] {what}: {} crates compiled, {} up to date",
        progress.start.elapsed().as_secs_f64(),
        progress.compiled,
        progress.fresh
    );
    Ok(())
}

enum Event {
    /// A line of cargo's JSON messages (stdout).
    Message(String),
    /// A line of cargo's own output (stderr): status lines, build scripts' warnings.
    Stderr(String),
}

/// Sends each line of `pipe` as `wrap(line)` until it closes.
fn forward(
    pipe: Option<impl Read + Send + 'static>,
    wrap: fn(String) -> Event,
    events: &mpsc::Sender<Event>,
) -> thread::JoinHandle<()> {
    let events = events.clone();
    thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if events.send(wrap(line)).is_err() {
                break;
            }
        }
    })
}

/// What the progress line shows.
struct Progress {
    what: String,
    start: Instant,
    terminal: bool,
    compiled: usize,
    fresh: usize,
    /// The crate compiled last, or what the eBPF build is doing.
    current: String,
    shown_at: Option<Instant>,
    /// A progress line is on screen without its newline (terminal only).
    drawn: bool,
}

impl Progress {
    fn new(what: &str) -> Progress {
        Progress {
            what: what.to_owned(),
            start: Instant::now(),
            terminal: std::io::stdout().is_terminal(),
            compiled: 0,
            fresh: 0,
            current: String::new(),
            shown_at: None,
            drawn: false,
        }
    }

    /// Counts an artifact; returns a diagnostic to print at once.
    fn message(&mut self, json: &str) -> Option<String> {
        let message: Value = serde_json::from_str(json).ok()?;
        match message["reason"].as_str()? {
            "compiler-artifact" => {
                if message["fresh"].as_bool() == Some(true) {
                    self.fresh += 1;
                } else {
                    self.compiled += 1;
                }
                self.current = message["target"]["name"].as_str()?.to_owned();
                None
            }
            "compiler-message" => {
                let level = message["message"]["level"].as_str()?;
                matches!(level, "warning" | "error")
                    .then(|| message["message"]["rendered"].as_str().map(str::to_owned))?
            }
            _ => None,
        }
    }

    /// Notes what a build script reports (aya-build forwards the eBPF build's `Compiling ...`
    /// lines as `warning: scanner@0.1.0: ...`).
    fn stderr(&mut self, line: &str) {
        if let Some(step) = build_script_step(line) {
            self.current = format!("eBPF: {step}");
        }
    }

    fn show(&mut self) {
        let due = match self.shown_at {
            None => !self.terminal || self.start.elapsed() >= REDRAW_EVERY,
            Some(at) => {
                at.elapsed()
                    >= if self.terminal {
                        REDRAW_EVERY
                    } else {
                        LOG_EVERY
                    }
            }
        };
        if !due {
            return;
        }
        self.shown_at = Some(Instant::now());
        let text = format!(
            "[build {:>6.1}s] {}: {} crates compiled{}",
            self.start.elapsed().as_secs_f64(),
            self.what,
            self.compiled,
            if self.current.is_empty() {
                String::new()
            } else {
                format!("; {}", self.current)
            }
        );
        let mut out = std::io::stdout().lock();
        if self.terminal {
            // Cut to one terminal line, so that \r returns to its start.
            let text: String = text.chars().take(100).collect();
            let _ = write!(out, "\r\x1b[K{text}");
            self.drawn = true;
        } else {
            let _ = writeln!(out, "{text}");
        }
        let _ = out.flush();
    }

    /// Removes a progress line drawn without its newline.
    fn clear(&mut self) {
        if self.drawn {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
            self.drawn = false;
        }
    }
}

/// `Compiling core v0.0.0` from `warning: scanner@0.1.0:    Compiling core v0.0.0 (/…)`.
fn build_script_step(line: &str) -> Option<String> {
    let rest = line.strip_prefix("warning: ")?;
    let (_package, text) = rest.split_once(": ")?;
    let text = text.trim();
    let verb = ["Compiling", "Finished", "Downloaded", "Updating"]
        .into_iter()
        .find(|verb| text.starts_with(verb))?;
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    Some(if verb == "Compiling" {
        words.join(" ")
    } else {
        words[0].to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebpf_steps_from_build_script_warnings() {
        assert_eq!(
            build_script_step(
                "warning: scanner@0.1.0:    Compiling core v0.0.0 (/root/.rustup/toolchains/x/lib)"
            )
            .as_deref(),
            Some("Compiling core v0.0.0")
        );
        assert_eq!(build_script_step("   Compiling libc v0.2.191"), None);
        assert_eq!(build_script_step("warning: unused variable: `x`"), None);
    }

    #[test]
    fn counts_artifacts_and_passes_diagnostics() {
        let mut progress = Progress::new("test");
        let artifact = r#"{"reason":"compiler-artifact","fresh":false,"target":{"name":"libc"}}"#;
        let fresh = r#"{"reason":"compiler-artifact","fresh":true,"target":{"name":"clap"}}"#;
        assert_eq!(progress.message(artifact), None);
        assert_eq!(progress.message(fresh), None);
        assert_eq!((progress.compiled, progress.fresh), (1, 1));
        assert_eq!(progress.current, "clap");
        let warning = r#"{"reason":"compiler-message","message":{"level":"warning","rendered":"warning: unused\n"}}"#;
        assert_eq!(
            progress.message(warning).as_deref(),
            Some("warning: unused\n")
        );
        let note = r#"{"reason":"compiler-message","message":{"level":"note","rendered":"x"}}"#;
        assert_eq!(progress.message(note), None);
        assert_eq!(progress.message("not json"), None);
    }
}
