//! A scan as a plan: what the command line asks for, resolved and checked in one place before
//! anything is attached or sent — targets, ports, scan type, stages (discovery, port scan, OS
//! detection), speed and outputs. [`crate::app`] runs the stages from it.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

mod shard;

use anyhow::{Context as _, Result};

use crate::{
    cli::{Cli, ScanType},
    os::db::{Dialect, OsDb},
    output::{
        fields::Fields,
        sinks::{Format, OutputSpec},
        xml,
    },
    probe::udp::{Payloads, payloads::NMAP_PAYLOADS},
    report::ScanKind,
    route,
    services::Services,
    targets::{AddressPolicy, Blocklist, PortList, TargetSet},
    verdict::Proto,
};

/// A problem with what the user asked for (exit code 2), as opposed to one met while scanning.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

fn input_error(err: impl std::fmt::Display) -> anyhow::Error {
    InputError(err.to_string()).into()
}

/// Ports scanned by default, as nmap: its most frequently open ones.
const DEFAULT_TOP_PORTS: usize = 1000;
/// Ports scanned with -F.
const FAST_TOP_PORTS: usize = 100;
/// The IP protocol scan's "ports" are the 8-bit protocol numbers.
const PROTOCOL_MAX: u16 = u8::MAX as u16;
/// Probes per second without --rate or --bandwidth.
pub const DEFAULT_RATE: u64 = 10_000;
/// Internet-scale scans must say how fast: the default rate is meant for small ones.
const LARGE_SCAN_ADDRESSES: u64 = 1 << 24;

/// How fast to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    ProbesPerSecond(u64),
    /// `--bandwidth`, in bits per second of frames on the wire.
    BitsPerSecond(u64),
}

/// The stages a scan runs, in order; the port scan always runs.
pub struct Stages {
    /// `-PY PORTS`: SCTP INIT ping first; only the hosts that answer are port scanned.
    pub discovery: Option<PortList>,
    /// `-O`: OS detection of the hosts the port scan found, against this database.
    pub os: Option<OsDb>,
}

/// Everything the command line decides, checked.
pub struct Plan {
    pub kind: ScanKind,
    /// The targets after exclusions, the blocklist and the allowlist; never empty.
    pub targets: TargetSet,
    pub ports: PortList,
    /// -sU's payloads (empty for the other scans).
    pub payloads: Arc<Payloads>,
    pub stages: Stages,
    pub speed: Speed,
    /// `--gateway-mac`: the next hop's MAC address, instead of asking the kernel.
    pub gateway_mac: Option<[u8; 6]>,
    /// `--shard N --shards M`, with N < M.
    pub shard: (u32, u32),
    /// The permutation's seed: `--seed`, or drawn once for every stage.
    pub seed: u64,
    pub outputs: OutputSpec,
    /// What the user should know about how the targets were narrowed (one line each).
    pub notes: Vec<String>,
}

impl Plan {
    /// Resolves and checks `cli`; every error is an [`InputError`] naming what is wrong.
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        let kind = scan_kind(cli.scan_type);
        check_capture(cli)?;
        let (shard, shard_note) = shard::pick(cli.shard, cli.shards, cli.seed.is_some(), |name| {
            std::env::var(name).ok()
        })
        .map_err(input_error)?;
        let os = match cli.os_detection {
            true => Some(os_database(cli)?),
            false => None,
        };
        let ports = ports(cli, kind.proto())?;
        let payloads = Arc::new(match kind {
            ScanKind::Udp => udp_payloads(cli)?,
            _ => Payloads::none(),
        });
        let discovery = match &cli.sctp_ping {
            Some(spec) => Some(PortList::parse_for(spec, Proto::Sctp).map_err(input_error)?),
            None => None,
        };
        let (targets, mut notes) = targets(cli)?;
        notes.extend(shard_note);
        let speed = speed(cli, targets.len())?;
        let outputs = output_spec(cli)?;
        let gateway_mac = match &cli.gateway_mac {
            Some(mac) => Some(route::parse_mac(mac).map_err(input_error)?),
            None => None,
        };
        Ok(Self {
            kind,
            targets,
            ports,
            payloads,
            stages: Stages { discovery, os },
            speed,
            gateway_mac,
            shard: (shard, cli.shards),
            seed: cli.seed.unwrap_or_else(rand::random),
            outputs,
            notes,
        })
    }
}

fn scan_kind(scan_type: ScanType) -> ScanKind {
    match scan_type {
        ScanType::Syn => ScanKind::Syn,
        ScanType::IpProto => ScanKind::IpProto,
        ScanType::SctpInit => ScanKind::SctpInit,
        ScanType::SctpCookieEcho => ScanKind::SctpCookieEcho,
        ScanType::Udp => ScanKind::Udp,
    }
}

/// Capture flags that cannot work are refused before anything is attached or sent.
fn check_capture(cli: &Cli) -> Result<()> {
    if cli.pcap_all && cli.pcap.is_none() && !cli.packet_trace {
        return Err(input_error(
            "--pcap-all needs --pcap FILE or --packet-trace",
        ));
    }
    if let Some(path) = &cli.pcap {
        // The capture thread writes it afresh.
        std::fs::File::create(path)
            .map_err(|err| input_error(format!("cannot write --pcap {}: {err}", path.display())))?;
    }
    Ok(())
}

/// -O's database: --os-db FILE, or the built-in one. Read before anything is sent, so a bad
/// file costs no scan.
fn os_database(cli: &Cli) -> Result<OsDb> {
    if cli.scan_type != ScanType::Syn {
        return Err(input_error(
            "-O needs the TCP SYN scan (-sS), which finds the open and closed ports it probes",
        ));
    }
    if cli.dry_run {
        return Err(input_error(
            "-O sends its probes: it cannot be combined with --dry-run",
        ));
    }
    let Some(path) = &cli.os_db else {
        return OsDb::builtin().context("the built-in OS database does not parse");
    };
    let text = std::fs::read(path)
        .map_err(|err| input_error(format!("cannot read --os-db {}: {err}", path.display())))?;
    let text = String::from_utf8_lossy(&text);
    let dialect = match cli.os_db_dialect.as_str() {
        "nmap-7.93" => Dialect::Nmap793,
        "nmap-7.94" => Dialect::Nmap794,
        _ => Dialect::of_file(&text),
    };
    OsDb::parse(&text, dialect)
        .map_err(|err| input_error(format!("--os-db {}: {err}", path.display())))
}

/// -sU's payloads: --payloads FILE, nmap's file when installed, or the built-in ones. A file
/// is read before anything is sent, so a bad one costs no scan.
fn udp_payloads(cli: &Cli) -> Result<Payloads> {
    let path = match &cli.payloads {
        Some(path) => path.clone(),
        None if Path::new(NMAP_PAYLOADS).exists() => PathBuf::from(NMAP_PAYLOADS),
        None => return Ok(Payloads::builtin()),
    };
    let text = std::fs::read(&path)
        .map_err(|err| input_error(format!("cannot read --payloads {}: {err}", path.display())))?;
    Payloads::parse(&String::from_utf8_lossy(&text))
        .map_err(|err| input_error(format!("UDP payloads {}: {err}", path.display())))
}

/// -p, or nmap's defaults for the scan's protocol.
fn ports(cli: &Cli, proto: Proto) -> Result<PortList> {
    let services = Services::load();
    match (&cli.ports, proto) {
        (Some(spec), Proto::Ip) => {
            let list = PortList::parse_for(spec, proto).map_err(input_error)?;
            if let Some(number) = list.iter().find(|&number| number > PROTOCOL_MAX) {
                return Err(input_error(format!(
                    "-p {spec}: protocol number {number} is out of range (0-{PROTOCOL_MAX})"
                )));
            }
            Ok(list)
        }
        (Some(spec), _) => PortList::parse_for(spec, proto).map_err(input_error),
        (None, Proto::Ip) if cli.fast => Ok(services.named_protocols().into_iter().collect()),
        (None, Proto::Ip) => Ok((0..=PROTOCOL_MAX).collect()),
        (None, Proto::Sctp) => Ok(services.sctp_ports().into_iter().collect()),
        (None, _) => {
            let count = match cli.fast {
                true => FAST_TOP_PORTS,
                false => DEFAULT_TOP_PORTS,
            };
            Ok(match services.top_ports(proto, count) {
                Some(top) => top.into_iter().collect(),
                None => (1..=1024).collect(),
            })
        }
    }
}

/// The targets and -iL, less --exclude/--excludefile and the block/allowlists, with the note
/// the default blocklist leaves.
fn targets(cli: &Cli) -> Result<(TargetSet, Vec<String>)> {
    let mut targets =
        TargetSet::from_specs(cli.targets.iter().map(String::as_str)).map_err(input_error)?;
    if let Some(path) = &cli.input_list {
        targets = targets.union(&TargetSet::from_file(path).map_err(input_error)?);
    }
    if targets.is_empty() {
        return Err(input_error(
            "no targets: give addresses, ranges or CIDR blocks, or -iL FILE",
        ));
    }
    let mut excluded =
        TargetSet::from_specs(cli.exclude.iter().map(String::as_str)).map_err(input_error)?;
    if let Some(path) = &cli.excludefile {
        excluded = excluded.union(&TargetSet::from_file(path).map_err(input_error)?);
    }
    let blocklist = cli
        .blocklist_file
        .as_deref()
        .map_or(Blocklist::Default, Blocklist::File);
    let policy = AddressPolicy::new(blocklist, cli.allowlist_file.as_deref(), excluded)
        .map_err(input_error)?;
    let applied = policy.apply(&targets).map_err(input_error)?;
    let notes = applied.default_blocklist_note().into_iter().collect();
    if applied.scannable.is_empty() {
        return Err(input_error("every target is excluded: nothing to scan"));
    }
    Ok((applied.scannable, notes))
}

fn speed(cli: &Cli, addresses: u64) -> Result<Speed> {
    match (cli.rate, cli.bandwidth) {
        (Some(rate), _) => Ok(Speed::ProbesPerSecond(rate)),
        (None, Some(bits)) => Ok(Speed::BitsPerSecond(bits)),
        (None, None) if addresses > LARGE_SCAN_ADDRESSES && !cli.dry_run => {
            Err(input_error(format!(
                "{addresses} addresses is an Internet-scale scan: give its speed explicitly with --rate or --bandwidth"
            )))
        }
        (None, None) => Ok(Speed::ProbesPerSecond(DEFAULT_RATE)),
    }
}

/// The outputs asked for (-oA expanded to its three files), with the XML's stylesheet.
fn output_spec(cli: &Cli) -> Result<OutputSpec> {
    let mut files: Vec<(Format, PathBuf)> = Vec::new();
    if let Some(base) = &cli.output_all {
        let with = |extension: &str| {
            let mut name = base.clone().into_os_string();
            name.push(extension);
            PathBuf::from(name)
        };
        files.extend([
            (Format::Normal, with(".nmap")),
            (Format::Xml, with(".xml")),
            (Format::Grepable, with(".gnmap")),
        ]);
    }
    for (format, path) in [
        (Format::Normal, &cli.output_normal),
        (Format::Xml, &cli.output_xml),
        (Format::Grepable, &cli.output_grepable),
        (Format::Json, &cli.output_json),
        (Format::Csv, &cli.output_csv),
        (Format::List, &cli.output_list),
    ] {
        if let Some(path) = path {
            files.push((format, path.clone()));
        }
    }
    let to_stdout = files
        .iter()
        .filter(|(_, path)| path == Path::new("-"))
        .count();
    if to_stdout > 1 {
        return Err(input_error(
            "more than one output goes to standard output (-): give the others files",
        ));
    }
    let fields = match &cli.output_fields {
        Some(spec) => Some(Fields::parse(spec).map_err(input_error)?),
        None => None,
    };
    let stylesheet = match (&cli.stylesheet, cli.no_stylesheet) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) => Some(xml::DEFAULT_STYLESHEET.to_owned()),
    };
    Ok(OutputSpec {
        files,
        fields,
        stylesheet,
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn plan(line: &str) -> Result<Plan> {
        let cli = Cli::parse_nmap_style(line.split_whitespace().map(OsString::from))
            .expect("the test's command line parses");
        Plan::from_cli(&cli)
    }

    /// The one-line error of an [`InputError`], or a panic if it is not one.
    fn refused(line: &str) -> String {
        let err = plan(line).err().expect("refused");
        assert!(
            err.is::<InputError>(),
            "{line}: not an input error: {err:#}"
        );
        err.to_string()
    }

    /// Lab addresses, which the default blocklist holds: allowed explicitly.
    const LAB: &str = "--blocklist-file /dev/null";

    #[test]
    fn defaults_follow_nmap_per_scan_type() {
        let syn = plan(&format!("scanner {LAB} 198.18.0.2")).unwrap();
        assert_eq!(syn.kind, ScanKind::Syn);
        assert_eq!(syn.ports.len(), DEFAULT_TOP_PORTS);
        assert_eq!(syn.speed, Speed::ProbesPerSecond(DEFAULT_RATE));
        assert!(syn.stages.discovery.is_none() && syn.stages.os.is_none());
        assert_eq!(syn.shard, (0, 1));
        let fast = plan(&format!("scanner -F {LAB} 198.18.0.2")).unwrap();
        assert_eq!(fast.ports.len(), FAST_TOP_PORTS);
        let protocols = plan(&format!("scanner -sO {LAB} 198.18.0.2")).unwrap();
        assert_eq!(protocols.kind, ScanKind::IpProto);
        assert_eq!(protocols.ports.len(), 256);
        let sctp = plan(&format!("scanner -sY {LAB} 198.18.0.2")).unwrap();
        assert!(
            sctp.ports.iter().any(|port| port == 2905),
            "nmap's SCTP ports"
        );
    }

    #[test]
    fn stages_come_from_their_flags() {
        let plan = plan(&format!("scanner -O -PY80,2905 {LAB} 198.18.0.2")).unwrap();
        assert!(plan.stages.os.is_some(), "the built-in OS database");
        let ping: Vec<u16> = plan.stages.discovery.unwrap().iter().collect();
        assert_eq!(ping, [80, 2905]);
    }

    #[test]
    fn targets_are_narrowed_with_a_note_for_the_default_blocklist() {
        let narrowed = plan(&format!("scanner {LAB} 198.18.0.0/30 --exclude 198.18.0.1")).unwrap();
        assert_eq!(narrowed.targets.len(), 3);
        assert!(narrowed.notes.is_empty());
        let allowed = plan("scanner --allowlist-file /dev/null 198.18.0.2").err();
        assert!(allowed.is_some(), "an empty allowlist allows nothing");
        assert!(
            refused("scanner 198.18.0.0/30").contains("nothing to scan"),
            "every lab address is in the default blocklist"
        );
    }

    #[test]
    fn outputs_expand_oa_and_link_nmaps_stylesheet() {
        let plan = plan(&format!("scanner -oA /tmp/base -oJ - {LAB} 198.18.0.2")).unwrap();
        let files: Vec<(Format, String)> = plan
            .outputs
            .files
            .iter()
            .map(|(format, path)| (*format, path.display().to_string()))
            .collect();
        assert_eq!(
            files,
            [
                (Format::Normal, "/tmp/base.nmap".to_owned()),
                (Format::Xml, "/tmp/base.xml".to_owned()),
                (Format::Grepable, "/tmp/base.gnmap".to_owned()),
                (Format::Json, "-".to_owned()),
            ]
        );
        assert!(plan.outputs.uses_stdout());
        assert_eq!(
            plan.outputs.stylesheet.as_deref(),
            Some(xml::DEFAULT_STYLESHEET)
        );
    }

    /// Nothing is sent: these are only planned.
    #[test]
    fn each_impossible_request_is_one_line_naming_it() {
        for (line, names) in [
            ("scanner -sO -O 198.18.0.2", "-O needs the TCP SYN scan"),
            (
                "scanner -O --dry-run 198.18.0.2",
                "cannot be combined with --dry-run",
            ),
            (
                "scanner --seed 1 --shards 2 --shard 2 198.18.0.2",
                "--shard 2 is out of range",
            ),
            ("scanner --pcap-all 198.18.0.2", "--pcap-all needs --pcap"),
            (
                "scanner -sO -p 1,300 198.18.0.2",
                "protocol number 300 is out of range",
            ),
            ("scanner -p 70000 198.18.0.2", "70000"),
            ("scanner -oJ - -oX - 198.18.0.2", "more than one output"),
            (
                "scanner --output-fields saddr,nonsense 198.18.0.2",
                "nonsense",
            ),
            ("scanner 198.18.0.0/7", "Internet-scale"),
            ("scanner 198.18.0.300", "198.18.0.300"),
            ("scanner --gateway-mac 02:00:zz 198.18.0.2", "02:00:zz"),
            (
                "scanner -iL /nonexistent/targets 198.18.0.2",
                "/nonexistent/targets",
            ),
            (
                "scanner -O --os-db /nonexistent/db 198.18.0.2",
                "/nonexistent/db",
            ),
        ] {
            let message = refused(&format!("{line} {LAB}"));
            assert!(message.contains(names), "{line}: {message}");
            assert!(!message.contains('\n'), "{line}: one line: {message}");
        }
    }

    #[test]
    fn a_large_scan_is_allowed_with_a_speed_or_as_a_dry_run() {
        for line in [
            "scanner --rate 1000 --blocklist-file /dev/null 198.18.0.0/7",
            "scanner --bandwidth 1G --blocklist-file /dev/null 198.18.0.0/7",
            "scanner --dry-run --blocklist-file /dev/null 198.18.0.0/7",
        ] {
            assert!(plan(line).is_ok(), "{line}");
        }
    }
}
