//! What -O prints per host (nmap's printosscanoutput) and writes to the JSON output.

use std::fmt::Write as _;

use serde::Serialize;

use super::host::HostOs;
use crate::os::{
    fingerprint::{DistanceMethod, ScanInfo, render_submission},
    matcher::{GUESS_SPREAD, MAX_GUESSES, Matches, Verdict, best_round},
};

/// How the report reads.
pub struct ReportOptions {
    /// --osscan-guess: print guesses even when the fingerprint could be submitted.
    pub guess: bool,
    /// -v / -d: print the fingerprint even when a reference matched perfectly.
    pub show_fingerprint: bool,
    /// The target is on our link (nmap's "direct" distance, 1 hop).
    pub on_link: bool,
    /// The first three bytes of the on-link target's MAC address.
    pub mac_prefix: Option<[u8; 3]>,
}

/// One host's OS result, ready to print or serialise.
#[derive(Debug, Serialize)]
pub struct OsReport {
    #[serde(skip)]
    pub ip: std::net::Ipv4Addr,
    /// nmap's "OS details" / "Aggressive OS guesses" / "No ... matches" line, or `None`
    /// without a database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Best first, as nmap lists them (at most ten, within ten points of the best).
    pub matches: Vec<OsMatch>,
    /// The subject fingerprint, unwrapped (SCAN line, then the tests, one per line).
    pub fingerprint: String,
    /// The same, wrapped in `OS:` lines as nmap prints it for submission.
    #[serde(skip)]
    pub fingerprint_wrapped: String,
    pub ports_used: PortsUsed,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<i32>,
    pub tries: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_ideal: Option<String>,
    #[serde(skip)]
    text: String,
}

#[derive(Debug, Serialize)]
pub struct OsMatch {
    pub name: String,
    /// Percent, rounded down as nmap prints it.
    pub accuracy: u8,
    /// The reference's line in its database (nmap's `osmatch line`).
    pub line: usize,
    pub classes: Vec<OsClassMatch>,
}

/// A `Class` line of the matching reference, with its CPE names.
#[derive(Debug, Serialize)]
pub struct OsClassMatch {
    pub vendor: String,
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    pub device_type: String,
    pub cpe: Vec<String>,
}

/// The ports OS detection probed (nmap's `portused`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PortsUsed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_tcp: Option<u16>,
    pub closed_tcp: u16,
    pub closed_udp: u16,
}

impl OsReport {
    pub fn new(host: &HostOs<'_>, options: &ReportOptions) -> Self {
        let reason = host.unsubmittable();
        let best = best_round(&host.matches);
        let matches: Option<&Matches> = best.map(|i| &host.matches[i]);
        let distance = match options.on_link {
            true => Some(1),
            false => host.hop_distance,
        };
        let scan = scan_info(host, options, distance, reason.is_none());
        let fingerprints: Vec<_> = host.rounds.iter().map(|r| r.fingerprint.clone()).collect();
        let fingerprint = render_submission(&scan, &fingerprints, false);
        let fingerprint_wrapped = render_submission(&scan, &fingerprints, true);
        let listed = matches.map_or_else(Vec::new, listed_matches);

        let (verdict, show_fp) = match matches {
            Some(matches) => {
                let (lines, nmap_shows_fp) =
                    verdict_lines(matches, reason.as_deref(), options.guess);
                (Some(lines), nmap_shows_fp)
            }
            // Without a database there is nothing to match: the fingerprint is the result.
            None if host.matches.is_empty() => (None, true),
            None => (Some(NO_MATCHES.to_owned()), reason.is_none()),
        };
        let show_fp = show_fp || options.show_fingerprint;
        let mut text = String::new();
        if let Some(lines) = &verdict {
            let _ = writeln!(text, "{lines}");
        }
        if show_fp {
            let _ = write!(text, "TCP/IP fingerprint:\n{fingerprint_wrapped}");
        }
        if let Some(hops) = distance {
            let plural = if hops == 1 { "" } else { "s" };
            let _ = writeln!(text, "Network Distance: {hops} hop{plural}");
        }
        Self {
            ip: host.target.address,
            ports_used: PortsUsed {
                open_tcp: host.target.open_tcp_port,
                closed_tcp: host.closed_tcp_port,
                closed_udp: host.closed_udp_port,
            },
            verdict,
            matches: listed,
            fingerprint,
            fingerprint_wrapped,
            distance,
            tries: host.rounds.len(),
            not_ideal: reason,
            text,
        }
    }

    /// The lines printed under the host's port table.
    pub fn text(&self) -> &str {
        &self.text
    }
}

const SUBMIT: &str = "(If you know what OS is running on it, see https://nmap.org/submit/ ).";
const NO_MATCHES: &str =
    "No OS matches for host (If you know what OS is running on it, see https://nmap.org/submit/ ).";

/// nmap's lines about the best round's matches (printosscanoutput), and whether nmap shows
/// the fingerprint with them without -v/-d. `reason` says why the fingerprint could not be
/// submitted (then nmap guesses even without --osscan-guess).
fn verdict_lines(matches: &Matches, reason: Option<&str>, guess: bool) -> (String, bool) {
    match matches.verdict() {
        verdict @ (Verdict::Exact(_) | Verdict::TooManyMatches) => (verdict.to_string(), false),
        Verdict::NoMatches => match reason {
            None => (NO_MATCHES.to_owned(), true),
            Some(why) => (
                format!("OS fingerprint not ideal because: {why}\nNo OS matches for host"),
                false,
            ),
        },
        guesses @ Verdict::Guesses(_) => {
            let mut lines = String::new();
            if guess || reason.is_some() {
                let _ = writeln!(lines, "{guesses}");
            }
            match reason {
                None => {
                    let _ = write!(lines, "No exact OS matches for host {SUBMIT}");
                    (lines, true)
                }
                Some(_) => {
                    lines.push_str("No exact OS matches for host (test conditions non-ideal).");
                    (lines, false)
                }
            }
        }
    }
}

/// The matches nmap lists (XML osmatch): perfect ones, or the guesses within ten points.
fn listed_matches(matches: &Matches) -> Vec<OsMatch> {
    let best = matches.matches.first().map_or(0.0, |m| m.accuracy);
    let count = match matches.perfect {
        0 => matches
            .matches
            .iter()
            .take(MAX_GUESSES)
            .take_while(|m| m.accuracy > best - GUESS_SPREAD || m.accuracy == best)
            .count(),
        perfect => perfect,
    };
    matches.matches[..count]
        .iter()
        .map(|m| OsMatch {
            name: m.reference.name.clone(),
            accuracy: (m.accuracy * 100.0).floor() as u8,
            line: m.reference.line,
            classes: m
                .reference
                .classes
                .iter()
                .map(|c| OsClassMatch {
                    vendor: c.vendor.clone(),
                    family: c.family.clone(),
                    generation: c.generation.clone(),
                    device_type: c.device_type.clone(),
                    cpe: c.cpe.clone(),
                })
                .collect(),
        })
        .collect()
}

fn scan_info(
    host: &HostOs<'_>,
    options: &ReportOptions,
    distance: Option<i32>,
    good: bool,
) -> ScanInfo {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (month, day) = month_day(now.as_secs());
    let address = host.target.address;
    ScanInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        month,
        day,
        open_tcp_port: host.target.open_tcp_port,
        closed_tcp_port: Some(host.closed_tcp_port),
        closed_udp_port: Some(host.closed_udp_port),
        private_address: address.is_private() || address.is_loopback() || address.is_link_local(),
        distance: distance.and_then(|hops| {
            let method = match options.on_link {
                true => DistanceMethod::Direct,
                false => DistanceMethod::Icmp,
            };
            u8::try_from(hops).ok().map(|hops| (hops, method))
        }),
        good,
        mac_prefix: options.mac_prefix.filter(|_| options.on_link),
        unix_time: now.as_secs() as u32,
        platform: format!("{}-unknown-linux-gnu", std::env::consts::ARCH),
    }
}

/// Month and day (UTC) of a Unix time (Howard Hinnant's civil_from_days).
fn month_day(unix_secs: u64) -> (u8, u8) {
    let days = (unix_secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn month_and_day_of_known_dates() {
        assert_eq!(super::month_day(0), (1, 1));
        // 2026-11-21 08:54:50 UTC, the fixtures' capture time.
        assert_eq!(super::month_day(1_795_251_290), (11, 21));
        assert_eq!(super::month_day(951_782_400), (2, 29)); // 2000-02-29
    }
}
