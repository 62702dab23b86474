//! `scanner responder`: the lab's target, in XDP. Attached to the target's interface, the
//! responder program answers TCP SYNs and SCTP INITs to an address range from a keyed ground
//! truth ([`scanner_common::responder::truth`]): SYN-ACK or INIT ACK for open, RST-ACK or ABORT
//! for closed, nothing for silent (an SCTP COOKIE ECHO gets ABORT when closed, else nothing),
//! sent back out of the interface by an XDP redirect at link speed. Tests and
//! benchmarks compute the same truth to check a scan against it. For labs only: it answers for
//! whatever range it is given.
//!
//! It prints one line on standard error when ready, runs until SIGINT or SIGTERM, detaches,
//! and prints its counters as one JSON object on standard output.

mod xdp;

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use ipnet::Ipv4Net;
use scanner_common::responder::{Counts, ResponderConfig, Share};

use self::xdp::Responder;
use crate::{plan::InputError, route};

#[derive(Debug, Clone, Args)]
#[command(about = "Lab only: answer probes to a range in XDP from a seeded ground truth")]
pub struct ResponderArgs {
    /// Interface to answer on (the target's end of the lab's link).
    #[arg(long, value_name = "IFACE")]
    pub interface: String,

    /// Addresses to answer for; probes to others pass to the kernel.
    #[arg(long, value_name = "CIDR", value_parser = parse_range)]
    pub range: Ipv4Net,

    /// Seed of the ground truth: the same seed, range and shares always answer alike.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Share of (address, port) pairs that answer open (SYN-ACK, SCTP INIT ACK), from 0 to 1.
    #[arg(long, value_name = "SHARE", default_value = "0.1", value_parser = parse_share,
          allow_hyphen_values = true)]
    pub open: f64,

    /// Share that answers closed (RST-ACK, SCTP ABORT), from 0 to 1; the rest stays silent.
    #[arg(long, value_name = "SHARE", default_value = "0.5", value_parser = parse_share,
          allow_hyphen_values = true)]
    pub closed: f64,
}

fn parse_range(text: &str) -> Result<Ipv4Net, String> {
    text.parse::<Ipv4Net>()
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not a CIDR block such as 198.19.0.0/16"))
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "{text:?} is not a share from 0 to 1 (such as 0.25)"
        )),
    }
}

impl ResponderArgs {
    /// The XDP program's configuration; an [`InputError`] when the shares add up to more than 1.
    pub fn config(&self) -> Result<ResponderConfig> {
        let shares = Share::split(self.open, self.closed).and_then(|(open, closed)| {
            ResponderConfig::new(
                self.seed,
                u32::from(self.range.network()),
                self.range.prefix_len(),
                open,
                closed,
            )
        });
        shares.map_err(|err| {
            InputError(format!(
                "--open {} --closed {}: {err}",
                self.open, self.closed
            ))
            .into()
        })
    }
}

pub fn run(args: ResponderArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let interface =
        route::interface_by_name(&args.interface).map_err(|err| InputError(err.to_string()))?;
    // Blocked before attaching: a signal that arrives meanwhile ends the run cleanly.
    let signals = StopSignals::block()?;
    let responder = Responder::attach(interface.index, &interface.name, &config)?;
    eprintln!(
        "responder: ready on {} ({} XDP): {}, seed {}: open {}, closed {}, silent {}",
        interface.name,
        responder.mode().as_str(),
        args.range,
        args.seed,
        percent(config.open_share.0),
        percent(config.closed_share.0),
        percent(Share::ONE.0 - config.open_share.0 - config.closed_share.0),
    );
    let signal = signals.wait()?;
    let counts = responder.counts()?;
    let mode = responder.mode();
    drop(responder); // detach before reporting
    eprintln!(
        "responder: signal {signal}: detached; {} probes: {} open, {} closed, {} silent; {} malformed",
        counts.probes, counts.open, counts.closed, counts.silent, counts.malformed
    );
    println!("{}", report(&counts, mode.as_str()));
    Ok(ExitCode::SUCCESS)
}

/// The counters as one JSON object, with the attach mode.
fn report(counts: &Counts, mode: &str) -> String {
    let mut json: serde_json::Map<String, serde_json::Value> = counts
        .named()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    json.insert("xdp_mode".to_owned(), mode.into());
    serde_json::Value::Object(json).to_string()
}

fn percent(parts: u32) -> String {
    format!("{:.2}%", Share(parts).fraction() * 100.0)
}

/// SIGINT and SIGTERM, blocked for the whole process and taken synchronously with `sigwait`.
struct StopSignals(libc::sigset_t);

impl StopSignals {
    fn block() -> Result<Self> {
        // SAFETY: plain libc calls on a sigset_t we own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let err = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if err != 0 {
                return Err(std::io::Error::from_raw_os_error(err)).context("blocking signals");
            }
            Ok(Self(set))
        }
    }

    /// Waits for one of them; returns its number.
    fn wait(&self) -> Result<i32> {
        let mut signal = 0;
        // SAFETY: a valid sigset and out-pointer.
        let err = unsafe { libc::sigwait(&self.0, &mut signal) };
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(err)).context("waiting for a signal");
        }
        Ok(signal)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ResponderArgs,
    }

    fn parse(line: &str) -> Result<ResponderArgs, clap::Error> {
        Wrapper::try_parse_from(line.split_whitespace()).map(|w| w.args)
    }

    #[test]
    fn shares_are_validated() {
        let args =
            parse("x --interface vt0 --range 198.19.0.0/16 --open 0.25 --closed 0.5").unwrap();
        let config = args.config().unwrap();
        assert_eq!(config.open_share, Share(16384));
        assert_eq!(config.closed_share, Share(32768));
        assert_eq!(config.range_base, u32::from_be_bytes([198, 19, 0, 0]));
        assert_eq!(config.range_mask, 0xffff_0000);

        for bad in ["--open 1.5", "--open -0.1", "--closed x", "--open nan"] {
            let line = format!("x --interface vt0 --range 198.19.0.0/16 {bad}");
            let err = parse(&line).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("from 0 to 1"), "{err}");
        }
        let args =
            parse("x --interface vt0 --range 198.19.0.0/16 --open 0.6 --closed 0.5").unwrap();
        let err = args.config().unwrap_err();
        assert!(err.is::<InputError>());
        assert_eq!(
            err.to_string(),
            "--open 0.6 --closed 0.5: the open and closed shares together must not exceed 1"
        );
        let args = parse("x --interface vt0 --range 198.19.0.0/16 --open 0.3 --closed 0.7");
        assert!(args.unwrap().config().is_ok());
    }

    #[test]
    fn ranges_are_cidr_blocks() {
        let args = parse("x --interface vt0 --range 198.19.7.9/16").unwrap();
        assert_eq!(args.range.to_string(), "198.19.0.0/16");
        let err = parse("x --interface vt0 --range 198.19.0.0").unwrap_err();
        assert!(err.to_string().contains("not a CIDR block"), "{err}");
    }

    #[test]
    fn report_is_one_json_object() {
        let counts = Counts {
            probes: 3,
            open: 1,
            closed: 1,
            silent: 1,
            ..Counts::default()
        };
        let line = report(&counts, "native");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["probes"], 3);
        assert_eq!(value["xdp_mode"], "native");
        assert!(!line.contains('\n'));
        assert_eq!(
            Counts::from_named(|name| value[name].as_u64()),
            Some(counts)
        );
    }
}
