//! The command line, with nmap's flags where nmap has them.

use std::{ffi::OsString, net::Ipv4Addr, path::PathBuf};

use clap::{ArgAction, Parser};

const EXAMPLES: &str = "\
Examples:
  scanner -p 22,80,443 192.0.2.0/24 --allowlist-file lab.txt --rate 100000
  scanner -p 80 0.0.0.0/0 --rate 1000000 --seed 7 --shards 4 --shard 0 -oJ part0.jsonl
  scanner -p 80 -iL targets.txt --exclude 198.51.100.0/24 --reason --dry-run

Targets are IPv4 addresses, CIDR blocks (198.18.0.0/15), ranges (198.18.0.1-198.18.0.9) and
nmap octet ranges (198.18.0-3.1-254). The IANA special-purpose ranges (private, loopback,
multicast, documentation, benchmarking, ...) are blocked by default, as in ZMap: list a range in
--allowlist-file to scan it, or replace the list with --blocklist-file. Replies are classified
in XDP on the interface and never reach the kernel's stack. Scans need cap_net_raw,
cap_net_admin, cap_bpf and cap_perfmon: run as root, or as a user once `cargo xtask install`
(or `setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep scanner`) has granted them; the
scanner drops them as soon as its XDP program and sockets are set up.";

#[derive(Debug, Parser)]
#[command(name = "scanner", version, about = "A fast, faithful network scanner: raw probes out, replies classified in XDP.", after_help = EXAMPLES, args_conflicts_with_subcommands = true, args_override_self = true)]
pub struct Cli {
    /// A lab tool instead of a scan (`scanner responder ...`); none: scan the targets.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Addresses, CIDR blocks, ranges or nmap octet ranges to scan.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Scan type, nmap style: -sS (TCP SYN, the default), -sO (IP protocols), -sY (SCTP INIT),
    /// -sZ (SCTP COOKIE ECHO).
    #[arg(short = 's', value_name = "TYPE", value_parser = parse_scan_type, default_value = "S")]
    pub scan_type: ScanType,

    /// Ports: 22,80,8000-8100; "-" for all; default: nmap's top 1000 (or 1-1024 without
    /// nmap-services). With -sO, protocol numbers (0-255; default: all).
    #[arg(
        short = 'p',
        long = "ports",
        alias = "target-ports",
        value_name = "PORTS"
    )]
    pub ports: Option<String>,

    /// Fast mode, as nmap's -F: the top 100 ports; with -sO, the protocols that have a name.
    #[arg(short = 'F', conflicts_with = "ports")]
    pub fast: bool,

    /// Read targets from FILE (nmap's -iL): whitespace-separated, # comments.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Option<PathBuf>,

    /// Leave out these targets (comma-separated).
    #[arg(long, value_name = "TARGETS", value_delimiter = ',')]
    pub exclude: Vec<String>,

    /// Leave out the targets listed in FILE.
    #[arg(long, value_name = "FILE")]
    pub excludefile: Option<PathBuf>,

    /// Replace the default blocklist (IANA special-purpose ranges) with the ranges in FILE; an
    /// empty file (or /dev/null) blocks nothing.
    #[arg(long, alias = "blacklist-file", value_name = "FILE")]
    pub blocklist_file: Option<PathBuf>,

    /// Scan only the ranges in FILE; a range listed here overrides an equally or less specific
    /// default blocklist entry.
    #[arg(short = 'w', long, alias = "whitelist-file", value_name = "FILE")]
    pub allowlist_file: Option<PathBuf>,

    /// Seed of the probe order: the same seed (and targets and ports) repeats a scan exactly,
    /// and shards of one scan must share it. Default: random, printed in the summary.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = any_u64)]
    pub seed: Option<u64>,

    /// Split the scan into N disjoint shards (ZMap's semantics), for N machines.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = shard_count)]
    pub shards: u32,

    /// Scan shard I (0-based) of --shards. Without it, a Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX or a Slurm job array's SLURM_ARRAY_TASK_ID gives it.
    #[arg(long, value_name = "I", allow_negative_numbers = true, value_parser = any_u32)]
    pub shard: Option<u32>,

    /// Send at most N probes in the first pass (a number, or a percentage of the scan: 10%).
    #[arg(long, value_name = "N|P%", allow_negative_numbers = true,
          value_parser = parse_max_targets)]
    pub max_targets: Option<MaxTargets>,

    /// Where the checkpoint goes: rewritten every few seconds while the scan runs, and on
    /// Ctrl-C, SIGTERM or a send fault; removed when the scan ends.
    #[arg(long, value_name = "FILE", default_value = crate::checkpoint::DEFAULT_PATH)]
    pub checkpoint: PathBuf,

    /// Go on with the scan of this checkpoint (the command line alone repeats its own; given
    /// again, it must be the same scan). The outputs are written again, the earlier results
    /// first.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Stop sending after this many seconds (then wait for replies as usual).
    #[arg(short = 't', long, value_name = "SECONDS", allow_negative_numbers = true,
          value_parser = parse_seconds)]
    pub max_runtime: Option<std::time::Duration>,

    /// Print the probes that would be sent, one per line, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Probes per second [default: 10000].
    #[arg(long, alias = "max-rate", value_name = "PPS", allow_negative_numbers = true,
          value_parser = rate)]
    pub rate: Option<u64>,

    /// Send rate as bandwidth on the wire, in bits per second: 1G, 250M, 800k (Ethernet
    /// preamble, gap and FCS included, as ZMap counts).
    #[arg(short = 'B', long, value_name = "BPS", conflicts_with = "rate", allow_negative_numbers = true,
          value_parser = parse_bandwidth)]
    pub bandwidth: Option<u64>,

    /// How probes leave: auto (AF_XDP where the interface takes it, else AF_PACKET), af-xdp,
    /// af-packet.
    #[arg(long, value_name = "PATH", default_value = "auto")]
    pub send_path: crate::send::SendPath,

    /// Sender threads, one per core and queue [default: enough for the rate, at most one per
    /// CPU and transmit queue].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = sender_threads)]
    pub sender_threads: Option<u32>,

    /// Seconds to wait for late replies after each pass (the cooldown).
    #[arg(short = 'c', long, alias = "cooldown-time", value_name = "SECONDS", default_value = "2",
          allow_negative_numbers = true, value_parser = parse_seconds)]
    pub wait: std::time::Duration,

    /// Resend unanswered probes up to N times, while resending still finds answers (nmap's --max-retries).
    #[arg(long, alias = "max-retries", value_name = "N", default_value_t = 3,
          allow_negative_numbers = true, value_parser = any_u32)]
    pub retries: u32,

    /// Keep only a window of recent answers, and retry from it, whatever the scan's size (what
    /// scans of more than 2^27 probes do; for tests and benchmarks).
    #[arg(long, hide = true)]
    pub answered_window: bool,

    /// Send on this interface instead of the one routing to the first target.
    #[arg(
        short = 'e',
        long = "interface",
        alias = "adapter",
        value_name = "IFACE"
    )]
    pub interface: Option<String>,

    /// Source address of the probes.
    #[arg(
        short = 'S',
        long = "source-ip",
        alias = "adapter-ip",
        value_name = "ADDR"
    )]
    pub source_ip: Option<Ipv4Addr>,

    /// Next hop's MAC address, instead of asking the neighbour table.
    #[arg(
        short = 'G',
        long = "gateway-mac",
        alias = "router-mac",
        value_name = "MAC"
    )]
    pub gateway_mac: Option<String>,

    /// Fixed source port (default: one per probe, from its cookie, in 32768-65535).
    #[arg(short = 'g', long = "source-port", value_name = "PORT", allow_negative_numbers = true,
          value_parser = any_u16)]
    pub source_port: Option<u16>,

    /// -oJ: every port state of every host that is up as JSON lines (replies as they come,
    /// silence at the end) and its OS result; FILE "-" is standard output.
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Option<PathBuf>,

    /// -oN: nmap's normal output (what the terminal shows, with nmap's head and foot lines).
    #[arg(long = "output-normal", value_name = "FILE")]
    pub output_normal: Option<PathBuf>,

    /// -oX: nmap's XML (valid against nmap.dtd; ndiff, python-libnmap and nmap.xsl read it).
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Option<PathBuf>,

    /// -oG: nmap's grepable output.
    #[arg(long = "output-grepable", value_name = "FILE")]
    pub output_grepable: Option<PathBuf>,

    /// -oA: BASE.nmap, BASE.xml and BASE.gnmap, as nmap.
    #[arg(long = "output-all", value_name = "BASE")]
    pub output_all: Option<PathBuf>,

    /// -oC: CSV with a header line, the columns of --output-fields.
    #[arg(long = "output-csv", value_name = "FILE")]
    pub output_csv: Option<PathBuf>,

    /// -oL: masscan's list format (`open tcp 443 198.51.100.7 1733400000`).
    #[arg(long = "output-list", value_name = "FILE")]
    pub output_list: Option<PathBuf>,

    /// The fields of -oC and -oJ, comma-separated, by ZMap's names where ZMap has them: saddr,
    /// daddr, sport, classification, success, ttl, timestamp_ts; and state, reason, proto,
    /// responder, ip, port [default: -oJ ip,port,proto,state,reason,ttl,responder; -oC
    /// saddr,sport,proto,state,reason,ttl,responder,timestamp_ts].
    #[arg(long = "output-fields", value_name = "FIELDS")]
    pub output_fields: Option<String>,

    /// Only states that may be open (open, open|filtered) in every output, as nmap's --open.
    #[arg(long)]
    pub open: bool,

    /// The XSL stylesheet the XML refers to [default: nmap's, /usr/share/nmap/nmap.xsl].
    #[arg(long, value_name = "PATH", conflicts_with = "no_stylesheet")]
    pub stylesheet: Option<String>,

    /// No stylesheet reference in the XML.
    #[arg(long)]
    pub no_stylesheet: bool,

    /// Print every packet sent and every reply received, one line each, as nmap does.
    #[arg(long)]
    pub packet_trace: bool,

    /// Write every packet sent and every reply matched to FILE (pcap, nanosecond timestamps).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// With --pcap or --packet-trace: also the packets the XDP program did not match.
    #[arg(long)]
    pub pcap_all: bool,

    /// Show why each port has its state.
    #[arg(long)]
    pub reason: bool,

    /// Print per-host tables for up to this many responding hosts, totals beyond.
    #[arg(long, value_name = "N", default_value_t = 256, allow_negative_numbers = true,
          value_parser = any_usize)]
    pub max_host_tables: usize,

    /// Accepted for nmap compatibility: names are never resolved.
    #[arg(short = 'n', action = ArgAction::SetTrue)]
    pub no_dns: bool,

    /// Treat every target as up (nmap's -Pn): each is listed with all its states, the silent
    /// ones too. Without it a host is up once it answered any probe.
    #[arg(long = "skip-host-discovery", action = ArgAction::SetTrue, conflicts_with = "sctp_ping")]
    pub skip_host_discovery: bool,

    /// SCTP INIT ping (nmap's -PY[PORTS], default port 80): only the hosts that answer INIT-ACK
    /// or ABORT are port-scanned.
    #[arg(long = "sctp-ping", value_name = "PORTS", num_args = 0..=1, require_equals = true,
          default_missing_value = "80")]
    pub sctp_ping: Option<String>,

    /// SCTP checksums with RFC 2960's Adler-32 instead of CRC32c (nmap's --adler32).
    #[arg(long)]
    pub adler32: bool,

    /// OS detection, as nmap's -O: nmap's sixteen TCP/IP probes to each host that answered the
    /// port scan, its fingerprint, and matches from --os-db.
    #[arg(short = 'O', action = ArgAction::SetTrue)]
    pub os_detection: bool,

    /// The fingerprint database for -O, in nmap-os-db format (e.g. nmap's own,
    /// /usr/share/nmap/nmap-os-db) [default: the scanner's own, built in].
    #[arg(long, value_name = "FILE", requires = "os_detection")]
    pub os_db: Option<PathBuf>,

    /// How --os-db reads a test line without R (nmap changed it in 7.94): nmap-7.93,
    /// nmap-7.94, or auto (by the file's $Id date: before 2023 it came with 7.93 or older).
    #[arg(long, value_name = "NMAP", default_value = "auto", requires = "os_db",
          value_parser = ["auto", "nmap-7.93", "nmap-7.94"])]
    pub os_db_dialect: String,

    /// The UDP payloads for -sU, in nmap-payloads format [default:
    /// /usr/share/nmap/nmap-payloads when present, else the scanner's own for the common
    /// services].
    #[arg(long, value_name = "FILE")]
    pub payloads: Option<PathBuf>,

    /// With -O: print the closest matches even when none is exact (nmap's --osscan-guess).
    #[arg(long, alias = "fuzzy", requires = "os_detection")]
    pub osscan_guess: bool,

    /// With -O: rounds of OS probes per host before giving up on a perfect match (nmap's
    /// --max-os-tries).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "os_detection",
          allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(1..=scanner_common::os::MAX_TRIES as i64))]
    pub max_os_tries: u8,

    /// More output.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,

    /// Debugging output (nmap's -d): with -O, every fingerprint.
    #[arg(short = 'd', action = ArgAction::Count)]
    pub debug: u8,
}

/// Subcommands beside the scan: joining shards' outputs, and lab tools.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Responder(crate::responder::ResponderArgs),
    /// Joins the -oJ, -oC or -oX outputs of a scan's shards into one report of that format.
    Merge(crate::merge::MergeArgs),
    /// Writes the man page or a shell's completions to standard output (`cargo xtask install`
    /// installs them).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
    },
}

/// What `scanner generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generated {
    /// scanner.1, roff.
    Man,
    Bash,
    Zsh,
    Fish,
}

impl Generated {
    /// Writes it, rendered from this command line's definition.
    pub fn write(self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        use clap::CommandFactory;
        use clap_complete::Shell;
        let mut command = Cli::command();
        let shell = match self {
            Self::Man => return clap_mangen::Man::new(command).render(out),
            Self::Bash => Shell::Bash,
            Self::Zsh => Shell::Zsh,
            Self::Fish => Shell::Fish,
        };
        clap_complete::generate(shell, &mut command, "scanner", out);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanType {
    /// -sS
    Syn,
    /// -sO
    IpProto,
    /// -sY
    SctpInit,
    /// -sZ
    SctpCookieEcho,
    /// -sU
    Udp,
}

fn parse_scan_type(s: &str) -> Result<ScanType, String> {
    match s {
        "S" => Ok(ScanType::Syn),
        "O" => Ok(ScanType::IpProto),
        "Y" => Ok(ScanType::SctpInit),
        "Z" => Ok(ScanType::SctpCookieEcho),
        "U" => Ok(ScanType::Udp),
        other => Err(format!(
            "-s{other} is not a supported scan type (supported: -sS, -sU, -sO, -sY, -sZ)"
        )),
    }
}

/// A cap on the first pass: a count of probes, or a share of the scan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxTargets {
    Count(u64),
    Percent(f64),
}

impl MaxTargets {
    /// The cap for a scan of `probes` probes.
    pub fn of(self, probes: u64) -> u64 {
        match self {
            Self::Count(count) => count.min(probes),
            Self::Percent(percent) => ((probes as f64) * percent / 100.0).ceil() as u64,
        }
    }
}

fn parse_max_targets(s: &str) -> Result<MaxTargets, String> {
    match s.strip_suffix('%') {
        Some(percent) => match percent.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(MaxTargets::Percent(p)),
            _ => Err(format!("{s:?} is not a percentage in (0, 100]")),
        },
        None => match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(MaxTargets::Count(n)),
            _ => Err(format!("{s:?} is not a positive number of probes")),
        },
    }
}

/// Bits per second, with an optional k, M or G suffix (powers of 1000).
fn parse_bandwidth(s: &str) -> Result<u64, String> {
    let (number, scale) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1e3),
        Some((i, 'm' | 'M')) => (&s[..i], 1e6),
        Some((i, 'g' | 'G')) => (&s[..i], 1e9),
        _ => (s, 1.0),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n * scale >= 1.0 && n * scale <= 1e12 => Ok((n * scale) as u64),
        _ => Err(format!(
            "{s:?} is not a bandwidth (bits per second, e.g. 1G, 250M, 800k)"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let expected = "expected a number of seconds, 0 or more (0.5, 2, 10)";
    let secs: f64 = s.parse().map_err(|_| expected.to_owned())?;
    if secs < 0.0 {
        return Err(format!("below 0: {expected}"));
    }
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| expected.to_owned())
}

/// A whole number from `min` to `max`; the error names the range.
fn whole_number(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = || match max {
        u64::MAX => format!("expected a whole number, {min} or more"),
        _ => format!("expected a whole number from {min} to {max}"),
    };
    let number: i128 = s.trim().parse().map_err(|_| expected())?;
    match u64::try_from(number) {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(format!("out of range: {}", expected())),
    }
}

/// `fn $name(&str) -> Result<$type, String>`: a whole number of `$type` from `$min` to
/// `$max`, for clap's `value_parser`.
macro_rules! whole_numbers {
    ($($name:ident: $type:ty = $min:expr, $max:expr;)*) => {$(
        fn $name(s: &str) -> Result<$type, String> {
            whole_number(s, $min, $max as u64).map(|number| number as $type)
        }
    )*};
}

whole_numbers! {
    any_u16: u16 = 0, u16::MAX;
    any_u32: u32 = 0, u32::MAX;
    any_u64: u64 = 0, u64::MAX;
    any_usize: usize = 0, usize::MAX;
    shard_count: u32 = 1, u32::MAX;
    rate: u64 = 1, u64::MAX;
    sender_threads: u32 = 1, 64;
}

/// Nmap spells some options as a dash and two letters (-iL, -oX, -Pn, -PY); clap reads a dash and
/// one letter. Those exact words become their long forms; everything else passes unchanged.
pub fn nmap_style_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| {
            let long = match arg.to_str() {
                Some("-iL") => "--input-list",
                Some("-oJ") => "--output-json",
                Some("-oN") => "--output-normal",
                Some("-oX") => "--output-xml",
                Some("-oG") => "--output-grepable",
                Some("-oA") => "--output-all",
                Some("-oC") => "--output-csv",
                Some("-oL") => "--output-list",
                Some("-Pn") => "--skip-host-discovery",
                Some("-PY") => "--sctp-ping",
                // -PY22,80: the ports are glued to the flag.
                Some(glued) if glued.starts_with("-PY") => {
                    return OsString::from(format!("--sctp-ping={}", &glued[3..]));
                }
                _ => return arg,
            };
            OsString::from(long)
        })
        .collect()
}

/// A bad value is one line naming the flag, the value and what it takes — not clap's block
/// with a usage hint. Other clap errors (unknown flags, --help) keep clap's text: `None`.
pub fn one_line_error(err: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let text = err.to_string();
    let first = text.lines().next()?;
    Some(first.strip_prefix("error: ").unwrap_or(first).to_owned())
}

impl Cli {
    pub fn parse_nmap_style(args: impl IntoIterator<Item = OsString>) -> Result<Self, clap::Error> {
        Self::try_parse_from(nmap_style_args(args))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_and_completions_render_from_the_cli() {
        let render = |what: super::Generated| {
            let mut out = Vec::new();
            what.write(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let man = render(super::Generated::Man);
        assert!(
            man.starts_with(".ie") || man.contains(".TH scanner 1"),
            "{man:.200}"
        );
        assert!(man.contains("allowlist"));
        assert!(render(super::Generated::Bash).contains("complete -F _scanner"));
        assert!(render(super::Generated::Zsh).starts_with("#compdef scanner"));
        assert!(render(super::Generated::Fish).contains("complete -c scanner"));
    }

    #[test]
    fn parses_bandwidth_and_max_targets() {
        assert_eq!(super::parse_bandwidth("1G"), Ok(1_000_000_000));
        assert_eq!(super::parse_bandwidth("2.5M"), Ok(2_500_000));
        assert_eq!(super::parse_bandwidth("800k"), Ok(800_000));
        assert_eq!(super::parse_bandwidth("64000"), Ok(64_000));
        assert!(super::parse_bandwidth("G").is_err());
        assert!(super::parse_bandwidth("-1M").is_err());
        assert_eq!(
            super::parse_max_targets("1000"),
            Ok(super::MaxTargets::Count(1000))
        );
        assert_eq!(super::MaxTargets::Count(10).of(5), 5);
        assert_eq!(super::parse_max_targets("10%").map(|m| m.of(1000)), Ok(100));
        assert_eq!(super::MaxTargets::Percent(0.1).of(15), 1);
    }

    use clap::CommandFactory;

    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::parse_nmap_style(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn zmaps_and_masscans_spellings_of_the_same_limits_are_ours() {
        let ours = parse(
            "scanner -p 80 --allowlist-file a --blocklist-file b --max-runtime 5 --bandwidth 1M \
             --wait 3 -e vs0 -S 198.18.0.1 --gateway-mac 02:00:00:00:00:01 --retries 1 \
             198.18.0.2",
        )
        .unwrap();
        for theirs in [
            // ZMap's short and old names (not -b: nmap's FTP bounce).
            "scanner --target-ports 80 -w a --blacklist-file b -t 5 -B 1M -c 3 -e vs0 \
             -S 198.18.0.1 -G 02:00:00:00:00:01 --retries 1 198.18.0.2",
            "scanner -p 80 --whitelist-file a --blocklist-file b --max-runtime 5 -B 1M \
             --cooldown-time 3 -e vs0 -S 198.18.0.1 -G 02:00:00:00:00:01 --retries 1 \
             198.18.0.2",
        ] {
            let cli = parse(theirs).unwrap();
            assert_eq!(format!("{cli:?}"), format!("{ours:?}"), "{theirs}");
        }
        let masscan = parse(
            "scanner -p 80 --adapter vs0 --adapter-ip 198.18.0.1 --router-mac 02:00:00:00:00:01 \
             --max-rate 9 --max-retries 1 198.18.0.2",
        )
        .unwrap();
        assert_eq!(
            (masscan.interface, masscan.source_ip, masscan.gateway_mac),
            (ours.interface, ours.source_ip, ours.gateway_mac)
        );
        assert_eq!((masscan.rate, masscan.retries), (Some(9), 1));
    }

    #[test]
    fn accepts_nmaps_spelling() {
        let cli =
            parse("scanner -sS -p 22,80 -Pn -n -iL list.txt -oJ - --reason 198.18.0.1").unwrap();
        assert_eq!(cli.scan_type, ScanType::Syn);
        assert_eq!(cli.ports.as_deref(), Some("22,80"));
        assert_eq!(cli.input_list, Some(PathBuf::from("list.txt")));
        assert_eq!(cli.output_json, Some(PathBuf::from("-")));
        assert!(cli.reason && cli.no_dns && cli.skip_host_discovery);
        assert_eq!(cli.targets, ["198.18.0.1"]);
    }

    #[test]
    fn scan_types_and_sctp_ping_parse_nmap_style() {
        let cli = parse("scanner -sY -PY22,80 --adler32 198.18.0.1").unwrap();
        assert_eq!(cli.scan_type, ScanType::SctpInit);
        assert_eq!(cli.sctp_ping.as_deref(), Some("22,80"));
        assert!(cli.adler32);
        let cli = parse("scanner -sZ -PY 198.18.0.1").unwrap();
        assert_eq!(cli.scan_type, ScanType::SctpCookieEcho);
        assert_eq!(
            cli.sctp_ping.as_deref(),
            Some("80"),
            "nmap's default ping port"
        );
        assert_eq!(
            parse("scanner -sO -F 198.18.0.1").unwrap().scan_type,
            ScanType::IpProto
        );
        assert!(parse("scanner -F -p 80 198.18.0.1").is_err(), "-F with -p");
        assert!(parse("scanner -Pn -PY 198.18.0.1").is_err(), "-Pn with -PY");
        assert_eq!(parse("scanner 198.18.0.1").unwrap().sctp_ping, None);
    }

    #[test]
    fn defaults() {
        let cli = parse("scanner 198.18.0.1").unwrap();
        assert_eq!(cli.scan_type, ScanType::Syn);
        assert_eq!(cli.rate, None);
        assert_eq!(cli.shards, 1);
        assert_eq!(cli.send_path, crate::send::SendPath::Auto);
        assert_eq!(cli.retries, 3);
        assert_eq!(cli.wait, std::time::Duration::from_secs(2));
    }

    #[test]
    fn responder_is_a_subcommand_and_scans_still_parse() {
        let cli =
            parse("scanner responder --interface vt0 --range 198.19.0.0/16 --seed 3").unwrap();
        match cli.command {
            Some(Command::Responder(args)) => {
                assert_eq!(args.interface, "vt0");
                assert_eq!(args.seed, 3);
            }
            other => panic!("not the responder: {other:?}"),
        }
        let cli = parse("scanner generate zsh").unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Generate {
                what: Generated::Zsh
            })
        ));
        let cli = parse("scanner -p 80 198.18.128.0/17").unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.targets, ["198.18.128.0/17"]);
        // After scan arguments, the word is a target (which fails later, as a bad target).
        let cli = parse("scanner -p 80 responder").unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.targets, ["responder"]);
    }

    #[test]
    fn rejects_bad_values_with_clap_errors() {
        for line in [
            "scanner -sX 198.18.0.1",
            "scanner --rate 0 198.18.0.1",
            "scanner --wait -1 198.18.0.1",
            "scanner --wait soon 198.18.0.1",
            "scanner -g 70000 198.18.0.1",
            "scanner -S 198.18.0 198.18.0.1",
            "scanner --shards 0 198.18.0.1",
            "scanner --max-targets 0 198.18.0.1",
            "scanner --max-targets 101% 198.18.0.1",
            "scanner --bandwidth 1X 198.18.0.1",
            "scanner --bandwidth 1G --rate 5 198.18.0.1",
            "scanner --send-path dpdk 198.18.0.1",
            "scanner --sender-threads 0 198.18.0.1",
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{line}");
        }
    }

    #[test]
    fn negative_and_out_of_range_numbers_are_one_line_naming_flag_and_range() {
        for (line, says) in [
            (
                "scanner --rate -1 198.18.0.1",
                "invalid value '-1' for '--rate <PPS>': out of range: expected a whole number, 1 or more",
            ),
            (
                "scanner --wait -1 198.18.0.1",
                "invalid value '-1' for '--wait <SECONDS>': below 0: expected a number of seconds, 0 or more (0.5, 2, 10)",
            ),
            (
                "scanner --retries -2 198.18.0.1",
                "invalid value '-2' for '--retries <N>': out of range: expected a whole number from 0 to 4294967295",
            ),
            (
                "scanner -g 70000 198.18.0.1",
                "invalid value '70000' for '--source-port <PORT>': out of range: expected a whole number from 0 to 65535",
            ),
            (
                "scanner --sender-threads 65 198.18.0.1",
                "invalid value '65' for '--sender-threads <N>': out of range: expected a whole number from 1 to 64",
            ),
            (
                "scanner --max-host-tables many 198.18.0.1",
                "invalid value 'many' for '--max-host-tables <N>': expected a whole number, 0 or more",
            ),
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(one_line_error(&err).as_deref(), Some(says), "{line}");
        }
        let unknown = parse("scanner --bogus 198.18.0.1").unwrap_err();
        assert_eq!(
            one_line_error(&unknown),
            None,
            "clap's own text for an unknown flag"
        );
    }
}
