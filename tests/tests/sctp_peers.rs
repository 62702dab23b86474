//! The lab's SCTP peers, proved with nmap 7.93 as the independent client and tshark as the
//! independent decoder: usrsctp's discard server (a real SCTP stack) answers INIT on
//! 198.18.0.2 port 9, and the XDP responder answers INIT and COOKIE ECHO exactly per its
//! ground truth, with well-formed packets and a good CRC-32C.

mod common;

use std::{collections::BTreeMap, net::Ipv4Addr, path::Path};

use common::{nmap, tshark, tshark::LiveCapture};

use scanner_common::sctp;
use scanner_tests::{Lab, LabConfig, ResponderSettings, SctpPeer, Truth};

/// SCTP ports of the responder scan: M3UA, Diameter, S1AP, and two of nmap's favourites.
const PORTS: [u16; 5] = [80, 2905, 3868, 36412, 9];

/// nmap's states for `scan` of `ports` on `targets`, one retry as the responder never loses.
fn nmap(lab: &Lab, scan: &str, ports: &str, targets: &str) -> BTreeMap<(Ipv4Addr, u16), String> {
    nmap::states(&nmap::grepable(
        lab,
        &[scan, "--max-retries", "1", "-p", ports, targets],
    ))
}

/// Captures SCTP on the scanner's interface while `run` runs; returns the packets.
fn captured<T>(lab: &Lab, name: &str, run: impl FnOnce() -> T) -> (T, Vec<Packet>) {
    let mut capture = LiveCapture::start(lab, name, "sctp");
    let result = run();
    let packets = packets(capture.finish());
    (result, packets)
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
    let hex = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).ok();
    tshark::fields(file, &fields)
        .into_iter()
        .map(|f| {
            assert_eq!(f.len(), fields.len(), "{f:?}");
            let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
            Packet {
                src: f[0].parse().unwrap(),
                dst: f[1].parse().unwrap(),
                sport: f[2].parse().unwrap(),
                dport: f[3].parse().unwrap(),
                vtag: hex(&f[4]).unwrap(),
                chunk: f[5].parse().unwrap(),
                ttl: f[6].parse().unwrap(),
                ip_checksum: f[7].clone(),
                sctp_checksum: f[8].clone(),
                initiate_tag: hex(&f[9]).or_else(|| hex(&f[10])),
                abort_t_bit: some(&f[11]).map(|t| t == "1" || t == "True"),
                state_cookie: some(&f[12]),
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
    let target = Lab::TARGET_IP.to_string();
    let (states, packets) = captured(&lab, "usrsctp", || nmap(&lab, "-sY", "9,10", &target));
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
    common::gro_on_scanner_side(&lab);
    let hosts: Vec<Ipv4Addr> = settings.addresses().take(16).collect();
    let targets = format!("{}/28", hosts[0]);
    let ports = PORTS.map(|port| port.to_string()).join(",");
    let truth = |host: Ipv4Addr, port: u16| settings.sctp_truth(host, port).unwrap();

    let (init_states, init_packets) = captured(&lab, "responder-sctp", || {
        nmap(&lab, "-sY", &ports, &targets)
    });
    let (cookie_states, cookie_packets) = captured(&lab, "responder-sctp-cookie", || {
        nmap(&lab, "-sZ", &ports, &targets)
    });
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

/// An SCTP packet: common header, then `chunks`, checksummed with CRC-32C.
fn sctp_packet(sport: u16, dport: u16, vtag: u32, chunks: &[&[u8]]) -> Vec<u8> {
    let mut packet = [
        &sport.to_be_bytes()[..],
        &dport.to_be_bytes(),
        &vtag.to_be_bytes(),
    ]
    .concat();
    packet.extend([0; 4]);
    chunks.iter().for_each(|chunk| packet.extend(*chunk));
    let crc = sctp::crc32c(&packet);
    packet[sctp::CHECKSUM_AT..sctp::CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
    packet
}

/// An INIT chunk with `initiate_tag`, 10 streams each way, and `params` after it.
fn init_chunk(initiate_tag: u32, params: &[u8]) -> Vec<u8> {
    let len = (sctp::INIT_CHUNK_LEN + params.len()) as u16;
    let mut chunk = vec![INIT, 0];
    chunk.extend(len.to_be_bytes());
    chunk.extend(initiate_tag.to_be_bytes());
    chunk.extend(65536u32.to_be_bytes()); // a_rwnd
    chunk.extend([0, 10, 0, 10]); // outbound, inbound streams
    chunk.extend(initiate_tag.to_be_bytes()); // initial TSN
    chunk.extend(params);
    chunk
}

/// Sends each packet from the scanner namespace to `dst` over a raw IP socket (protocol
/// 132), and returns the SCTP packets (without IP header) `dst` sent back within a second.
fn exchange(lab: &Lab, dst: Ipv4Addr, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    lab.in_scanner_ns(|| {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: plain syscalls on a socket we own, with buffers of the lengths passed.
        unsafe {
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_SCTP,
            );
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let timeout = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            let set = libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            );
            assert_eq!(set, 0, "SO_RCVTIMEO");
            let address = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(dst).to_be(),
                },
                sin_zero: [0; 8],
            };
            for packet in packets {
                let sent = libc::sendto(
                    fd.as_raw_fd(),
                    packet.as_ptr().cast(),
                    packet.len(),
                    0,
                    (&raw const address).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                );
                assert_eq!(sent, packet.len() as isize, "sendto");
            }
            let mut answers = Vec::new();
            let mut buf = [0u8; 2048];
            loop {
                let n = libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
                let Ok(n) = usize::try_from(n) else { break };
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
                if src == dst && n > ihl {
                    answers.push(buf[ihl..n].to_vec());
                }
            }
            answers
        }
    })
}

#[test]
fn the_responder_discards_what_rfc_9260_says_to_discard() {
    let settings = ResponderSettings::new(common::scanner_bin());
    let Some(mut lab) = common::lab(LabConfig::responder_only(settings.clone())) else {
        return;
    };
    common::gro_on_scanner_side(&lab);
    let host = settings.addresses().next().unwrap();
    let port_that_is = |wanted: Truth| {
        (1..=u16::MAX)
            .find(|&port| settings.sctp_truth(host, port).unwrap() == wanted)
            .unwrap()
    };
    let (open, closed) = (port_that_is(Truth::Open), port_that_is(Truth::Closed));
    // A 64-byte PAD parameter (RFC 4820) makes the INIT longer than the INIT ACK: the answer
    // must trim the frame, where nmap's 32-byte INIT makes it grow.
    let mut pad = vec![0x80, 0x05, 0, 64];
    pad.resize(64, 0);
    let init = init_chunk(0x1111_1111, &pad);
    let cookie_echo: &[u8] = &[COOKIE_ECHO, 0, 0, 8, 1, 2, 3, 4];
    let mut bad_crc = sctp_packet(40002, open, 0, &[&init]);
    bad_crc[20] ^= 0x40;
    let mut adler = sctp_packet(40003, open, 0, &[&init]);
    adler[8..12].fill(0);
    let sum = scanner::probe::sctp::Checksum::Adler32.field(&adler);
    adler[8..12].copy_from_slice(&sum);
    let mut huge_length = init_chunk(0x1111_1111, &[]);
    huge_length[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
    let probes = [
        // Answered: INIT ACK, and ABORT with the COOKIE ECHO's tag reflected.
        sctp_packet(40001, open, 0, &[&init]),
        sctp_packet(40009, closed, 0xabcd_ef01, &[cookie_echo]),
        // Discarded: the checksum, the tag, bundling, a zero initiate tag, the chunk length.
        bad_crc,
        adler,
        sctp_packet(40004, open, 7, &[&init]),
        sctp_packet(40005, closed, 0, &[&init, cookie_echo]),
        sctp_packet(40006, closed, 0, &[&init_chunk(0, &[])]),
        sctp_packet(40007, closed, 0, &[&huge_length]),
        sctp_packet(40008, closed, 0, &[cookie_echo]),
        // Too short for a chunk header: malformed, the kernel's.
        sctp_packet(40010, closed, 0, &[])[..10].to_vec(),
    ];
    let answers = exchange(&lab, host, &probes);
    let counts = lab.stop_responder().expect("stopping the responder");
    eprintln!("responder: {counts:?}");

    assert_eq!(answers.len(), 2, "{answers:02x?}");
    let by_port = |port: u16| {
        answers
            .iter()
            .find(|a| a[2..4] == port.to_be_bytes())
            .unwrap_or_else(|| panic!("no answer to port {port}: {answers:02x?}"))
    };
    let init_ack = by_port(40001);
    assert!(sctp::crc32c_is_valid(init_ack), "{init_ack:02x?}");
    assert_eq!(init_ack.len(), sctp::INIT_ACK_LEN);
    assert_eq!(init_ack[4..8], 0x1111_1111u32.to_be_bytes());
    assert_eq!(init_ack[12], INIT_ACK);
    let abort = by_port(40009);
    assert!(sctp::crc32c_is_valid(abort), "{abort:02x?}");
    assert_eq!(abort.len(), sctp::ABORT_LEN);
    assert_eq!(abort[4..8], 0xabcd_ef01u32.to_be_bytes());
    assert_eq!(abort[12..14], [ABORT, sctp::ABORT_T_BIT]);

    assert_eq!((counts.probes, counts.open, counts.closed), (2, 1, 1));
    assert_eq!(counts.silent, 0);
    assert_eq!(counts.malformed, 8, "7 discarded, 1 passed");
}
