//! Both send paths, AF_PACKET and AF_XDP, with one and with two queues (one sender thread
//! each): every frame handed over arrives, no more and no fewer. The target counts our frames
//! (UDP to a marker port) in an nftables netdev ingress chain on vt0 that also drops them, so
//! the target's stack never sees them. Prints frames/s per path; asserts no speed.
//!
//! `SEND_PATHS_FRAMES=N` changes how many frames each case sends (default 200000).

mod common;

use std::{
    ffi::CString,
    io,
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use scanner::send::{self, FrameSender, Opened, SendPath, Sender, XdpMode, XdpSender};
use scanner_tests::{Lab, LabConfig, lab::cmd};

/// The destination port the sink counts and drops.
const MARK_PORT: u16 = 4791;
const FRAME_LEN: usize = 60;
const IP_AT: usize = 14;
const UDP_AT: usize = IP_AT + 20;

/// One case at a time: parallel cases would share two CPUs and skew each other's rates.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn af_packet_one_queue_delivers_exactly_n() {
    send_exactly_n(SendPath::AfPacket, 1);
}

#[test]
fn af_packet_two_queues_deliver_exactly_n() {
    send_exactly_n(SendPath::AfPacket, 2);
}

#[test]
fn af_xdp_one_queue_delivers_exactly_n() {
    send_exactly_n(SendPath::AfXdp, 1);
}

#[test]
fn af_xdp_two_queues_deliver_exactly_n() {
    send_exactly_n(SendPath::AfXdp, 2);
}

#[test]
fn auto_picks_af_xdp_in_copy_mode_on_veth() {
    let _serial = serial();
    let Some(lab) = common::lab(quiet_config()) else {
        return;
    };
    let ifindex = scanner_ifindex(&lab);
    let opened = lab
        .in_scanner_ns(|| send::open(SendPath::Auto, ifindex, 0, &template()))
        .expect("opening the Auto sender");
    assert_eq!(opened.fallback, None);
    let Sender::AfXdp(xdp) = &opened.sender else {
        panic!("Auto chose {}", opened.sender.describe());
    };
    // veth has no zero-copy support: the kernel fell back to copy mode by itself.
    assert_eq!(xdp.mode(), XdpMode::Copy);
    assert_eq!(xdp.queue(), 0);
    assert_eq!(
        opened.sender.describe(),
        "AF_XDP copy mode, queue 0, batches of 256"
    );
    // The kernel frees a closed socket's queue a little later; opening it again still works.
    drop(opened);
    lab.in_scanner_ns(|| XdpSender::open(ifindex, 0, &template()))
        .expect("reopening queue 0 right after closing it");
}

#[test]
fn a_missing_queue_is_a_clear_error_and_auto_falls_back_to_af_packet() {
    let _serial = serial();
    let Some(lab) = common::lab(quiet_config()) else {
        return;
    };
    let ifindex = scanner_ifindex(&lab);
    let queues = lab.queues();
    let (missing, auto, busy) = lab.in_scanner_ns(|| {
        let missing = XdpSender::open(ifindex, queues, &template()).err();
        let auto = send::open(SendPath::Auto, ifindex, queues, &template());
        let first = XdpSender::open(ifindex, 0, &template());
        let busy = XdpSender::open(ifindex, 0, &template()).err();
        drop(first);
        (missing, auto, busy)
    });
    let missing = missing
        .expect("binding a queue the veth does not have")
        .to_string();
    assert!(
        missing.contains(Lab::SCANNER_IF)
            && missing.contains(&format!("has {queues} TX queue(s)"))
            && missing.contains(&format!("no queue {queues}")),
        "{missing}"
    );
    let auto = auto.expect("Auto falls back to AF_PACKET");
    assert_eq!(auto.sender.path(), SendPath::AfPacket);
    assert_eq!(auto.fallback.as_deref(), Some(missing.as_str()));
    let busy = busy.expect("a second socket on queue 0").to_string();
    assert!(busy.contains("another AF_XDP socket"), "{busy}");
}

/// Sends `frames()` frames through `queues` senders of `path`, one thread each, and checks the
/// target counted exactly that many.
fn send_exactly_n(path: SendPath, queues: u32) {
    let _serial = serial();
    let Some(lab) = common::lab(quiet_config()) else {
        return;
    };
    assert!(
        lab.queues() >= queues,
        "the lab's veth has {} queues",
        lab.queues()
    );
    install_sink(&lab);
    let ifindex = scanner_ifindex(&lab);
    let senders: Vec<Opened> = lab
        .in_scanner_ns(|| {
            (0..queues)
                .map(|queue| send::open(path, ifindex, queue, &template()))
                .collect::<io::Result<_>>()
        })
        .unwrap_or_else(|err| panic!("opening {path} senders: {err}"));
    let describe = senders[0].sender.describe();
    for opened in &senders {
        assert_eq!(opened.sender.path(), path, "{}", opened.sender.describe());
    }

    let total = frames();
    let before = sink_count(&lab);
    let started = Instant::now();
    thread::scope(|scope| {
        let threads: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(i, opened)| {
                let share =
                    total / u64::from(queues) + u64::from((i as u64) < total % u64::from(queues));
                let mut sender = opened.sender;
                scope.spawn(move || {
                    pin_to_cpu(i);
                    // Distinct frames per thread: thread i starts at i << 40.
                    blast(&mut sender, share, (i as u64) << 40)
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .expect("sender thread")
                .unwrap_or_else(|err| panic!("{path}: {err}"));
        }
    });
    let elapsed = started.elapsed();
    let counted = wait_for_count(&lab, before + total) - before;
    eprintln!(
        "{path}, {queues} queue(s)/thread(s) [first: {describe}]: {total} frames in {:.3} s \
         = {:.0}k frames/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64() / 1e3
    );
    assert_eq!(
        counted, total,
        "{path} with {queues} queue(s): the target counted {counted} of {total} frames"
    );
}

/// Sends `count` frames in batches of the sender's size, patching each slot as the engine does,
/// then waits until all have left.
fn blast(sender: &mut Sender, count: u64, first: u64) -> io::Result<()> {
    let batch = sender.max_batch() as u64;
    let mut next = first;
    let end = first + count;
    while next < end {
        let n = batch.min(end - next) as usize;
        for slot in 0..n {
            patch(sender.slot(slot), next);
            next += 1;
        }
        sender.send(n)?;
    }
    sender.flush()
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn frames() -> u64 {
    std::env::var("SEND_PATHS_FRAMES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000u64)
        .clamp(1, 50_000_000)
}

/// No listeners, no filters: nothing in the target answers or sends.
fn quiet_config() -> LabConfig {
    LabConfig {
        open_ports: vec![],
        dropped_ports: vec![],
        rejected_ports: vec![],
        ..LabConfig::default()
    }
}

/// UDP to 198.18.128.0:MARK_PORT from the scanner's address, 60 bytes on the wire (no FCS).
fn template() -> Vec<u8> {
    let mut frame = vec![0u8; FRAME_LEN];
    frame[0..6].copy_from_slice(&Lab::TARGET_MAC);
    frame[6..12].copy_from_slice(&Lab::SCANNER_MAC);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut frame[IP_AT..UDP_AT];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((FRAME_LEN - IP_AT) as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&Lab::SCANNER_IP.octets());
    ip[16..20].copy_from_slice(&Lab::TARGET_RANGE.0.octets());
    let udp = &mut frame[UDP_AT..];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&MARK_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&((FRAME_LEN - UDP_AT) as u16).to_be_bytes());
    // UDP checksum 0: none (allowed over IPv4).
    frame
}

/// Frame `i`: target 198.18.128.0/17 + (i mod 32768), source port from the rest, IP checksum.
fn patch(frame: &mut [u8], i: u64) {
    let target = u32::from(Lab::TARGET_RANGE.0) + (i & 0x7fff) as u32;
    frame[IP_AT + 16..IP_AT + 20].copy_from_slice(&target.to_be_bytes());
    let sport = 1024 + ((i >> 15) % 60000) as u16;
    frame[UDP_AT..UDP_AT + 2].copy_from_slice(&sport.to_be_bytes());
    frame[IP_AT + 10..IP_AT + 12].fill(0);
    let sum = frame[IP_AT..UDP_AT]
        .chunks(2)
        .map(|word| u32::from(u16::from_be_bytes([word[0], word[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    frame[IP_AT + 10..IP_AT + 12].copy_from_slice(&sum.to_be_bytes());
}

/// A counter and a drop rule for our frames in a netdev ingress chain on the target's veth.
fn install_sink(lab: &Lab) {
    let ruleset = format!(
        "table netdev scnsink {{\n\
         \tcounter probes {{ }}\n\
         \tchain ingress {{\n\
         \t\ttype filter hook ingress device \"{}\" priority -500; policy accept;\n\
         \t\tmeta protocol ip ip daddr {}/{} udp dport {MARK_PORT} counter name \"probes\" drop\n\
         \t}}\n\
         }}\n",
        Lab::TARGET_IF,
        Lab::TARGET_RANGE.0,
        Lab::TARGET_RANGE.1,
    );
    cmd::run(
        lab.command_in_target("nft").args(["-f", "-"]),
        Some(ruleset.as_bytes()),
        cmd::TIMEOUT,
    )
    .expect("installing the nft sink");
}

fn sink_count(lab: &Lab) -> u64 {
    let out = cmd::run(
        lab.command_in_target("nft")
            .args(["-j", "list", "counter", "netdev", "scnsink", "probes"]),
        None,
        cmd::TIMEOUT,
    )
    .expect("reading the nft sink's counter");
    let json: serde_json::Value = serde_json::from_str(&out).expect("nft -j output");
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|item| item["counter"]["packets"].as_u64())
        .unwrap_or_else(|| panic!("no packet count in {out}"))
}

/// The counter once it reaches `expected` (or stops short of it for good, after 2 s).
fn wait_for_count(lab: &Lab, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let count = sink_count(lab);
        if count >= expected || Instant::now() >= deadline {
            return count;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn scanner_ifindex(lab: &Lab) -> u32 {
    let name = CString::new(Lab::SCANNER_IF).unwrap();
    // SAFETY: a NUL-terminated name; if_nametoindex only reads it.
    let index = lab.in_scanner_ns(|| unsafe { libc::if_nametoindex(name.as_ptr()) });
    assert_ne!(index, 0, "no {} in {}", Lab::SCANNER_IF, lab.scanner_ns());
    index
}

/// Sender thread `i` on CPU `i` (mod the CPU count), as one sender per core would run.
fn pin_to_cpu(i: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it; sched_setaffinity
    // reads it for this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(i % cpus, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}
