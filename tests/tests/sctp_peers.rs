//! The lab's SCTP peers, proved with nmap 7.93 as the independent client and tshark as the
//! independent decoder: usrsctp's discard server (a real SCTP stack) answers INIT on
//! 198.18.0.2 port 9, and the XDP responder answers INIT and COOKIE ECHO exactly per its
//! ground truth, with well-formed packets and a good CRC-32C.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use scanner_tests::{Lab, LabConfig, ResponderSettings, SctpPeer, Truth};

/// SCTP ports of the responder scan: M3UA, Diameter, S1AP, and two of nmap's favourites.
const PORTS: [u16; 5] = [80, 2905, 3868, 36412, 9];

/// nmap in the scanner namespace, grepable output on stdout.
fn nmap(lab: &Lab, scan: &str, ports: &str, targets: &str) -> BTreeMap<(Ipv4Addr, u16), String> {
    let output = lab
        .command_in_scanner("nmap")
        .args([
            scan,
            "-Pn",
            "-n",
            "--max-retries",
            "1",
            "-p",
            ports,
            "-oG",
            "-",
            targets,
        ])
        .output()
        .expect("running nmap (apt-get install nmap; cargo xtask setup does)");
    assert!(output.status.success(), "{output:?}");
    nmap_states(&String::from_utf8_lossy(&output.stdout))
}

/// `(host, port) -> state` of nmap's grepable output.
fn nmap_states(stdout: &str) -> BTreeMap<(Ipv4Addr, u16), String> {
    let mut states = BTreeMap::new();
    for line in stdout.lines().filter(|line| line.contains("Ports:")) {
        let host: Ipv4Addr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let ports = line.split("Ports: ").nth(1).unwrap();
        for entry in ports.split(", ") {
            let mut parts = entry.split('/');
            let port = parts.next().unwrap().trim().parse().unwrap();
            let state = parts.next().unwrap().to_owned();
            states.insert((host, port), state);
        }
    }
    states
}

/// An SCTP capture on vs0 by tshark, stopped with SIGINT (by PID).
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(lab: &Lab, name: &str) -> Capture {
        let file = std::env::temp_dir().join(format!("{name}-{}.pcapng", std::process::id()));
        let mut child = lab
            .command_in_scanner("tshark")
            .args(["-i", lab.scanner_if(), "-f", "sctp", "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tshark (apt-get install tshark; cargo xtask setup does)");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut line = String::new();
        while !line.contains("Capturing on") {
            line.clear();
            let read = stderr.read_line(&mut line).expect("tshark's stderr");
            assert!(
                read > 0 && Instant::now() < deadline,
                "tshark did not start"
            );
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Capture { child, file }
    }

    /// Stops the capture and returns its packets.
    fn finish(&mut self) -> Vec<Packet> {
        std::thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let status = self.child.wait().expect("waiting for tshark");
        assert!(status.success(), "tshark: {status}");
        packets(&self.file)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// One SCTP packet as tshark decodes it, checksums verified (CRC-32C for SCTP).
#[derive(Debug, Clone)]
struct Packet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    vtag: u32,
    /// The first chunk's type.
    chunk: u8,
    ttl: u8,
    /// tshark's checksum statuses: "1" is good.
    ip_checksum: String,
    sctp_checksum: String,
    /// INIT's or INIT ACK's initiate tag.
    initiate_tag: Option<u32>,
    abort_t_bit: Option<bool>,
    state_cookie: Option<String>,
    /// Whether tshark found the packet malformed.
    malformed: bool,
}

const INIT: u8 = 1;
const INIT_ACK: u8 = 2;
const ABORT: u8 = 6;
const COOKIE_ECHO: u8 = 10;

fn packets(file: &Path) -> Vec<Packet> {
    let fields = [
        "ip.src",
        "ip.dst",
        "sctp.srcport",
        "sctp.dstport",
        "sctp.verification_tag",
        "sctp.chunk_type",
        "ip.ttl",
        "ip.checksum.status",
        "sctp.checksum.status",
        "sctp.init_initiate_tag",
        "sctp.initack_initiate_tag",
        "sctp.abort_t_bit",
        "sctp.parameter_state_cookie",
        "_ws.malformed",
    ];
    let mut command = Command::new("tshark");
    command.args(["-n", "-r"]).arg(file).args([
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "sctp.checksum:crc-32c",
        "-T",
        "fields",
        "-E",
        "separator=;",
    ]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("running tshark");
    assert!(
        output.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hex = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).ok();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(';').collect();
            assert_eq!(f.len(), fields.len(), "{line}");
            let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
            Packet {
                src: f[0].parse().unwrap(),
                dst: f[1].parse().unwrap(),
                sport: f[2].parse().unwrap(),
                dport: f[3].parse().unwrap(),
                vtag: hex(f[4]).unwrap(),
                chunk: f[5].split(',').next().unwrap().parse().unwrap(),
                ttl: f[6].parse().unwrap(),
                ip_checksum: f[7].to_owned(),
                sctp_checksum: f[8].to_owned(),
                initiate_tag: hex(f[9]).or_else(|| hex(f[10])),
                abort_t_bit: some(f[11]).map(|t| t == "1" || t == "True"),
                state_cookie: some(f[12]),
                malformed: !f[13].is_empty(),
            }
        })
        .collect()
}

#[test]
fn usrsctp_answers_init_on_port_9_of_the_target() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let peer = lab
        .start_sctp_peer()
        .expect("starting usrsctp's discard server");
    let mut capture = Capture::start(&lab, "usrsctp");
    let target = Lab::TARGET_IP.to_string();
    let states = nmap(&lab, "-sY", "9,10", &target);
    let packets = capture.finish();
    drop(peer);

    let port = SctpPeer::PORT;
    assert_eq!(
        states.get(&(Lab::TARGET_IP, port)).map(String::as_str),
        Some("open"),
        "{states:?}"
    );
    // Its blackhole setting: no ABORT for a port nobody listens on.
    assert_eq!(
        states.get(&(Lab::TARGET_IP, 10)).map(String::as_str),
        Some("filtered"),
        "{states:?}"
    );
    // Its INIT ACK, an independent implementation's, decodes with a good CRC-32C: the same
    // check then holds the responder's answers to account.
    let init_ack = packets
        .iter()
        .find(|p| p.src == Lab::TARGET_IP && p.chunk == INIT_ACK)
        .unwrap_or_else(|| panic!("no INIT ACK from usrsctp in {packets:#?}"));
    assert_eq!(init_ack.sctp_checksum, "1", "{init_ack:?}");
    assert_eq!(init_ack.sport, port);
    assert!(!init_ack.malformed, "{init_ack:?}");
}

#[test]
fn nmap_finds_the_responders_sctp_ground_truth_and_tshark_its_answers_well_formed() {
    let settings = ResponderSettings::new(common::scanner_bin());
    let Some(mut lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    // Nothing in XDP on vs0: the responder's answers reach nmap only through NAPI, which GRO
    // turns on.
    let gro = lab
        .command_in_scanner("ethtool")
        .args(["-K", lab.scanner_if(), "gro", "on"])
        .status()
        .expect("running ethtool");
    assert!(gro.success());
    let hosts: Vec<Ipv4Addr> = settings.addresses().take(16).collect();
    let targets = format!("{}/28", hosts[0]);
    let ports = PORTS.map(|port| port.to_string()).join(",");
    let truth = |host: Ipv4Addr, port: u16| settings.sctp_truth(host, port).unwrap();

    let mut capture = Capture::start(&lab, "responder-sctp");
    let init_states = nmap(&lab, "-sY", &ports, &targets);
    let init_packets = capture.finish();
    drop(capture);
    let mut capture = Capture::start(&lab, "responder-sctp-cookie");
    let cookie_states = nmap(&lab, "-sZ", &ports, &targets);
    let cookie_packets = capture.finish();
    let counts = lab.stop_responder().expect("stopping the responder");
    eprintln!("responder: {counts:?}");

    // nmap's verdicts are the ground truth's.
    let mut kinds = BTreeMap::new();
    for &host in &hosts {
        for port in PORTS {
            let truth = truth(host, port);
            *kinds.entry(truth as u8).or_insert(0) += 1;
            let (init, cookie) = match truth {
                Truth::Open => ("open", "open|filtered"),
                Truth::Closed => ("closed", "closed"),
                Truth::Silent => ("filtered", "open|filtered"),
            };
            let at = (host, port);
            assert_eq!(
                init_states.get(&at).map(String::as_str),
                Some(init),
                "-sY {at:?}"
            );
            let got = cookie_states.get(&at).map(String::as_str);
            assert_eq!(got, Some(cookie), "-sZ {at:?}");
        }
    }
    assert_eq!(
        kinds.len(),
        3,
        "the sample holds every kind of port: {kinds:?}"
    );

    // Each answer: good checksums, TTL 64, the truth's chunk, the tag RFC 9260 8.4 asks for.
    let answered = check_answers(&init_packets, &hosts, INIT, &truth);
    let aborted = check_answers(&cookie_packets, &hosts, COOKIE_ECHO, &truth);
    assert!(answered.0 > 0 && answered.1 > 0, "{answered:?}");
    assert!(aborted.0 == 0 && aborted.1 > 0, "{aborted:?}");
    assert_eq!(counts.malformed, 0);
    assert_eq!(counts.open + counts.closed + counts.silent, counts.probes);
    assert_eq!(counts.open, answered.0 as u64, "INIT ACKs sent");
    assert_eq!(
        counts.closed,
        (answered.1 + aborted.1) as u64,
        "ABORTs sent"
    );
}

/// Checks every answer in `packets` against the probe (of chunk `probe_chunk`) it answers and
/// the ground truth; returns how many INIT ACKs and ABORTs there were.
fn check_answers(
    packets: &[Packet],
    hosts: &[Ipv4Addr],
    probe_chunk: u8,
    truth: &dyn Fn(Ipv4Addr, u16) -> Truth,
) -> (usize, usize) {
    // (target, port, nmap's port) -> the tag an answer must carry.
    let probes: BTreeMap<(Ipv4Addr, u16, u16), u32> = packets
        .iter()
        .filter(|p| hosts.contains(&p.dst) && p.chunk == probe_chunk)
        .map(|p| {
            let tag = match probe_chunk {
                INIT => p.initiate_tag.expect("an INIT has an initiate tag"),
                _ => p.vtag,
            };
            ((p.dst, p.dport, p.sport), tag)
        })
        .collect();
    assert!(!probes.is_empty(), "no probes in {packets:#?}");
    let (mut init_acks, mut aborts) = (0, 0);
    for answer in packets.iter().filter(|p| hosts.contains(&p.src)) {
        assert_eq!(
            (answer.ip_checksum.as_str(), answer.sctp_checksum.as_str()),
            ("1", "1"),
            "checksums of {answer:?}"
        );
        assert!(!answer.malformed, "{answer:?}");
        assert_eq!(answer.ttl, 64, "{answer:?}");
        assert_eq!(answer.dst, Lab::SCANNER_IP);
        let tag = probes
            .get(&(answer.src, answer.sport, answer.dport))
            .unwrap_or_else(|| panic!("no probe for {answer:?}"));
        assert_eq!(answer.vtag, *tag, "verification tag of {answer:?}");
        match (truth(answer.src, answer.sport), probe_chunk) {
            (Truth::Open, INIT) => {
                assert_eq!(answer.chunk, INIT_ACK, "{answer:?}");
                assert!(
                    answer.initiate_tag.is_some_and(|tag| tag != 0),
                    "{answer:?}"
                );
                assert!(answer.state_cookie.is_some(), "{answer:?}");
                init_acks += 1;
            }
            (Truth::Closed, _) => {
                assert_eq!(answer.chunk, ABORT, "{answer:?}");
                // Reflected (T = 1) only when the tag was the peer's own: COOKIE ECHO.
                let reflected = probe_chunk == COOKIE_ECHO;
                assert_eq!(answer.abort_t_bit, Some(reflected), "{answer:?}");
                aborts += 1;
            }
            (truth, _) => panic!("an answer where the truth is {truth:?}: {answer:?}"),
        }
    }
    (init_acks, aborts)
}
