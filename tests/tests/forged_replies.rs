//! Forged replies: packets shaped like answers to our probes but carrying a wrong cookie,
//! injected from the target namespace while a scan runs, never become results. They reach the
//! XDP program (its bad-cookie counter proves they were not lost on the way), fail validation
//! there and pass on to the scanner host's kernel, which the scan never hears about.
//!
//! The genuine probes are sniffed on the target's interface first, so besides blind guesses
//! the forgeries include near misses that each break one part of the check: the true source
//! port with the acknowledgement one bit off, the true acknowledgement at the wrong port, both
//! right but from the wrong peer. A control test forges the *right* cookie the same way and
//! sees it reported: the injection path works, so the negative tests cannot pass vacuously.
//!
//! A scan whose every probe is answered ends at once, before anything could be injected, so
//! the negative tests also probe a port the lab drops, which keeps the scanner listening for
//! its whole `--wait`. Silent probes produce no JSON line.

mod common;

use std::{
    collections::{BTreeSet, HashMap},
    io, mem,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::{Child, Output, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::Found;
use scanner_common::checksum::Sum;
use scanner_tests::{Lab, LabConfig, PortTruth};

/// Where every forged packet goes: the scanner, and nowhere else.
const SCANNER_IP: Ipv4Addr = Lab::SCANNER_IP;
/// The target's address on the link: the "router" that sends ICMP errors.
const ROUTER_IP: Ipv4Addr = Lab::TARGET_IP;
/// Closed (RST) in the default lab.
const CLOSED: u16 = 23;
/// Dropped (no answer) in the default lab: a probe to it keeps the scan waiting.
const DROPPED: u16 = 8081;
/// The scanner's default source ports (cookie-derived).
const COOKIE_PORTS: std::ops::RangeInclusive<u16> = 32768..=65535;

const ATTACH_TIMEOUT: Duration = Duration::from_secs(5);
const SNIFF_TIMEOUT: Duration = Duration::from_secs(5);
const SCAN_TIMEOUT: Duration = Duration::from_secs(20);

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const ICMP_DEST_UNREACHABLE: u8 = 3;
const ICMP_ADMIN_PROHIBITED: u8 = 13;

// ---------------------------------------------------------------------------------------------
// Forging datagrams.

/// A complete IPv4 datagram (20-byte header, no options) around `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("datagram fits");
    let mut datagram = vec![0u8; 20];
    datagram[0] = 0x45;
    datagram[2..4].copy_from_slice(&total.to_be_bytes());
    // A non-zero ID, so the kernel keeps ours (it fills in zero ones).
    datagram[4..6].copy_from_slice(&0x5eedu16.to_be_bytes());
    datagram[8] = 64;
    datagram[9] = proto;
    datagram[12..16].copy_from_slice(&src.octets());
    datagram[16..20].copy_from_slice(&dst.octets());
    let check = Sum::of(&datagram).finish();
    datagram[10..12].copy_from_slice(&check.to_be_bytes());
    datagram.extend_from_slice(payload);
    datagram
}

/// The TCP pseudo-header's sum (RFC 9293 3.1) for a segment of `len` bytes.
fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> Sum {
    Sum::of(&src.octets())
        .combine(Sum::of(&dst.octets()))
        .add16(u16::from(IPPROTO_TCP))
        .add16(len)
}

/// An IPv4 datagram carrying a 20-byte TCP header (no options, no data).
fn tcp(
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
) -> Vec<u8> {
    let mut segment = [0u8; 20];
    segment[0..2].copy_from_slice(&sport.to_be_bytes());
    segment[2..4].copy_from_slice(&dport.to_be_bytes());
    segment[4..8].copy_from_slice(&seq.to_be_bytes());
    segment[8..12].copy_from_slice(&ack.to_be_bytes());
    segment[12] = 5 << 4;
    segment[13] = flags;
    segment[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let check = pseudo_header(src, dst, 20)
        .combine(Sum::of(&segment))
        .finish();
    segment[16..18].copy_from_slice(&check.to_be_bytes());
    ipv4(src, dst, IPPROTO_TCP, &segment)
}

/// A reply from `peer` to the scanner's `port`, as a SYN-ACK or RST+ACK would look.
fn reply(peer: (Ipv4Addr, u16), port: u16, ack: u32, flags: u8) -> Vec<u8> {
    tcp(peer, (SCANNER_IP, port), 0x1000_0000, ack, flags)
}

/// What a SYN probe from the scanner to `target` would have been, for quoting in ICMP.
fn quoted_syn(target: (Ipv4Addr, u16), sport: u16, seq: u32) -> Vec<u8> {
    tcp((SCANNER_IP, sport), target, seq, 0, SYN)
}

/// ICMP destination unreachable, administratively prohibited, from the lab's router to the
/// scanner, quoting `quoted` (a whole datagram: more than the 8 transport bytes required).
fn admin_prohibited(quoted: &[u8]) -> Vec<u8> {
    // Type, code, checksum, 4 unused bytes.
    let mut message = vec![0u8; 8];
    message[0] = ICMP_DEST_UNREACHABLE;
    message[1] = ICMP_ADMIN_PROHIBITED;
    message.extend_from_slice(quoted);
    let check = Sum::of(&message).finish();
    message[2..4].copy_from_slice(&check.to_be_bytes());
    ipv4(ROUTER_IP, SCANNER_IP, IPPROTO_ICMP, &message)
}

/// A small xorshift64* generator: wrong acknowledgements need not be good randomness, only
/// different on every run.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn cookie_port(&mut self) -> u16 {
        *COOKIE_PORTS.start() | (self.next_u32() as u16 & 0x7fff)
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets in the target namespace. A socket belongs to the namespace it was created in, so
// both are opened by `Lab::in_target_ns` and then used from the test's own thread.

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)`: sends whole datagrams (IP_HDRINCL implied).
struct RawSocket {
    fd: OwnedFd,
    sent: usize,
}

impl RawSocket {
    fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        })?;
        Ok(Self {
            // SAFETY: a fresh fd nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            sent: 0,
        })
    }

    /// `sendto(2)` of one forged datagram to the lab's scanner; what the kernel returned.
    fn sendto(&self, datagram: &[u8]) -> isize {
        let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&datagram[16..20]).unwrap());
        assert_eq!(
            dst, SCANNER_IP,
            "forged packets go to the lab's scanner only"
        );
        // SAFETY: a zeroed sockaddr_in is valid; the fields are set below.
        let mut to: libc::sockaddr_in = unsafe { mem::zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr.s_addr = u32::from(dst).to_be();
        // SAFETY: buffer and address are valid for the lengths given.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                datagram.as_ptr().cast(),
                datagram.len(),
                0,
                (&raw const to).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
    }

    /// Sends one forged datagram; it must be addressed to the lab's scanner.
    fn send(&mut self, datagram: &[u8]) {
        let sent = self.sendto(datagram);
        assert_eq!(
            sent,
            datagram.len() as isize,
            "sendto of forged packet {}: {}",
            self.sent + 1,
            io::Error::last_os_error()
        );
        self.sent += 1;
        // A breather now and then: a veth peer with native XDP queues at most 256 frames.
        if self.sent.is_multiple_of(16) {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends one forged datagram as fast as the kernel takes it, no breather: a flood. A full
    /// queue (ENOBUFS) is what a flood meets; only datagrams the kernel accepted are counted.
    fn flood(&mut self, datagram: &[u8]) {
        if self.sendto(datagram) == datagram.len() as isize {
            self.sent += 1;
        } else {
            let err = io::Error::last_os_error();
            assert_eq!(err.raw_os_error(), Some(libc::ENOBUFS), "flooding: {err}");
        }
    }
}

/// A SYN probe as the target received it.
#[derive(Clone, Copy, Debug)]
struct SeenProbe {
    sport: u16,
    seq: u32,
}

/// `socket(AF_PACKET, SOCK_DGRAM, ETH_P_IP)` bound to the target's interface: sees the probes
/// before nftables drops any.
struct Sniffer(OwnedFd);

impl Sniffer {
    fn open(ifname: &str) -> io::Result<Self> {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2); the fd is owned at once.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        })?;
        // SAFETY: a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a zeroed sockaddr_ll is valid; the fields bind needs are set below.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: the address is valid for its length.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        // SAFETY: the option value is valid for its length.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(Self(fd))
    }

    /// Waits for the scanner's SYN to each of `wanted` and returns what it carried.
    fn probes(&self, wanted: &[(Ipv4Addr, u16)]) -> HashMap<(Ipv4Addr, u16), SeenProbe> {
        let deadline = Instant::now() + SNIFF_TIMEOUT;
        let mut seen = HashMap::new();
        let mut buf = [0u8; 2048];
        while wanted.iter().any(|probe| !seen.contains_key(probe)) {
            assert!(
                Instant::now() < deadline,
                "the target saw no probe to some of {wanted:?} within {SNIFF_TIMEOUT:?} \
                 (saw {seen:?})"
            );
            // SAFETY: the buffer is valid for its length.
            let len =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            let Ok(len) = usize::try_from(len) else {
                let err = io::Error::last_os_error();
                assert!(
                    matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ),
                    "sniffing: {err}"
                );
                continue;
            };
            if let Some((target, probe)) = parse_syn(&buf[..len])
                && wanted.contains(&target)
            {
                seen.entry(target).or_insert(probe);
            }
        }
        seen
    }
}

/// A SYN (and nothing else) from the scanner: its destination, source port and sequence.
fn parse_syn(datagram: &[u8]) -> Option<((Ipv4Addr, u16), SeenProbe)> {
    let ihl = usize::from(*datagram.first()? & 0x0f) * 4;
    if datagram[0] >> 4 != 4 || ihl < 20 || datagram.len() < ihl + 20 {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(&datagram[12..16]).unwrap());
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&datagram[16..20]).unwrap());
    let seg = &datagram[ihl..];
    if datagram[9] != IPPROTO_TCP || src != SCANNER_IP || seg[13] != SYN {
        return None;
    }
    let sport = u16::from_be_bytes([seg[0], seg[1]]);
    let dport = u16::from_be_bytes([seg[2], seg[3]]);
    let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    Some(((dst, dport), SeenProbe { sport, seq }))
}

// ---------------------------------------------------------------------------------------------
// Running the scanner.

/// A scanner process; dropping it before [`Scan::finish`] kills it (by its PID).
struct Scan {
    child: Option<Child>,
    started: Instant,
}

impl Scan {
    fn start(lab: &Lab, args: &[&str]) -> Self {
        let child = common::scanner(lab)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the scanner");
        Self {
            child: Some(child),
            started: Instant::now(),
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("scanner running")
    }

    /// Waits (polling every 20 ms, at most 5 s) until the XDP program is on vs0.
    fn wait_attached(&mut self, lab: &Lab) {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        while !lab.xdp_attached().expect("ip link show") {
            if self.child().try_wait().expect("try_wait").is_some() {
                let output = self.child.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "the scanner exited ({}) before its XDP program was seen: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "no XDP program on {} after {ATTACH_TIMEOUT:?}",
                lab.scanner_if()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the scanner to exit (killing it after [`SCAN_TIMEOUT`]) and checks it
    /// succeeded.
    fn finish(mut self) -> Output {
        while self.child().try_wait().expect("try_wait").is_none() {
            if self.started.elapsed() > SCAN_TIMEOUT {
                let mut child = self.child.take().unwrap();
                let _ = child.kill();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "the scanner still ran after {SCAN_TIMEOUT:?}: killed. stdout: {} stderr: {}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        let output = self.child.take().unwrap().wait_with_output().unwrap();
        eprintln!(
            "scanner ran {:.2}s:\n{}",
            self.started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&output.stderr)
        );
        common::assert_success(&output);
        output
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The negative tests' verdict: the scan reported only the genuine RST of `target:CLOSED`,
/// nothing forged entered the ring (not even as a duplicate of that answer), and every forgery
/// reached XDP and failed its cookie check there.
fn assert_only_the_genuine_rst(output: Output, target: Ipv4Addr, forged: u64) {
    let results = common::parse_json_lines(&output.stdout);
    assert_eq!(
        results,
        [found(target, CLOSED, "closed", "reset")],
        "only the genuine RST may be reported"
    );
    let summary = Summary::parse(&output.stderr);
    eprintln!("{summary:?}, forged {forged}");
    assert_eq!(summary.matched, 1, "{summary:?}");
    assert_eq!(summary.duplicates, 0, "{summary:?}");
    assert!(
        summary.bad_cookies >= forged,
        "{} bad cookies < {forged} forged: the forgeries did not all reach XDP",
        summary.bad_cookies
    );
}

/// The numbers of the summary's `replies:` line.
#[derive(Debug)]
struct Summary {
    matched: u64,
    duplicates: u64,
    bad_cookies: u64,
}

impl Summary {
    fn parse(stderr: &[u8]) -> Self {
        let text = String::from_utf8_lossy(stderr);
        let line = text
            .lines()
            .find(|line| line.trim_start().starts_with("replies:"))
            .unwrap_or_else(|| panic!("no replies line in the summary: {text}"));
        let count = |label: &str| -> u64 {
            let at = line
                .find(label)
                .unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
            line[..at]
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count before {label:?} in {line:?}"))
        };
        Self {
            matched: count(" matched in XDP"),
            duplicates: count(" duplicates"),
            bad_cookies: count(" bad cookies"),
        }
    }
}

/// What the scan of `hosts` x `ports` must report in the default lab, whatever else arrives:
/// the truth of each port on every host (dropped ports stay silent: no JSON line).
fn lab_truth(config: &LabConfig, hosts: &[Ipv4Addr], ports: &[u16]) -> BTreeSet<Found> {
    let mut expected = BTreeSet::new();
    for &ip in hosts {
        for &port in ports {
            let (state, reason) = match config.truth(port) {
                PortTruth::Open => ("open", "syn-ack"),
                PortTruth::Closed => ("closed", "reset"),
                PortTruth::Rejected => ("filtered", "admin-prohibited"),
                PortTruth::Dropped => continue,
            };
            expected.insert(found(ip, port, state, reason));
        }
    }
    expected
}

fn found(ip: Ipv4Addr, port: u16, state: &str, reason: &str) -> Found {
    Found {
        ip,
        port,
        state: state.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check_lab(config: &LabConfig) {
    assert_eq!(config.truth(CLOSED), PortTruth::Closed);
    assert_eq!(config.truth(DROPPED), PortTruth::Dropped);
}

/// The sniffer and the raw socket, both in the target namespace.
fn target_sockets(lab: &Lab) -> (Sniffer, RawSocket) {
    lab.in_target_ns(|| {
        (
            Sniffer::open(Lab::TARGET_IF).expect("packet socket on the target's interface"),
            RawSocket::open().expect("raw socket"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn forged_datagrams_have_valid_checksums() {
    let syn_ack = reply(
        (Ipv4Addr::new(198, 18, 128, 5), CLOSED),
        40000,
        7,
        SYN | ACK,
    );
    assert_eq!(syn_ack.len(), 40);
    assert_eq!(Sum::of(&syn_ack[..20]).finish(), 0, "IPv4 header checksum");
    let tcp_sum = pseudo_header(Ipv4Addr::new(198, 18, 128, 5), SCANNER_IP, 20)
        .combine(Sum::of(&syn_ack[20..]))
        .finish();
    assert_eq!(tcp_sum, 0, "TCP checksum");

    let quoted = quoted_syn((Ipv4Addr::new(198, 18, 128, 9), CLOSED), 40000, 12345);
    let icmp = admin_prohibited(&quoted);
    assert_eq!(icmp.len(), 20 + 8 + 40);
    assert_eq!(Sum::of(&icmp[..20]).finish(), 0, "IPv4 header checksum");
    assert_eq!(Sum::of(&icmp[20..]).finish(), 0, "ICMP checksum");
    assert_eq!(Sum::of(&icmp[28..48]).finish(), 0, "quoted IPv4 checksum");
    assert_eq!(
        parse_syn(&quoted).map(|(to, p)| (to, p.sport, p.seq)),
        Some(((Ipv4Addr::new(198, 18, 128, 9), CLOSED), 40000, 12345))
    );
}

/// SYN-ACKs and RSTs with wrong cookies, injected from the target namespace, are rejected in
/// XDP and never reported: only the genuine RST makes a result.
#[test]
fn a_reply_with_a_wrong_cookie_is_not_reported() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    check_lab(lab.config());
    let target = Ipv4Addr::new(198, 18, 128, 5);
    let (sniffer, mut raw) = target_sockets(&lab);
    let mut scan = Scan::start(
        &lab,
        &[
            "-p",
            &format!("{CLOSED},{DROPPED}"),
            &target.to_string(),
            "--retries",
            "0",
            "--wait",
            "3",
            "-oJ",
            "-",
        ],
    );
    scan.wait_attached(&lab);
    let probes = sniffer.probes(&[(target, CLOSED), (target, DROPPED)]);
    let probe = probes[&(target, CLOSED)];
    let right_ack = probe.seq.wrapping_add(1);
    let mut rng = Rng::seeded();

    // 1. The scanned pair at the probe's true source port, acknowledging anything but seq + 1:
    //    the sequence itself, seq + 2, and seq + 1 with each of its 32 bits flipped.
    let near_acks: Vec<u32> = [probe.seq, probe.seq.wrapping_add(2)]
        .into_iter()
        .chain((0..32).map(|bit| right_ack ^ (1 << bit)))
        .collect();
    for &ack in &near_acks {
        for flags in [SYN | ACK, RST | ACK] {
            raw.send(&reply((target, CLOSED), probe.sport, ack, flags));
        }
    }
    // 2. The right acknowledgement at each port one bit away from the true one (all in range).
    for bit in 0..15 {
        raw.send(&reply(
            (target, CLOSED),
            probe.sport ^ (1 << bit),
            right_ack,
            SYN | ACK,
        ));
    }
    // 3. Right port and acknowledgement from the wrong peer: the cookie binds address and port
    //    (8081 is scanned too, so accepting it would report 8081 open).
    for peer in [
        (Ipv4Addr::new(198, 18, 128, 6), CLOSED),
        (target, CLOSED + 1),
        (target, DROPPED),
    ] {
        for flags in [SYN | ACK, RST | ACK] {
            raw.send(&reply(peer, probe.sport, right_ack, flags));
        }
    }
    // 4. Blind SYN-ACKs from the scanned pair across the whole cookie port range.
    for port in COOKIE_PORTS.step_by(128) {
        raw.send(&reply((target, CLOSED), port, rng.next_u32(), SYN | ACK));
    }
    // 5. Peers that were never probed.
    for _ in 0..20 {
        let (port, ack) = (rng.cookie_port(), rng.next_u32());
        raw.send(&reply(
            (Ipv4Addr::new(198, 18, 128, 6), 80),
            port,
            ack,
            RST | ACK,
        ));
        let (port, ack) = (rng.cookie_port(), rng.next_u32());
        raw.send(&reply(
            (Ipv4Addr::new(198, 18, 128, 7), 443),
            port,
            ack,
            SYN | ACK,
        ));
    }
    let forged = raw.sent as u64;
    eprintln!(
        "probe to {target}:{CLOSED} left from port {} with seq {:#010x}; forged {forged} replies \
         {:.2}s into the scan",
        probe.sport,
        probe.seq,
        scan.started.elapsed().as_secs_f64()
    );

    assert_only_the_genuine_rst(scan.finish(), target, forged);
}

/// ICMP errors quoting probes we never sent (or sent differently) are rejected in XDP: the
/// closed port keeps its genuine RST verdict instead of turning filtered.
#[test]
fn an_icmp_error_quoting_a_wrong_cookie_is_not_reported() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    check_lab(lab.config());
    let target = Ipv4Addr::new(198, 18, 128, 9);
    let (sniffer, mut raw) = target_sockets(&lab);
    let mut scan = Scan::start(
        &lab,
        &[
            "-p",
            &format!("{CLOSED},{DROPPED}"),
            &target.to_string(),
            "--retries",
            "0",
            "--wait",
            "2",
            "-oJ",
            "-",
        ],
    );
    scan.wait_attached(&lab);
    // Blind first, before the sniffer's wait: the sooner, the likelier it beats the RST.
    raw.send(&admin_prohibited(&quoted_syn(
        (target, CLOSED),
        40000,
        12345,
    )));
    let probes = sniffer.probes(&[(target, CLOSED), (target, DROPPED)]);
    let (closed, dropped) = (probes[&(target, CLOSED)], probes[&(target, DROPPED)]);
    for quoted in [
        // The true source port, the sequence one off.
        quoted_syn((target, CLOSED), closed.sport, closed.seq ^ 1),
        // The true sequence from another port.
        quoted_syn((target, CLOSED), closed.sport ^ 1, closed.seq),
        // The silent probe's port with its acknowledgement instead of its sequence.
        quoted_syn(
            (target, DROPPED),
            dropped.sport,
            dropped.seq.wrapping_add(1),
        ),
        // The silent port quoted with the other probe's cookie.
        quoted_syn((target, DROPPED), closed.sport, closed.seq),
    ] {
        raw.send(&admin_prohibited(&quoted));
    }
    let forged = raw.sent as u64;

    assert_only_the_genuine_rst(scan.finish(), target, forged);
}

/// The control: the same injection with the cookie the target saw is reported. Without it the
/// tests above could pass because forged packets never reach the scanner's XDP program.
#[test]
fn a_forged_reply_with_the_right_cookie_is_reported() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    check_lab(lab.config());
    let (syn_acked, prohibited) = (
        Ipv4Addr::new(198, 18, 128, 11),
        Ipv4Addr::new(198, 18, 128, 12),
    );
    let (sniffer, mut raw) = target_sockets(&lab);
    // Both probes go to a dropped port: only the forgeries answer, and once both have, the
    // scan ends early.
    let mut scan = Scan::start(
        &lab,
        &[
            "-p",
            &DROPPED.to_string(),
            &syn_acked.to_string(),
            &prohibited.to_string(),
            "--retries",
            "0",
            "--wait",
            "5",
            "-oJ",
            "-",
        ],
    );
    scan.wait_attached(&lab);
    let probes = sniffer.probes(&[(syn_acked, DROPPED), (prohibited, DROPPED)]);
    let probe = probes[&(syn_acked, DROPPED)];
    raw.send(&reply(
        (syn_acked, DROPPED),
        probe.sport,
        probe.seq.wrapping_add(1),
        SYN | ACK,
    ));
    let probe = probes[&(prohibited, DROPPED)];
    raw.send(&admin_prohibited(&quoted_syn(
        (prohibited, DROPPED),
        probe.sport,
        probe.seq,
    )));

    let output = scan.finish();
    let mut results = common::parse_json_lines(&output.stdout);
    results.sort();
    assert_eq!(
        results,
        [
            found(syn_acked, DROPPED, "open", "syn-ack"),
            found(prohibited, DROPPED, "filtered", "admin-prohibited"),
        ]
    );
    let summary = Summary::parse(&output.stderr);
    assert_eq!(summary.matched, 2, "{summary:?}");
    assert_eq!(summary.bad_cookies, 0, "{summary:?}");
}

/// A flood at the injecting core's full speed for the whole scan changes no state. Forged
/// SYN-ACKs from every closed and dropped port, RSTs from every open one and ICMP errors
/// quoting SYNs to open ports, all with wrong cookies, go to the scanner together with the
/// genuine RST of one closed port replayed over and over: that one carries the right cookie,
/// so its copies fill the ring as duplicates. The scan of a range reports exactly the lab's
/// truth, counts both kinds of forgery, and exits 0.
#[test]
fn a_flood_of_forged_replies_changes_no_state() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let config = lab.config();
    let ports = [22, CLOSED, 80, 443, DROPPED, 8082];
    let hosts: Vec<Ipv4Addr> = common::lab_addresses(40, 16).collect();
    let (open, closed_or_silent): (Vec<u16>, Vec<u16>) = ports
        .iter()
        .partition(|&&port| config.truth(port) == PortTruth::Open);
    assert!(!open.is_empty() && closed_or_silent.contains(&DROPPED));
    check_lab(config);
    let (sniffer, mut raw) = target_sockets(&lab);
    let ports_arg: Vec<String> = ports.iter().map(u16::to_string).collect();
    let range = format!("{}-{}", hosts[0], hosts[hosts.len() - 1].octets()[3]);
    // Slow enough that the first pass lasts about a second under the flood.
    let mut scan = Scan::start(
        &lab,
        &[
            "-p",
            &ports_arg.join(","),
            &range,
            "--rate",
            "100",
            "--wait",
            "2",
            "-oJ",
            "-",
        ],
    );
    scan.wait_attached(&lab);
    let stop = AtomicBool::new(false);
    let replayed = hosts[0];
    let flooded = thread::scope(|scope| {
        let flooder = scope.spawn(|| {
            let probe = sniffer.probes(&[(replayed, CLOSED)])[&(replayed, CLOSED)];
            let genuine = reply(
                (replayed, CLOSED),
                probe.sport,
                probe.seq.wrapping_add(1),
                RST | ACK,
            );
            let mut rng = Rng::seeded();
            let mut replays = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let host = hosts[rng.next_u32() as usize % hosts.len()];
                let forged = match rng.next_u32() % 4 {
                    0 => {
                        replays += 1;
                        genuine.clone()
                    }
                    1 => {
                        let port =
                            closed_or_silent[rng.next_u32() as usize % closed_or_silent.len()];
                        reply((host, port), rng.cookie_port(), rng.next_u32(), SYN | ACK)
                    }
                    2 => {
                        let port = open[rng.next_u32() as usize % open.len()];
                        reply((host, port), rng.cookie_port(), rng.next_u32(), RST | ACK)
                    }
                    _ => {
                        let port = open[rng.next_u32() as usize % open.len()];
                        admin_prohibited(&quoted_syn(
                            (host, port),
                            rng.cookie_port(),
                            rng.next_u32(),
                        ))
                    }
                };
                raw.flood(&forged);
            }
            (raw.sent as u64, replays)
        });
        // Stops the flood however the scan ends, a failed assertion included: the scope would
        // wait for the flooding thread forever.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let output = {
            let _stop = StopOnDrop(&stop);
            scan.finish()
        };
        (output, flooder.join().expect("the flooding thread"))
    });
    let (output, (sent, replays)) = flooded;
    let summary = Summary::parse(&output.stderr);
    eprintln!(
        "{summary:?}; the kernel took {sent} forged datagrams, about {replays} of them replays"
    );
    common::assert_exactly(
        common::parse_json_lines(&output.stdout),
        &lab_truth(config, &hosts, &ports),
    );
    // The flood was real: thousands of forgeries reached XDP and failed there, and the
    // replayed RST came back as duplicates, never as a second result.
    assert!(summary.bad_cookies >= 10_000, "{summary:?}");
    assert!(summary.duplicates >= 1_000, "{summary:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for warning in [
        "packets shaped like replies failed the cookie check, more than the probes sent",
        "duplicate replies, more than the probes sent",
    ] {
        assert!(
            stderr.contains(warning),
            "no warning {warning:?} in: {stderr}"
        );
    }
}
