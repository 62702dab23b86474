//! The outputs against nmap's and the tools that read nmap's: for -sS, -sY, -sZ, -sO and -O on
//! the same lab hosts, our -oX is valid against nmap.dtd, `ndiff` of nmap's XML against ours
//! shows nothing but the scan header, python-libnmap reads the same hosts, ports, states and
//! reasons, xsltproc renders it with nmap.xsl, the `Ports:` fields of -oG are nmap's, and
//! -oJ's states are nmap's port for port. Also: -Pn lists silent hosts as nmap does, --open
//! keeps what nmap's keeps, -oA, -oC and -oL, and a full disk is one clear line.

mod common;

use std::{collections::BTreeMap, fs, path::PathBuf, process::Command};

use common::{
    consumers::{assert_valid_xml, libnmap, ndiff, tool},
    run, scanner,
    scratch::Scratch,
};
use scanner_tests::{Lab, LabConfig};

const NMAP_XSL: &str = "/usr/share/nmap/nmap.xsl";
const HOSTS: &str = "198.18.128.7-9";

/// A directory for one test's files, removed afterwards.
fn nmap(lab: &Lab, args: &[&str]) {
    let output = lab
        .command_in_scanner("nmap")
        .arg("-n")
        .args(args)
        .output()
        .expect("running nmap");
    assert!(output.status.success(), "nmap failed: {output:?}");
}

/// `host -> Ports: field` of grepable output.
fn ports_fields(path: &str) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let host = line.strip_prefix("Host: ")?.split_whitespace().next()?;
            let (_, ports) = line
                .split_once("\tPorts: ")
                .or_else(|| line.split_once("\tProtocols: "))?;
            Some((host.to_owned(), ports.to_owned()))
        })
        .collect()
}

/// `(host, port) -> state` of every line of -oJ (OS lines aside).
fn json_states(path: &str) -> BTreeMap<(String, u64), String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .filter(|value| value.get("port").is_some())
        .map(|value| {
            (
                (
                    value["ip"].as_str().unwrap().to_owned(),
                    value["port"].as_u64().unwrap(),
                ),
                value["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// nmap's state of every port of the scan, from its XML (folded ports included).
fn nmap_all_states(lab: &Lab, args: &[&str], scratch: &Scratch) -> BTreeMap<(String, u64), String> {
    let path = scratch.path("all-states.xml");
    // -d lists every port, none folded into extraports.
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["-d", "-oX", &path]);
    nmap(lab, &full);
    let script = "import sys\n\
        from libnmap.parser import NmapParser\n\
        for h in NmapParser.parse_fromfile(sys.argv[1]).hosts:\n\
        \x20   for s in h.services:\n\
        \x20       print(h.address, s.port, s.state)\n";
    let out = tool("/usr/bin/python3", &["-c", script, &path]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                (fields[0].to_owned(), fields[1].parse().unwrap()),
                fields[2].to_owned(),
            )
        })
        .collect()
}

/// One scan type, nmap and ours on the same hosts, every consumer.
fn compare(lab: &Lab, scratch: &Scratch, name: &str, args: &[&str]) {
    let (theirs_xml, theirs_gnmap) = (
        scratch.path(&format!("{name}-nmap.xml")),
        scratch.path(&format!("{name}-nmap.gnmap")),
    );
    let (ours_xml, ours_gnmap, ours_json) = (
        scratch.path(&format!("{name}-ours.xml")),
        scratch.path(&format!("{name}-ours.gnmap")),
        scratch.path(&format!("{name}-ours.jsonl")),
    );
    let mut theirs_args = args.to_vec();
    theirs_args.extend(["--reason", "-oX", &theirs_xml, "-oG", &theirs_gnmap]);
    nmap(lab, &theirs_args);
    run(scanner(lab).args(args).args([
        "--reason",
        "-oX",
        &ours_xml,
        "-oG",
        &ours_gnmap,
        "-oJ",
        &ours_json,
    ]));

    assert_valid_xml(&ours_xml);
    let differences = ndiff(&theirs_xml, &ours_xml);
    assert!(
        differences.is_empty(),
        "{name}: ndiff of nmap's XML against ours:\n{}",
        differences.join("\n")
    );
    let (theirs, ours) = (libnmap(&theirs_xml), libnmap(&ours_xml));
    // Protocol 1 (ICMP) of -sO is the one line whose reason is not compared: nmap names it
    // by whichever ICMP reply reached it while its ICMP probe was outstanding (scan_engine_raw.cc,
    // protoscanicmphack), so its reason depends on reply order; ours is the reply that decided.
    // Its state, and every other protocol's reason, are compared.
    let icmp_state_only = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|line| match line.rsplit_once(' ') {
                Some((head, _)) if name == "sO" && line.contains(" 1/ip ") => head.to_owned(),
                _ => line,
            })
            .collect()
    };
    let (theirs, ours) = (icmp_state_only(theirs), icmp_state_only(ours));
    assert!(!ours.is_empty(), "{name}: python-libnmap read no port");
    assert_eq!(ours, theirs, "{name}: python-libnmap reads different ports");
    assert_eq!(
        ports_fields(&ours_gnmap),
        ports_fields(&theirs_gnmap),
        "{name}: the -oG Ports: fields differ"
    );
    assert_eq!(
        json_states(&ours_json),
        nmap_all_states(lab, args, scratch),
        "{name}: -oJ's states are not nmap's"
    );
}

#[test]
fn every_scan_type_writes_what_nmaps_consumers_read_as_nmaps() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-types");
    compare(
        &lab,
        &scratch,
        "sS",
        &["-sS", "-p", "1-30,80,443,8081,8082", HOSTS],
    );
    compare(&lab, &scratch, "sY", &["-sY", "-p", "7,9,80", HOSTS]);
    compare(&lab, &scratch, "sZ", &["-sZ", "-p", "7,9,80", HOSTS]);
    compare(&lab, &scratch, "sO", &["-sO", "-p", "1,6,17,47,132", HOSTS]);
    // --open: the same ports kept, the same hosts dropped.
    compare(
        &lab,
        &scratch,
        "open",
        &["-sS", "--open", "-p", "22,23,8081", HOSTS],
    );

    let html = scratch.path("sS.html");
    let out = tool(
        "xsltproc",
        &["-o", &html, NMAP_XSL, &scratch.path("sS-ours.xml")],
    );
    assert!(
        out.status.success(),
        "xsltproc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = fs::read_to_string(&html).unwrap();
    assert!(
        html.contains("198.18.128.8") && html.contains("blackice-alerts"),
        "{html:.300}"
    );
}

#[test]
fn os_detection_xml_reads_as_nmaps() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-os");
    let (theirs, ours) = (scratch.path("nmap.xml"), scratch.path("ours.xml"));
    let target = "198.18.128.7";
    nmap(&lab, &["-sS", "-O", "-p", "22,23", target, "-oX", &theirs]);
    run(scanner(&lab).args([
        "-sS",
        "-O",
        "--os-db",
        "/usr/share/nmap/nmap-os-db",
        "-p",
        "22,23",
        target,
        "-oX",
        &ours,
    ]));
    assert_valid_xml(&ours);
    let text = fs::read_to_string(&ours).unwrap();
    for element in [
        r#"<portused state="open" proto="tcp" portid="22"/>"#,
        r#"<portused state="closed" proto="tcp" portid="23"/>"#,
        "<osclass ",
        "<osfingerprint fingerprint=\"SCAN(",
    ] {
        assert!(text.contains(element), "no {element} in {text}");
    }
    // The tail of the guesses drifts between any two runs (nmap's own too: SEQ's random ISNs
    // and timestamps), so ndiff is held to the hosts and ports, libnmap to the best match.
    let differences: Vec<String> = ndiff(&theirs, &ours)
        .into_iter()
        .skip_while(|line| !line.trim_start().starts_with("OS details:"))
        .collect();
    let ports_and_hosts: Vec<String> = ndiff(&theirs, &ours)
        .into_iter()
        .take_while(|line| !line.trim_start().starts_with("OS details:"))
        .filter(|line| line.trim() != format!("{target}:"))
        .collect();
    assert!(
        ports_and_hosts.is_empty(),
        "ndiff: {ports_and_hosts:?} (OS: {differences:?})"
    );
    let best = |lines: Vec<String>| {
        lines
            .into_iter()
            .find(|line| line.contains(" os "))
            .unwrap_or_default()
    };
    let (theirs_best, ours_best) = (best(libnmap(&theirs)), best(libnmap(&ours)));
    assert!(!ours_best.is_empty(), "python-libnmap read no osmatch");
    // The same OS and CPEs; the accuracy within a few points, as the timing-derived SEQ
    // tests (TS, SP) of either run may land one class off on a loaded machine.
    let (theirs_match, ours_match) = (os_match(&theirs_best), os_match(&ours_best));
    assert!(
        ours_match.0 == theirs_match.0
            && ours_match.2 == theirs_match.2
            && ours_match.1.abs_diff(theirs_match.1) <= 5,
        "the best OS match differs: nmap {theirs_best:?}, ours {ours_best:?}"
    );
}

/// `(name, accuracy, CPEs)` of a libnmap `os` line: `ADDRESS os NAME ACCURACY [CPES]`.
fn os_match(line: &str) -> (&str, u32, &str) {
    let (head, cpes) = line.split_once(" [").unwrap_or((line, ""));
    let (name, accuracy) = head.rsplit_once(' ').unwrap_or((head, ""));
    let accuracy = accuracy
        .parse()
        .unwrap_or_else(|_| panic!("no accuracy in {line:?}"));
    (name, accuracy, cpes)
}

#[test]
fn pn_lists_hosts_that_never_answer_as_nmap_and_all_outputs_are_written() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-pn");
    let dropped = lab.config().dropped_ports[0].to_string();
    let base = scratch.path("all");
    let (csv, list, json) = (
        scratch.path("r.csv"),
        scratch.path("r.lst"),
        scratch.path("r.jsonl"),
    );
    // Nothing answers: every output is still written, and the exit code says so (3).
    common::run_unanswered(scanner(&lab).args([
        "-Pn", "-sS", "-p", &dropped, HOSTS, "-oA", &base, "-oC", &csv, "-oL", &list, "-oJ", &json,
    ]));
    let theirs = scratch.path("nmap.xml");
    nmap(&lab, &["-Pn", "-sS", "-p", &dropped, HOSTS, "-oX", &theirs]);
    let ours_xml = format!("{base}.xml");
    assert_valid_xml(&ours_xml);
    assert_eq!(ndiff(&theirs, &ours_xml), Vec::<String>::new());
    assert_eq!(libnmap(&ours_xml), libnmap(&theirs));
    assert_eq!(
        libnmap(&ours_xml).len(),
        3,
        "three hosts up (user-set), each port filtered"
    );
    assert!(
        fs::read_to_string(format!("{base}.gnmap"))
            .unwrap()
            .contains(&format!("Ports: {dropped}/filtered/tcp//"))
    );
    let normal = fs::read_to_string(format!("{base}.nmap")).unwrap();
    assert!(
        normal.contains("Nmap scan report for 198.18.128.8") && normal.contains("# Nmap done at "),
        "{normal}"
    );
    let json = json_states(&json);
    assert_eq!(json.len(), 3);
    assert!(json.values().all(|state| state == "filtered"), "{json:?}");
    let csv = fs::read_to_string(&csv).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("saddr,sport,proto,state,reason,ttl,responder,timestamp_ts")
    );
    assert_eq!(
        rows.filter(|row| row.contains(&format!(",{dropped},tcp,filtered,no-response,0,,")))
            .count(),
        3,
        "{csv}"
    );
    let list = fs::read_to_string(&list).unwrap();
    assert!(
        list.starts_with("#masscan\n") && list.ends_with("# end\n"),
        "{list}"
    );
    assert_eq!(
        list.lines()
            .filter(|line| line.starts_with(&format!("filtered tcp {dropped} 198.18.128.")))
            .count(),
        3,
        "{list}"
    );

    // Without -Pn, a host that answered nothing is not up: counted, not listed.
    let quiet = scratch.path("quiet.xml");
    common::run_unanswered(scanner(&lab).args(["-sS", "-p", &dropped, HOSTS, "-oX", &quiet]));
    assert_valid_xml(&quiet);
    let text = fs::read_to_string(&quiet).unwrap();
    assert!(!text.contains("<host>"), "{text}");
    assert!(
        text.contains(r#"<hosts up="0" down="3" total="3"/>"#),
        "{text}"
    );
}

/// A tmpfs of a few KiB, unmounted afterwards.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn new(scratch: &Scratch) -> Self {
        let dir = scratch.0.join("tiny");
        fs::create_dir_all(&dir).unwrap();
        let out = tool(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                "size=8k",
                "tmpfs",
                &dir.display().to_string(),
            ],
        );
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Past --max-host-tables responding hosts no host tables are kept: -oX and -oG get a host
/// record per reply as they are decided (masscan's way, still valid against nmap.dtd and read
/// by python-libnmap), -oJ stays complete (silence written at the end from a bitmap of the
/// answered ports), and the terminal shows per-port totals. States are nmap's throughout.
#[test]
fn past_max_host_tables_the_outputs_stream_and_keep_nmaps_states() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-stream");
    let config = lab.config();
    let ports = format!(
        "22,23,{},{}",
        config.dropped_ports[0], config.rejected_ports[0]
    );
    let hosts = "198.18.128.1-6";
    let args = ["-sS", "-p", &ports, hosts];
    let (xml, gnmap, json) = (
        scratch.path("ours.xml"),
        scratch.path("ours.gnmap"),
        scratch.path("ours.jsonl"),
    );
    let output = run(scanner(&lab).args(args).args([
        "--max-host-tables",
        "2",
        "--reason",
        "-oX",
        &xml,
        "-oG",
        &gnmap,
        "-oJ",
        &json,
    ]));
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(
        terminal.starts_with("6 hosts answered; 6 addresses scanned. Per port:"),
        "{terminal}"
    );

    let theirs = nmap_all_states(&lab, &args, &scratch);
    assert_eq!(theirs.len(), 24, "nmap lists every port of every host");
    assert_eq!(json_states(&json), theirs, "-oJ is complete and nmap's");
    let replied: BTreeMap<(String, u64), String> = theirs
        .iter()
        .filter(|((_, port), _)| *port != u64::from(config.dropped_ports[0]))
        .map(|(key, state)| (key.clone(), state.clone()))
        .collect();

    assert_valid_xml(&xml);
    let read: BTreeMap<(String, u64), String> = libnmap(&xml)
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields[2].split('/').next().unwrap().parse().unwrap();
            ((fields[0].to_owned(), port), fields[3].to_owned())
        })
        .collect();
    assert_eq!(
        read, replied,
        "python-libnmap reads every reply, as nmap's states"
    );
    assert_eq!(
        libnmap(&xml).len(),
        replied.len(),
        "one host record per reply"
    );

    let grepable: BTreeMap<(String, u64), String> = fs::read_to_string(&gnmap)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let host = line.strip_prefix("Host: ")?.split_whitespace().next()?;
            let (_, port) = line.split_once("\tPorts: ")?;
            let fields: Vec<&str> = port.split('/').collect();
            Some((
                (host.to_owned(), fields[0].parse().unwrap()),
                fields[1].to_owned(),
            ))
        })
        .collect();
    assert_eq!(grepable, replied, "-oG: a Ports: line per reply");
}

/// -oC's `dport`, as ZMap's: the port each reply was sent to (our probe's source port), which
/// tshark reads off the replies in the capture of the same scan.
#[test]
fn csv_dport_is_the_port_each_reply_was_sent_to() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-dport");
    let (csv, pcap) = (scratch.path("r.csv"), scratch.path("r.pcap"));
    run(scanner(&lab).args([
        "-sS",
        "-p",
        "22,23",
        "198.18.128.1-4",
        "--output-fields",
        "saddr,sport,dport,state",
        "-oC",
        &csv,
        "--pcap",
        &pcap,
    ]));
    let ours: std::collections::BTreeSet<String> = fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|row| row.rsplit_once(',').unwrap().0.to_owned())
        .collect();
    let replies: std::collections::BTreeSet<String> = common::tshark::fields(
        std::path::Path::new(&pcap),
        &["ip.src", "tcp.srcport", "tcp.dstport"],
    )
    .into_iter()
    .filter(|fields| fields[0].starts_with("198.18.128."))
    .map(|fields| fields.join(","))
    .collect();
    assert_eq!(ours.len(), 8, "a row per port of each host: {ours:?}");
    assert_eq!(
        ours, replies,
        "saddr,sport,dport of -oC against the replies captured"
    );
}

#[test]
fn a_full_disk_or_a_missing_directory_is_one_line_and_exit_1() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-full");
    let disk = TinyDisk::new(&scratch);
    let json = disk.0.join("r.jsonl").display().to_string();
    // 256 hosts x 6 ports, some 90 bytes a line: far beyond 8 KiB.
    let output = scanner(&lab)
        .args([
            "-sS",
            "-p",
            "22,23,80,443,8081,8082",
            "198.18.128.0/24",
            "--rate",
            "20000",
        ])
        .args(["-oJ", &json])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!("cannot write -oJ {json}: No space left on device")),
        "{stderr}"
    );
    assert!(
        !lab.xdp_attached().unwrap(),
        "the XDP program stayed attached"
    );
    // What fit is kept, in whole lines only.
    let kept = fs::read_to_string(&json).unwrap();
    assert!(
        kept.len() > 4096 && kept.ends_with('\n'),
        "{} bytes",
        kept.len()
    );
    for line in kept.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|err| panic!("a cut line in a full disk's -oJ: {line:?}: {err}"));
    }

    let missing = scratch.0.join("no/such/dir/r.xml");
    let output = scanner(&lab)
        .args(["-p", "22", "198.18.128.1", "-oX"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "scanner: error: cannot write -oX {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

/// `scanner merge`: three shards' -oJ, -oC and -oX joined hold what one scan of the whole
/// reports. Shards split (address, port) pairs, so most hosts are in every shard; a shard in
/// which a host answered nothing does not list it. The XML knows the scan's ports, so its
/// merge fills that silence in and equals the single scan's (ndiff, python-libnmap, nmap.dtd);
/// JSON lines and CSV hold every answered state and the silent ones the shards listed
/// (README.md, "Many machines").
#[test]
fn merged_shards_hold_the_whole_scan_in_every_format() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scratch = Scratch::new("outputs-merge");
    let scan = |name: &str, shard: Option<u32>| {
        let mut command = scanner(&lab);
        command.args([
            "-sS",
            "--reason",
            "-p",
            "22,23,80,8081,8082",
            "198.18.128.0/28",
        ]);
        command.args(["--seed", "11", "--wait", "1"]);
        if let Some(shard) = shard {
            command.args(["--shards", "3", "--shard", &shard.to_string()]);
        }
        for (flag, ext) in [("-oJ", "jsonl"), ("-oC", "csv"), ("-oX", "xml")] {
            command.args([flag, &scratch.path(&format!("{name}.{ext}"))]);
        }
        run(&mut command);
    };
    scan("whole", None);
    for shard in 0..3 {
        scan(&format!("shard{shard}"), Some(shard));
    }
    for ext in ["jsonl", "csv", "xml"] {
        let inputs: Vec<String> = (0..3)
            .map(|shard| scratch.path(&format!("shard{shard}.{ext}")))
            .collect();
        let output = Command::new(common::scanner_bin())
            .args(["merge", "-o", &scratch.path(&format!("merged.{ext}"))])
            .args(&inputs)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "merge {ext}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // 8081 is the lab's dropped port: the silent one.
    let answered = |states: &BTreeMap<(String, u64), String>| -> Vec<((String, u64), String)> {
        states
            .iter()
            .filter(|((_, port), _)| *port != 8081)
            .map(|(key, state)| (key.clone(), state.clone()))
            .collect()
    };
    let merged = json_states(&scratch.path("merged.jsonl"));
    let whole = json_states(&scratch.path("whole.jsonl"));
    assert_eq!(whole.len(), 16 * 5, "{whole:?}");
    assert_eq!(answered(&merged), answered(&whole), "-oJ");
    assert!(
        merged
            .iter()
            .all(|(key, state)| whole.get(key) == Some(state)),
        "-oJ"
    );

    // Every CSV column but the last, the reply's timestamp.
    let rows = |file: &str| -> std::collections::BTreeSet<String> {
        fs::read_to_string(scratch.path(file))
            .unwrap()
            .lines()
            .map(|line| {
                line.rsplit_once(',')
                    .map_or(line, |(rest, _)| rest)
                    .to_owned()
            })
            .collect()
    };
    let (merged, whole) = (rows("merged.csv"), rows("whole.csv"));
    assert!(whole.len() > 60, "{whole:?}");
    let loud = |rows: &std::collections::BTreeSet<String>| -> Vec<String> {
        rows.iter()
            .filter(|row| !row.contains("no-response"))
            .cloned()
            .collect()
    };
    assert_eq!(loud(&merged), loud(&whole), "-oC");
    assert!(merged.is_subset(&whole), "-oC");

    // The XML has the scan's ports (scaninfo): the merge fills in the silence a shard could
    // not list, and the report is the single scan's, as ndiff and python-libnmap read it.
    let merged_xml = scratch.path("merged.xml");
    assert_valid_xml(&merged_xml);
    assert_eq!(
        ndiff(&scratch.path("whole.xml"), &merged_xml),
        Vec::<String>::new(),
        "ndiff of the single scan's XML against the merged shards'"
    );
    let lines =
        |path: &str| -> std::collections::BTreeSet<String> { libnmap(path).into_iter().collect() };
    let whole = lines(&scratch.path("whole.xml"));
    assert_eq!(whole.len(), 16 * 5, "{whole:?}");
    assert_eq!(lines(&merged_xml), whole, "-oX as python-libnmap reads it");
}
