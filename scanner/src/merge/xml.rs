//! nmap's XML: the first input's head (prolog, `nmaprun`, `scaninfo`, ...), then every host
//! once. Shards split (address, port) pairs, so one host may be in several inputs, each with
//! some of its ports: its `port` elements are joined (each port once), its `extraports` added
//! up by state and reason (counts summed, port ranges joined), the rest of it (status, OS)
//! taken from its first input. A shard lists only the hosts that answered it, so a host up
//! overall may lack the silent ports of a shard it answered nothing in: when every input is a
//! shard of one scan (the same `scaninfo`) and none ended in error, the ports of `scaninfo`
//! that no input lists for a host get the scan's silent state (`no-response`), listed or
//! folded as nmap would. One `runstats` closes the report: the latest finish, the
//! longest run, an error if any input ended in one, the hosts up counted, and the addresses
//! those of the inputs (one scan's shards share theirs; different scans add up). Inputs are
//! read with quick-xml, so a truncated or malformed file is refused by name instead of
//! producing an invalid report.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::{Duration, SystemTime},
};

use quick_xml::{
    Reader,
    events::{BytesStart, Event},
};

use super::{Input, Merged};
use crate::{
    output::xml::{escape, write_port},
    report::{PortEntry, RunEnd, RunStats, port_ranges},
    services::Services,
    verdict::{PortState, Proto, Reason},
};

/// What one input holds.
struct Report<'a> {
    /// Everything before the first host (or the run statistics).
    head: &'a str,
    /// Its `scaninfo`: the scan type, the protocol and the ports.
    scan: Option<ScanInfo>,
    hosts: Vec<Host<'a>>,
    finished: Finished,
}

/// One host element, cut where its ports are.
struct Host<'a> {
    address: Option<String>,
    /// From `<host>` to the end of the `<ports>` tag; the whole host if it has no ports.
    before_ports: &'a str,
    /// `port` elements by (protocol, port number).
    ports: Vec<((String, String), &'a str)>,
    extra: Vec<Extra>,
    /// From `</ports>` to `</host>`, when it has ports.
    after_ports: Option<&'a str>,
}

/// An `extraports` element.
#[derive(Debug)]
struct Extra {
    state: String,
    count: u64,
    reasons: Vec<ExtraReason>,
}

/// An `extrareasons` element: (reason, proto), then (count, ports).
type ExtraReason = ((String, String), (u64, BTreeSet<u16>));

/// A `scaninfo` element.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ScanInfo {
    kind: String,
    protocol: String,
    services: BTreeSet<u16>,
}

impl ScanInfo {
    /// The state silence gives in this scan type (nmap's: -sS and -sY `filtered`, -sZ, -sO
    /// and -sU `open|filtered`), and the protocol; `None` for a type merge does not know.
    fn silence(&self) -> Option<(PortState, Proto)> {
        let state = match self.kind.as_str() {
            "syn" | "sctpinit" => PortState::Filtered,
            "sctpcookieecho" | "ipproto" | "udp" => PortState::OpenFiltered,
            _ => return None,
        };
        let proto = match self.protocol.as_str() {
            "tcp" => Proto::Tcp,
            "sctp" => Proto::Sctp,
            "udp" => Proto::Udp,
            "ip" => Proto::Ip,
            _ => return None,
        };
        Some((state, proto))
    }
}

/// The run statistics of one input, or of all together.
#[derive(Debug, Default)]
struct Finished {
    time: u64,
    timestr: String,
    elapsed: f64,
    error: Option<String>,
    total: u64,
}

pub fn merge(inputs: &[Input], out: &mut Vec<u8>) -> Result<Merged, String> {
    let reports = inputs
        .iter()
        .map(|input| read(&input.text).map_err(|err| format!("{}: {err}", input.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut merged = Merged::default();
    out.extend_from_slice(reports[0].head.as_bytes());

    // Hosts in the order first seen; each address's occurrences together.
    let mut order: Vec<Vec<&Host>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for host in reports.iter().flat_map(|report| &report.hosts) {
        match host.address.as_deref() {
            Some(address) if index.contains_key(address) => order[index[address]].push(host),
            Some(address) => {
                index.insert(address, order.len());
                order.push(vec![host]);
            }
            None => order.push(vec![host]),
        }
    }
    // Silence is filled in only for the shards of one scan that all ran to their end: a
    // probe another input never sent is not silent.
    let one_scan = reports.iter().all(|report| report.scan == reports[0].scan)
        && reports.iter().all(|report| report.finished.error.is_none());
    let silence = match (&reports[0].scan, one_scan) {
        (Some(scan), true) => scan
            .silence()
            .map(|(state, proto)| (state, proto, &scan.services)),
        _ => None,
    };
    for occurrences in &order {
        merged.duplicates += write_host(out, occurrences, silence);
        merged.records += 1;
    }

    let mut all = Finished::default();
    let mut totals = HashSet::new();
    for report in &reports {
        let finished = &report.finished;
        if finished.time >= all.time {
            all.time = finished.time;
            all.timestr.clone_from(&finished.timestr);
        }
        all.elapsed = all.elapsed.max(finished.elapsed);
        if all.error.is_none() {
            all.error.clone_from(&finished.error);
        }
        totals.insert(finished.total);
        all.total += finished.total;
    }
    // Shards of one scan share its addresses: the same total in every input.
    if totals.len() == 1 {
        all.total = reports[0].finished.total;
    }
    let up = order.len() as u64;
    let total = all.total.max(up);
    write_runstats(out, &all, up, total);
    Ok(merged)
}

/// The scan's silent state, its protocol and its ports, when merge may fill silence in.
type Silence<'a> = Option<(PortState, Proto, &'a BTreeSet<u16>)>;

/// Writes one host from its occurrences; returns how many of their ports were duplicates.
fn write_host(out: &mut Vec<u8>, occurrences: &[&Host], silence: Silence) -> u64 {
    let first = occurrences[0];
    let Some(after_ports) = first.after_ports else {
        // No ports to join: the host once, as its first input has it.
        out.extend_from_slice(first.before_ports.as_bytes());
        out.push(b'\n');
        return occurrences.len() as u64 - 1;
    };
    out.extend_from_slice(first.before_ports.as_bytes());
    // extraports: one per state, reasons summed.
    let mut extras: Vec<Extra> = Vec::new();
    for extra in occurrences.iter().flat_map(|host| &host.extra) {
        let into = match extras.iter_mut().position(|e| e.state == extra.state) {
            Some(at) => &mut extras[at],
            None => {
                extras.push(Extra {
                    state: extra.state.clone(),
                    count: 0,
                    reasons: Vec::new(),
                });
                extras.last_mut().expect("pushed")
            }
        };
        into.count += extra.count;
        for (key, (count, ports)) in &extra.reasons {
            match into.reasons.iter_mut().find(|(k, _)| k == key) {
                Some((_, (total, all))) => {
                    *total += count;
                    all.extend(ports);
                }
                None => into.reasons.push((key.clone(), (*count, ports.clone()))),
            }
        }
    }
    let mut silent_ports: Vec<(u16, String)> = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut ports: Vec<(&(String, String), &str)> = Vec::new();
    for (key, port) in occurrences.iter().flat_map(|host| &host.ports) {
        if !seen.insert(key) {
            duplicates += 1;
            continue;
        }
        ports.push((key, port));
    }
    let silent = missing_ports(silence, &ports, &extras);
    if let Some((state, proto, _)) = silence
        && !silent.is_empty()
    {
        let in_state = format!(r#"<state state="{}""#, state.as_str());
        let listed_in_state = ports
            .iter()
            .filter(|(_, port)| port.contains(&in_state))
            .count();
        let folded = extras.iter().any(|extra| extra.state == state.as_str());
        if folded || listed_in_state + silent.len() > MAX_PER_STATE {
            add_to_extraports(&mut extras, state, proto, &silent);
        } else {
            silent_ports = silent
                .iter()
                .map(|&port| silent_port(state, proto, port))
                .collect();
        }
    }
    write_extraports(out, &extras);
    // nmap lists ports by number.
    let mut listed: Vec<(u32, &str)> = ports
        .iter()
        .map(|((_, id), text)| (id.parse().unwrap_or(u32::MAX), *text))
        .chain(
            silent_ports
                .iter()
                .map(|(port, text)| (u32::from(*port), text.as_str())),
        )
        .collect();
    listed.sort_by_key(|(port, _)| *port);
    for (_, text) in listed {
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(after_ports.as_bytes());
    out.push(b'\n');
    duplicates
}

/// nmap folds a state once it holds more than this many ports (without -v).
const MAX_PER_STATE: usize = 25;

/// The scan's ports that neither a `port` element nor an `extraports` range lists.
fn missing_ports(
    silence: Silence,
    ports: &[(&(String, String), &str)],
    extras: &[Extra],
) -> Vec<u16> {
    let Some((_, proto, services)) = silence else {
        return Vec::new();
    };
    let mut known: BTreeSet<u16> = ports
        .iter()
        .filter(|((protocol, _), _)| protocol == proto.as_str())
        .filter_map(|((_, id), _)| id.parse().ok())
        .collect();
    for extra in extras {
        for ((_, reason_proto), (_, listed)) in &extra.reasons {
            if reason_proto == proto.as_str() {
                known.extend(listed);
            }
        }
    }
    services.difference(&known).copied().collect()
}

fn add_to_extraports(extras: &mut Vec<Extra>, state: PortState, proto: Proto, ports: &[u16]) {
    let at = match extras
        .iter()
        .position(|extra| extra.state == state.as_str())
    {
        Some(at) => at,
        None => {
            extras.push(Extra {
                state: state.as_str().to_owned(),
                count: 0,
                reasons: Vec::new(),
            });
            extras.len() - 1
        }
    };
    let extra = &mut extras[at];
    extra.count += ports.len() as u64;
    let key = (
        Reason::NoResponse.as_str().to_owned(),
        proto.as_str().to_owned(),
    );
    match extra.reasons.iter_mut().find(|(k, _)| *k == key) {
        Some((_, (count, listed))) => {
            *count += ports.len() as u64;
            listed.extend(ports);
        }
        None => extra
            .reasons
            .push((key, (ports.len() as u64, ports.iter().copied().collect()))),
    }
}

/// A silent port's element, as the scan itself writes one.
fn silent_port(state: PortState, proto: Proto, port: u16) -> (u16, String) {
    let entry = PortEntry {
        port,
        proto,
        state,
        reason: Reason::NoResponse,
        ttl: 0,
        responder: None,
        local_port: None,
        service: Services::global().known_name(proto, port),
    };
    let mut text = Vec::new();
    write_port(&mut text, &entry).expect("writing to memory");
    let text = String::from_utf8(text).expect("UTF-8");
    (port, text.trim_end().to_owned())
}

fn write_extraports(out: &mut Vec<u8>, extras: &[Extra]) {
    for extra in extras {
        out.extend_from_slice(
            format!(
                "<extraports state=\"{}\" count=\"{}\">\n",
                escape(&extra.state),
                extra.count
            )
            .as_bytes(),
        );
        for ((reason, proto), (count, ports)) in &extra.reasons {
            let ports: Vec<u16> = ports.iter().copied().collect();
            out.extend_from_slice(
                format!(
                    "<extrareasons reason=\"{}\" count=\"{count}\" proto=\"{}\" ports=\"{}\"/>\n",
                    escape(reason),
                    escape(proto),
                    port_ranges(&ports)
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(b"</extraports>\n");
    }
}

fn write_runstats(out: &mut Vec<u8>, all: &Finished, up: u64, total: u64) {
    let summary = RunStats {
        end: SystemTime::UNIX_EPOCH + Duration::from_secs(all.time),
        elapsed_secs: all.elapsed,
        addresses: total,
        hosts_up: up,
        ended: RunEnd::Completed,
    }
    .summary();
    let (exit, error) = match &all.error {
        None => ("success", String::new()),
        Some(message) => ("error", format!(r#" errormsg="{}""#, escape(message))),
    };
    let timestr = escape(&all.timestr);
    out.extend_from_slice(
        format!(
            "<runstats><finished time=\"{}\" timestr=\"{timestr}\" summary=\"Nmap done at \
             {timestr}; {}\" elapsed=\"{:.2}\" exit=\"{exit}\"{error}/><hosts up=\"{up}\" \
             down=\"{}\" total=\"{total}\"/>\n</runstats>\n</nmaprun>\n",
            all.time,
            escape(&summary),
            all.elapsed,
            total - up,
        )
        .as_bytes(),
    );
}

/// A host being read: where it starts, and what has been cut out of it so far.
struct Reading {
    start: usize,
    address: Option<String>,
    ports_open: Option<usize>,
    ports_close: Option<usize>,
    ports: Vec<((String, String), (usize, usize))>,
    port_start: Option<(usize, (String, String))>,
    extra: Vec<Extra>,
}

/// Splits one nmap XML report into its head, its hosts and its run statistics.
fn read(text: &str) -> Result<Report<'_>, String> {
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut head_end = None;
    let mut hosts = Vec::new();
    let mut host: Option<Reading> = None;
    let mut finished = None;
    let mut in_runstats = false;
    let mut closed = false;
    let mut scan = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|err| {
            // quick-xml quotes the offending text, newlines and all: one line, escaped.
            let err = err.to_string().escape_debug().to_string();
            format!("not well-formed XML at byte {before}: {err}")
        })?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(tag) | Event::Empty(tag)
                if depth == 0 && tag.name().into_inner() != "nmaprun" =>
            {
                return Err("not an nmap XML report (no nmaprun element)".into());
            }
            Event::Start(tag) => {
                let name = tag.name().into_inner();
                match (depth, name) {
                    (1, "host") => {
                        head_end.get_or_insert(before);
                        host = Some(Reading {
                            start: before,
                            address: None,
                            ports_open: None,
                            ports_close: None,
                            ports: Vec::new(),
                            port_start: None,
                            extra: Vec::new(),
                        });
                    }
                    (1, "runstats") => {
                        head_end.get_or_insert(before);
                        in_runstats = true;
                    }
                    (2, "ports") => {
                        if let Some(host) = &mut host {
                            host.ports_open = Some(after);
                        }
                    }
                    (3, "port") => {
                        if let Some(host) = &mut host {
                            host.port_start = Some((before, port_key(&tag)?));
                        }
                    }
                    (3, "extraports") => {
                        if let Some(host) = &mut host {
                            host.extra.push(extra_ports(&tag)?);
                        }
                    }
                    _ => {}
                }
                depth += 1;
            }
            Event::Empty(tag) => {
                let name = tag.name().into_inner();
                if let Some(host) = &mut host {
                    match (depth, name) {
                        (2, "address") if host.address.is_none() => {
                            host.address = attribute(&tag, "addr")?;
                        }
                        (3, "port") => {
                            host.ports.push((port_key(&tag)?, (before, after)));
                        }
                        (3, "extraports") => host.extra.push(extra_ports(&tag)?),
                        (4, "extrareasons") => {
                            if let Some(extra) = host.extra.last_mut() {
                                extra.reasons.push(extra_reasons(&tag)?);
                            }
                        }
                        _ => {}
                    }
                }
                if in_runstats && depth == 2 {
                    read_runstats(&tag, finished.get_or_insert_with(Finished::default))?;
                }
                if depth == 1 && tag.name().into_inner() == "scaninfo" && scan.is_none() {
                    scan = Some(ScanInfo {
                        kind: attribute(&tag, "type")?.unwrap_or_default(),
                        protocol: attribute(&tag, "protocol")?.unwrap_or_default(),
                        services: match attribute(&tag, "services")? {
                            Some(ranges) => parse_ranges(&ranges)?,
                            None => BTreeSet::new(),
                        },
                    });
                }
            }
            Event::End(tag) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("a closing tag without its opening at byte {before}"))?;
                let name = tag.name().into_inner();
                match (depth, name) {
                    (1, "host") => {
                        let reading = host.take().expect("inside a host");
                        hosts.push(cut_host(text, reading, after));
                    }
                    (1, "runstats") => in_runstats = false,
                    (2, "ports") => {
                        if let Some(host) = &mut host {
                            host.ports_close = Some(before);
                        }
                    }
                    (3, "port") => {
                        if let Some(host) = &mut host
                            && let Some((start, key)) = host.port_start.take()
                        {
                            host.ports.push((key, (start, after)));
                        }
                    }
                    (0, _) => closed = true,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !closed {
        return Err(
            "not a complete nmap XML report (no closing </nmaprun>: was its scan killed?)".into(),
        );
    }
    let finished = finished.ok_or("no runstats element: not a finished nmap XML report")?;
    let head_end = head_end.ok_or("no host and no runstats element")?;
    Ok(Report {
        head: &text[..head_end],
        scan,
        hosts,
        finished,
    })
}

fn cut_host(text: &str, reading: Reading, end: usize) -> Host<'_> {
    let ports = reading
        .ports
        .into_iter()
        .map(|(key, (start, stop))| (key, &text[start..stop]))
        .collect();
    match (reading.ports_open, reading.ports_close) {
        (Some(open), Some(close)) => Host {
            address: reading.address,
            before_ports: &text[reading.start..open],
            ports,
            extra: reading.extra,
            after_ports: Some(&text[close..end]),
        },
        _ => Host {
            address: reading.address,
            before_ports: &text[reading.start..end],
            ports: Vec::new(),
            extra: Vec::new(),
            after_ports: None,
        },
    }
}

fn port_key(tag: &BytesStart) -> Result<(String, String), String> {
    Ok((
        attribute(tag, "protocol")?.unwrap_or_default(),
        attribute(tag, "portid")?.ok_or("a port element without portid")?,
    ))
}

fn extra_ports(tag: &BytesStart) -> Result<Extra, String> {
    Ok(Extra {
        state: attribute(tag, "state")?.unwrap_or_default(),
        count: count(tag, "count")?,
        reasons: Vec::new(),
    })
}

fn extra_reasons(tag: &BytesStart) -> Result<ExtraReason, String> {
    let ports = match attribute(tag, "ports")? {
        Some(ranges) => parse_ranges(&ranges)?,
        None => BTreeSet::new(),
    };
    Ok((
        (
            attribute(tag, "reason")?.unwrap_or_default(),
            attribute(tag, "proto")?.unwrap_or_default(),
        ),
        (count(tag, "count")?, ports),
    ))
}

/// `22-25,80`, as `extrareasons ports=` lists them.
fn parse_ranges(ranges: &str) -> Result<BTreeSet<u16>, String> {
    let bad = || format!("ports={ranges:?} is not a list of port ranges");
    let mut ports = BTreeSet::new();
    for part in ranges.split(',').filter(|part| !part.is_empty()) {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        let low: u16 = low.parse().map_err(|_| bad())?;
        let high: u16 = high.parse().map_err(|_| bad())?;
        if low > high {
            return Err(bad());
        }
        ports.extend(low..=high);
    }
    Ok(ports)
}

fn count(tag: &BytesStart, name: &str) -> Result<u64, String> {
    attribute(tag, name)?.map_or(Ok(0), |value| {
        value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a count"))
    })
}

fn attribute(tag: &BytesStart, name: &str) -> Result<Option<String>, String> {
    for attr in tag.attributes() {
        let attr = attr.map_err(|err| format!("a malformed attribute: {err}"))?;
        if attr.key.into_inner() == name {
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                .map_err(|err| format!("a malformed attribute value: {err}"))?;
            // A raw control character gets past the reader, but no XML may hold it, not
            // even as a reference: the merged file would not read back.
            if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
                return Err(format!(
                    "attribute {name} holds U+{:04X}, which XML does not allow",
                    u32::from(c)
                ));
            }
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// XML 1.0's Char production (section 2.2).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn read_runstats(tag: &BytesStart, stats: &mut Finished) -> Result<(), String> {
    match tag.name().into_inner() {
        "finished" => {
            stats.time = count(tag, "time")?;
            stats.timestr = attribute(tag, "timestr")?.unwrap_or_default();
            stats.elapsed = match attribute(tag, "elapsed")? {
                Some(value) => value
                    .parse()
                    .map_err(|_| format!("runstats: elapsed={value:?} is not a number"))?,
                None => 0.0,
            };
            if attribute(tag, "exit")?.as_deref() == Some("error") {
                stats.error = Some(attribute(tag, "errormsg")?.unwrap_or_else(|| "error".into()));
            }
        }
        "hosts" => stats.total = count(tag, "total")?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{super::tests::input, *};

    fn report(hosts: &[&str], up: u64, total: u64, time: u64, exit: &str) -> String {
        let mut text = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<nmaprun \
             scanner=\"nmap\" args=\"scanner\" start=\"1\" version=\"0.1.0\" \
             xmloutputversion=\"1.05\">\n<scaninfo type=\"syn\" protocol=\"tcp\" \
             numservices=\"1\" services=\"22\"/>\n",
        );
        for ip in hosts {
            text.push_str(&format!(
                "<host><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"64\"/>\n<address \
                 addr=\"{ip}\" addrtype=\"ipv4\"/>\n</host>\n"
            ));
        }
        text.push_str(&format!(
            "<runstats><finished time=\"{time}\" timestr=\"T{time}\" summary=\"x\" \
             elapsed=\"{time}.00\" exit=\"{exit}\"/><hosts up=\"{up}\" down=\"{}\" \
             total=\"{total}\"/>\n</runstats>\n</nmaprun>\n",
            total - up
        ));
        text
    }

    #[test]
    fn hosts_join_once_each_under_one_head_and_summed_runstats() {
        let a = report(&["198.18.128.1", "198.18.128.2"], 2, 4, 10, "success");
        // Another scan (its own total): addresses add up; 198.18.128.1 again is listed once.
        let b = report(&["198.18.128.3", "198.18.128.1"], 2, 3, 12, "error");
        let mut out = Vec::new();
        let merged = merge(&[input("a", &a), input("b", &b)], &mut out).unwrap();
        assert_eq!(
            merged,
            Merged {
                records: 3,
                duplicates: 1
            }
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("<nmaprun ").count(), 1);
        assert_eq!(text.matches("<host>").count(), 3);
        assert!(
            text.contains(r#"<hosts up="3" down="4" total="7"/>"#),
            "{text}"
        );
        assert!(text.contains(r#"time="12" timestr="T12""#), "{text}");
        assert!(text.contains(r#"exit="error" errormsg="error""#), "{text}");
        assert!(
            text.contains("7 IP addresses (3 hosts up) scanned in 12.00 seconds"),
            "{text}"
        );
        assert!(text.ends_with("</runstats>\n</nmaprun>\n"));
        // What it wrote reads back.
        read(&text).unwrap();
    }

    /// One host in two shards, each with some of its ports: one host with all of them, the
    /// folded ones added up by state and reason.
    #[test]
    fn a_host_split_between_shards_gets_all_its_ports_back() {
        let shard = |ports: &str, extra: &str| {
            format!(
                "<nmaprun>\n<host><status state=\"up\"/>\n<address addr=\"198.18.128.1\" \
                 addrtype=\"ipv4\"/>\n<ports>{extra}{ports}</ports>\n</host>\n<runstats><finished \
                 time=\"5\" timestr=\"T\" elapsed=\"1.00\" exit=\"success\"/><hosts up=\"1\" \
                 down=\"0\" total=\"1\"/>\n</runstats>\n</nmaprun>\n"
            )
        };
        let port = |n: u16, state: &str| {
            format!("<port protocol=\"tcp\" portid=\"{n}\"><state state=\"{state}\"/></port>\n")
        };
        let extra = |count: u64, ports: &str| {
            format!(
                "<extraports state=\"closed\" count=\"{count}\">\n<extrareasons \
                 reason=\"reset\" count=\"{count}\" proto=\"tcp\" ports=\"{ports}\"/>\n\
                 </extraports>\n"
            )
        };
        let a = shard(&port(22, "open"), &extra(3, "1-3"));
        let b = shard(
            &format!("{}{}", port(80, "open"), port(22, "open")),
            &extra(2, "5,7"),
        );
        let mut out = Vec::new();
        let merged = merge(&[input("a", &a), input("b", &b)], &mut out).unwrap();
        assert_eq!(
            merged,
            Merged {
                records: 1,
                duplicates: 1
            }
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("<host>").count(), 1, "{text}");
        assert_eq!(text.matches(r#"portid="22""#).count(), 1, "{text}");
        assert_eq!(text.matches(r#"portid="80""#).count(), 1, "{text}");
        assert!(
            text.contains(r#"<extraports state="closed" count="5">"#)
                && text.contains(r#"reason="reset" count="5" proto="tcp" ports="1-3,5,7""#),
            "{text}"
        );
        // One scan's shards: the same total, not added up.
        assert!(
            text.contains(r#"<hosts up="1" down="0" total="1"/>"#),
            "{text}"
        );
        read(&text).unwrap();
    }

    /// Shards of one scan that ran to their end: the ports no shard lists for a host get the
    /// scan's silent state; after an error, nothing is filled in.
    #[test]
    fn silence_no_shard_could_list_is_filled_in_from_scaninfo() {
        let shard = |port: &str, exit: &str| {
            format!(
                "<nmaprun>\n<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" \
                 services=\"22-23,8081\"/>\n<host><status state=\"up\"/>\n<address \
                 addr=\"198.18.128.1\" addrtype=\"ipv4\"/>\n<ports>{port}</ports>\n</host>\n\
                 <runstats><finished time=\"5\" timestr=\"T\" elapsed=\"1.00\" exit=\"{exit}\"/>\
                 <hosts up=\"1\" down=\"0\" total=\"1\"/>\n</runstats>\n</nmaprun>\n"
            )
        };
        let port = |n: u16, state: &str| {
            format!("<port protocol=\"tcp\" portid=\"{n}\"><state state=\"{state}\"/></port>\n")
        };
        let merged = |exit: &str| {
            let a = shard(&port(22, "open"), "success");
            let b = shard(&port(23, "closed"), exit);
            let mut out = Vec::new();
            merge(&[input("a", &a), input("b", &b)], &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let text = merged("success");
        assert!(
            text.contains(
                r#"<port protocol="tcp" portid="8081"><state state="filtered" reason="no-response" reason_ttl="0"/>"#
            ),
            "{text}"
        );
        // By port number: 22, 23, 8081.
        let at = |port: &str| text.find(&format!(r#"portid="{port}""#)).unwrap();
        assert!(at("22") < at("23") && at("23") < at("8081"), "{text}");
        assert!(!merged("error").contains(r#"portid="8081""#));
    }

    #[test]
    fn a_truncated_or_foreign_file_is_refused_by_name() {
        let whole = report(&["198.18.128.1"], 1, 1, 1, "success");
        let cut = &whole[..whole.len() / 2];
        for (text, expected) in [
            (cut, "b: "),
            ("<html></html>", "b: not an nmap XML report"),
            ("<nmaprun><host></host></nmaprun>", "b: no runstats element"),
        ] {
            let err = merge(&[input("a", &whole), input("b", text)], &mut Vec::new()).unwrap_err();
            assert!(err.starts_with(expected), "{err}");
        }
    }
}
